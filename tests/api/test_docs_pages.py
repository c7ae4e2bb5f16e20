"""``/docs`` and ``/redoc`` load nothing from outside the app: their JavaScript, CSS and icon are served
by the gateway itself (a plant network has no CDN)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from api.gateway.app import build_service, create_gateway_app
from rag_fed.coordinator.settings import GatewaySettings

pytestmark = pytest.mark.unit

_URL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]?([^'")\s>]+)""")
_ABSOLUTE = re.compile(r"https?://[^\s'\"<>)]+")


async def _fetch_pages(home: Path) -> dict[str, httpx.Response]:
    app = create_gateway_app(build_service(GatewaySettings(home=home)))
    transport = httpx.ASGITransport(app=app)
    pages: dict[str, httpx.Response] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        for page in ("/docs", "/redoc", "/openapi.json"):
            pages[page] = await client.get(page)
        for page in ("/docs", "/redoc"):
            for asset in _URL.findall(pages[page].text):
                if asset.startswith("/") and asset not in pages:
                    pages[asset] = await client.get(asset)
    return pages


def test_docs_pages_reference_only_local_assets_and_those_are_served(tmp_path: Path) -> None:
    pages = asyncio.run(_fetch_pages(tmp_path / "gateway"))
    for page in ("/docs", "/redoc"):
        response = pages[page]
        assert response.status_code == 200
        assert _ABSOLUTE.findall(response.text) == [], f"{page} loads from outside the app"
    assert '"validatorUrl": null' in pages["/docs"].text, "Swagger UI's online validator badge calls out"
    assets = {path: response for path, response in pages.items() if path.startswith("/docs-assets/")}
    assert {path.rsplit("/", 1)[-1] for path in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "redoc.standalone.js",
        "favicon.png",
    }
    for path, response in assets.items():
        assert response.status_code == 200 and len(response.content) > 1000, path
    assert pages["/openapi.json"].status_code == 200
