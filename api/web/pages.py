"""Serving the browser pages: each page's ``index.html`` at its URL and its files under ``/web/<page>/``,
with a strict Content-Security-Policy (scripts only from the app's own files, no inline script).

The pages are static and hold no secret: they call the existing JSON APIs with the API key the user
types (kept in the tab's ``sessionStorage``), so every role check stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
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
    """The files of one page folder, served with the pages' security headers."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


def _page(folder: str) -> Callable[[], Coroutine[Any, Any, FileResponse]]:
    index = STATIC_DIR / folder / "index.html"

    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    return page


def install_pages(app: FastAPI, pages: Mapping[str, str]) -> None:
    """Serve each page folder of ``api/web/static`` at its URL (``{"/": "engineer"}``), with its files and
    the shared ones (``common``) under ``/web/<folder>/``. The routes are kept out of the OpenAPI schema."""
    for folder in sorted({COMMON, *pages.values()}):
        app.mount(f"/web/{folder}", _PageFiles(directory=STATIC_DIR / folder), name=f"web-{folder}")
    router = APIRouter(include_in_schema=False)
    for url, folder in pages.items():
        router.add_api_route(url, _page(folder), methods=["GET"])
    app.include_router(router)
