"""The read-only HTTP API for services: routes mirror the Python read client (app.store)."""

from app.api.main import create_api

__all__ = ["create_api"]
