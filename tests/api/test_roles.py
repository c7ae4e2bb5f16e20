"""Every role's key against every gateway endpoint: only the allowed calls succeed."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Federation

pytestmark = pytest.mark.integration

ROLES = ("engineer", "evaluator", "operator", "site-admin")
CHAT = {
    "model": "rag-fed",
    "messages": [{"role": "user", "content": "compressor cut-in pressure"}],
    "max_tokens": 4,
    "rag_fed": {"sites": ["east"], "k": 1},
}
QUERY = {"question": "compressor cut-in pressure", "want_answer": False, "k": 2}
ENDPOINTS: dict[str, tuple[str, str, dict[str, object] | None, set[str]]] = {
    "models": ("GET", "/v1/models", None, set(ROLES)),
    "chat": ("POST", "/v1/chat/completions", CHAT, {"engineer", "evaluator"}),
    "query": ("POST", "/v1/query", QUERY, {"engineer", "evaluator"}),
    "sites": ("GET", "/v1/sites", None, {"operator", "site-admin"}),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_roles_matrix(federation: Federation, endpoint: str) -> None:
    method, path, body, allowed = ENDPOINTS[endpoint]
    url = f"{federation.gateway.url}{path}"
    for role in ROLES:
        headers = {"Authorization": f"Bearer {federation.api_keys[role]}"}
        response = httpx.request(method, url, json=body, headers=headers, timeout=180)
        if role in allowed:
            assert response.status_code == 200, (role, endpoint, response.text)
        else:
            assert response.status_code == 403, (role, endpoint, response.text)
            assert response.json()["error"]["type"] == "ForbiddenError"
    missing = httpx.request(method, url, json=body, timeout=30)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, url, json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "AuthError"


def test_site_admin_sees_only_its_site_and_operator_sees_all(federation: Federation) -> None:
    def sites(role: str) -> dict[str, dict[str, object]]:
        headers = {"Authorization": f"Bearer {federation.api_keys[role]}"}
        response = httpx.get(f"{federation.gateway.url}/v1/sites", headers=headers, timeout=60)
        return {site["site_id"]: site for site in response.json()}

    assert set(sites("site-admin")) == {"north"}
    everything = sites("operator")
    assert {"north", "south", "east"} <= set(everything)
    assert all(everything[s]["healthy"] and everything[s]["circuit"] == "closed" for s in ("north", "south", "east"))


def test_refusals_are_audited(federation: Federation) -> None:
    headers = {"Authorization": f"Bearer {federation.api_keys['operator']}"}
    assert httpx.post(f"{federation.gateway.url}/v1/query", json=QUERY, headers=headers).status_code == 403
    entry = federation.keystore.audit_log(limit=1)[0]
    assert (entry.role, entry.endpoint, entry.outcome) == ("operator", "/v1/query", "denied")
