"""API routes, one module per resource; `create_app` includes their routers."""
