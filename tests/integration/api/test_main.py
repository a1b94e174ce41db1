"""The app `create_api` builds, served in-process on the real stack: its documentation."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_openapi_docs_are_served(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert "/v1/scores/{user_id}/explain" in schema["paths"]
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
