"""The metrics middleware in process: routes by template, status codes, the gateway's request id header."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.observability import RequestMetricsMiddleware, SiteMetrics
from api.observability.site_metrics import rejection_reason
from rag_fed.errors import EnvelopeError, ExpiredEnvelopeError, WrongRecipientError
from rag_fed.observability import current_request_id
from tests.api.metrics_text import parse_samples

pytestmark = pytest.mark.unit


def _app(issue_ids: bool) -> tuple[FastAPI, SiteMetrics]:
    metrics = SiteMetrics()  # any registry will do; two apps never share one
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str | None]:
        return {"thing": thing_id, "request_id": current_request_id()}

    app.add_middleware(RequestMetricsMiddleware, metrics=metrics.http, issue_request_ids=issue_ids)
    return app, metrics


def test_requests_are_counted_by_route_template_and_status() -> None:
    app, metrics = _app(issue_ids=False)
    client = TestClient(app)
    for thing in ("a", "b", "c"):
        assert client.get(f"/v1/things/{thing}").status_code == 200
    assert client.get("/nowhere").status_code == 404
    samples = parse_samples(_text(metrics))
    assert (
        samples.get_value("ragfed_http_requests_total", route="/v1/things/{thing_id}", method="GET", status="200") == 3
    )
    assert samples.get_value("ragfed_http_requests_total", route="other", method="GET", status="404") == 1
    assert "x-request-id" not in client.get("/v1/things/a").headers


def test_the_gateway_gives_each_request_a_new_id_in_a_header() -> None:
    client = TestClient(_app(issue_ids=True)[0])
    first = client.get("/v1/things/a", headers={"X-Request-Id": "chosen-by-client"})
    second = client.get("/v1/things/a")
    assert first.headers["x-request-id"] == first.json()["request_id"] != "chosen-by-client"
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def test_two_apps_keep_separate_registries() -> None:
    (one, one_metrics), (_two, two_metrics) = _app(False), _app(False)
    TestClient(one).get("/v1/things/a")
    assert "ragfed_http_requests_total{" in _text(one_metrics)
    assert "ragfed_http_requests_total{" not in _text(two_metrics)


def test_rejection_reasons() -> None:
    assert rejection_reason(ExpiredEnvelopeError("old")) == "expired"
    assert rejection_reason(WrongRecipientError("elsewhere")) == "wrong_site"
    assert rejection_reason(EnvelopeError("version 9")) == "malformed"


def _text(metrics: SiteMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()
