"""Serving the browser pages: each page's ``index.html`` at its URL and its files under ``/web/<page>/``,
with a strict Content-Security-Policy (scripts only from the app's own files, no inline script).

The pages are static and hold no secret: they call the existing JSON APIs with the API key the user
types (kept in the tab's ``sessionStorage``), so every role check stays where it is.

An app mounted under a prefix (a site of a site host, ``/sites/<id>``, whose requests arrive with that
``root_path``) serves its pages there: ``index.html`` names its files with the prefix, and the scripts
call the APIs relative to where they were loaded from.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["CONTENT_SECURITY_POLICY", "PAGE_HEADERS", "STATIC_DIR", "install_pages"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
COMMON = "common"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from another origin, no form posts (the pages send JSON by script,
so a page whose script failed cannot submit a key in a URL), never framed."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a new release's files are picked up at once
}


class _PageFiles(StaticFiles):
    """The files of one page folder at ``url`` (``/web/<folder>``), served with the pages' security headers."""

    def __init__(self, url: str, directory: Path) -> None:
        super().__init__(directory=directory)
        self._url = url

    def get_path(self, scope: Scope) -> str:
        # A site of a site host gets its requests with the prefix moved out of ``path`` into ``root_path``
        # (api/site_service/host.py), which Starlette's mounts do not expect: the file is what follows the
        # folder's URL.
        path = str(scope["path"])
        if path.startswith(self._url + "/"):
            return os.path.normpath(os.path.join(*path[len(self._url) :].split("/")))
        return super().get_path(scope)

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


def _page(folder: str) -> Callable[[Request], Coroutine[Any, Any, HTMLResponse]]:
    index = STATIC_DIR / folder / "index.html"

    async def page(request: Request) -> HTMLResponse:
        text = index.read_text(encoding="utf-8")
        root = str(request.scope.get("root_path", "")).rstrip("/")
        if root:  # the page's own files under the app's prefix (``/web/...`` would be the host's)
            text = text.replace('="/web/', f'="{html.escape(root, quote=True)}/web/')
        return HTMLResponse(text, headers=PAGE_HEADERS)

    return page


def install_pages(app: FastAPI, pages: Mapping[str, str]) -> None:
    """Serve each page folder of ``api/web/static`` at its URL (``{"/": "engineer"}``), with its files and
    the shared ones (``common``) under ``/web/<folder>/``. The routes are kept out of the OpenAPI schema."""
    for folder in sorted({COMMON, *pages.values()}):
        url = f"/web/{folder}"
        app.mount(url, _PageFiles(url, STATIC_DIR / folder), name=f"web-{folder}")
    router = APIRouter(include_in_schema=False)
    for url, folder in pages.items():
        router.add_api_route(url, _page(folder), methods=["GET"])
    app.include_router(router)
