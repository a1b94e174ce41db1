"""`/u/{user_id}`: the page and its script are served open, and hold no user data."""

from __future__ import annotations

import pytest

from app.core.settings import Settings
from tests.support.api import serve

pytestmark = pytest.mark.integration


async def test_the_page_is_served_without_a_key_and_reads_its_data_through_v1(
    isolated_settings: Settings,
) -> None:
    async with serve(isolated_settings) as anonymous:
        page = await anonymous.get("/u/alice")
        script = await anonymous.get("/u/assets/user.js")
        data = await anonymous.get("/v1/scores/alice")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="assets/user.js"' in page.text  # relative: /u/assets/user.js
    assert "alice" not in page.text  # the page holds no data: the script reads the address
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/v1/scores/" in script.text
    assert data.status_code == 401  # the data stays behind the key rules


@pytest.mark.parametrize("name", ["user.html", "nope.js", "user.js.map"])
async def test_only_the_page_script_is_an_asset(isolated_settings: Settings, name: str) -> None:
    async with serve(isolated_settings) as anonymous:
        response = await anonymous.get(f"/u/assets/{name}")
    assert response.status_code == 404


async def test_a_user_id_beyond_the_id_rules_is_a_422(isolated_settings: Settings) -> None:
    async with serve(isolated_settings) as anonymous:
        response = await anonymous.get("/u/" + "x" * 129)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list | str)
