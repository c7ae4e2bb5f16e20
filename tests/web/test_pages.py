"""The pages' files and the routes they add, without a browser: every asset is local and served with the
Content-Security-Policy, no page runs inline script or writes HTML from data, feedback and the audit view
keep the role checks."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from api.gateway.app import build_service, create_gateway_app
from api.gateway.keystore import KeyStore, Role
from api.web.pages import CONTENT_SECURITY_POLICY, STATIC_DIR
from rag_fed.coordinator.settings import GatewaySettings

pytestmark = pytest.mark.unit

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_IMPORT = re.compile(r"""from\s+["']([^"']+)["']""")
_HTML_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function")


def _run(home: Path, requests: list[tuple[str, str, dict[str, object]]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        app = create_gateway_app(build_service(GatewaySettings(home=home)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return [await client.request(method, url, **options) for method, url, options in requests]  # type: ignore[arg-type]

    return asyncio.run(go())


def _keys(home: Path) -> dict[Role, str]:
    store = KeyStore(GatewaySettings(home=home).database)
    return {role: store.create(role, "plant-north" if role is Role.SITE_ADMIN else None).key for role in Role}


def _bearer(key: str) -> dict[str, object]:
    return {"headers": {"Authorization": f"Bearer {key}"}}


def test_gateway_pages_and_their_assets_are_local_and_served_with_the_policy(tmp_path: Path) -> None:
    home = tmp_path / "gateway"
    pages = _run(home, [("GET", "/", {}), ("GET", "/ops", {})])
    assets: set[str] = set()
    for page in pages:
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        refs = [ref for ref in _REFERENCE.findall(page.text) if ref != "data:,"]
        assert refs and all(ref.startswith("/web/") for ref in refs), refs
        assets.update(refs)
    for script in [a for a in assets if a.endswith(".js")]:
        text = (STATIC_DIR / script.removeprefix("/web/")).read_text()
        assets.update(_IMPORT.findall(text))
    served = _run(home, [("GET", asset, {}) for asset in sorted(assets)])
    for asset, response in zip(sorted(assets), served, strict=True):
        assert response.status_code == 200, asset
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, asset
    assert "/web/common/app.js" in assets
    assert _run(home, [("GET", "/web/common/../../pages.py", {})])[0].status_code == 404


@pytest.mark.parametrize("page", sorted(p.parent.name for p in STATIC_DIR.glob("*/index.html")))
def test_no_page_has_inline_script_or_style_or_an_outside_url(page: str) -> None:
    html = (STATIC_DIR / page / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/web/' in tag, tag
    assert all(not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=|<style", html), "inline style (the policy blocks it)"
    assert not re.search(r"https?://", html)


def test_scripts_never_write_html_from_data() -> None:
    scripts = sorted(STATIC_DIR.rglob("*.js"))
    assert len(scripts) >= 4
    for script in scripts:
        text = script.read_text()
        assert not _HTML_SINKS.search(text), f"{script.name} writes HTML"
        assert not re.search(r"https?://", text), f"{script.name} calls outside the app"
        assert "localStorage.setItem(KEY" not in text and "?key=" not in text


def test_feedback_is_for_engineers_and_leaves_an_audit_line(tmp_path: Path) -> None:
    home = tmp_path / "gateway"
    keys = _keys(home)
    good = {"conversation_id": "c-1", "target": "[plant-north:manuals/cv3.md#4 Belt tracking]", "useful": True}
    bad_target = {**good, "target": "<script>"}
    responses = _run(
        home,
        [
            ("POST", "/v1/feedback", {"json": good}),
            ("POST", "/v1/feedback", {"json": good, **_bearer(keys[Role.OPERATOR])}),
            ("POST", "/v1/feedback", {"json": good, **_bearer(keys[Role.EVALUATOR])}),
            ("POST", "/v1/feedback", {"json": good, **_bearer(keys[Role.SITE_ADMIN])}),
            ("POST", "/v1/feedback", {"json": bad_target, **_bearer(keys[Role.ENGINEER])}),
            ("POST", "/v1/feedback", {"json": good, **_bearer(keys[Role.ENGINEER])}),
            ("POST", "/v1/feedback", {"json": {**good, "target": "answer"}, **_bearer(keys[Role.ENGINEER])}),
        ],
    )
    assert [r.status_code for r in responses] == [401, 403, 403, 403, 400, 202, 202]
    assert "target must be" in responses[4].json()["error"]["message"]
    # Without the question there is nothing for the site to learn, so nothing is sent to it.
    assert responses[5].json() == {
        "recorded": True,
        "forwarded": False,
        "site_id": "plant-north",
        "reason": "no question was sent with it, so the site cannot learn from it",
    }
    entries = KeyStore(GatewaySettings(home=home).database).audit_log(10)
    feedback = [e for e in entries if e.endpoint == "/v1/feedback"]
    assert [(e.outcome, e.role, e.sites) for e in feedback[:2]] == [
        ("ok", "engineer", []),
        ("ok", "engineer", ["plant-north"]),
    ]


def test_the_audit_view_is_for_operators(tmp_path: Path) -> None:
    home = tmp_path / "gateway"
    keys = _keys(home)
    responses = _run(
        home,
        [
            ("GET", "/v1/audit", _bearer(keys[Role.ENGINEER])),
            ("GET", "/v1/audit", _bearer(keys[Role.SITE_ADMIN])),
            ("GET", "/v1/audit?limit=5", _bearer(keys[Role.OPERATOR])),
        ],
    )
    assert [r.status_code for r in responses] == [403, 403, 200]
    newest = responses[2].json()
    assert newest[0]["outcome"] == "denied" and newest[0]["role"] == "site-admin"
    assert {"at", "key_id", "role", "endpoint", "outcome", "question", "sites", "request_id"} == set(newest[0])
    assert newest[0]["request_id"] == responses[1].headers["x-request-id"], "the denied request's own id"
