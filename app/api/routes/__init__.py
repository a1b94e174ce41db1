"""API routes, one module per resource; `create_api` includes their routers."""
