"""JSON-lines logs (``log_format = "json"``) of a real gateway and site: every line is one JSON object,
the question's request id is in both, and neither the API key, nor the question, nor the text of the
passage that answered it appears anywhere in them. Also: ``metrics_bind`` serves ``/metrics`` without a
key on an address of its own, and both services send their spans to an OTLP/HTTP collector."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from api.gateway.keystore import KeyStore, Role
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.federation import SiteRegistry
from tests.api.conftest import GATEWAY_CONFIG, ingest_site, start_gateway, start_site
from tests.api.metrics_text import parse_samples
from tests.api.procs import Service, free_port, wait_healthy

pytestmark = pytest.mark.integration

PASSAGE = (
    "Torque the zirconium flange gasket ZQ-9913 to 47 Nm in the quokka pattern, then wait eleven minutes "
    "before the second pass."
)
QUESTION = "What torque does the zirconium flange gasket ZQ-9913 need?"


@dataclass
class JsonFederation:
    site: Service
    gateway: Service
    engineer_key: str
    metrics_url: str
    traces: list[bytes] = field(default_factory=list)
    """Bodies the services POSTed to the OTLP collector (protobuf: span names and attributes are plain text)."""


@contextmanager
def otlp_collector(bodies: list[bytes]) -> Iterator[str]:
    """A stand-in OTLP/HTTP collector on loopback that keeps every body; yields its traces URL."""

    class Collect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def json_federation(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[JsonFederation]:
    root = tmp_path_factory.mktemp("json-logs")
    data_dir = root / "data"
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "gasket-manual.md").write_text(f"# Flange manual\n\n## Gasket ZQ-9913\n{PASSAGE}\n")
    ingest_site(Settings(data_dir=data_dir), "west", packaged_embedder, corpus)
    home = root / "gateway"
    gateway_settings = GatewaySettings(home=home)
    KeyPair.generate().save(gateway_settings.keys_dir)
    traces: list[bytes] = []
    collector = ExitStack()
    tracing = f'[tracing]\nexporter = "otlp"\notlp_endpoint = "{collector.enter_context(otlp_collector(traces))}"\n'
    site_config = root / "site.toml"
    site_config.write_text('log_format = "json"\n' + tracing)
    site = start_site(root, data_dir, "west", gateway_settings.public_key_file, "--config", str(site_config))
    services = [site]
    try:
        SiteRegistry(gateway_settings.registry_path).register(
            "west", site.url, KeyPair.load(data_dir / "west" / "keys").public_key_text
        )
        metrics_port = free_port()
        config = root / "gateway.toml"
        top = f'log_format = "json"\nmetrics_bind = "127.0.0.1:{metrics_port}"\n'
        config.write_text(top + GATEWAY_CONFIG.format(home=home, deadline=30) + tracing)
        gateway = start_gateway(root, config)
        services.append(gateway)
        engineer_key = KeyStore(gateway_settings.database).create(Role.ENGINEER, None).key
        wait_healthy(services)
        yield JsonFederation(site, gateway, engineer_key, f"http://127.0.0.1:{metrics_port}/metrics", traces)
    finally:
        for service in services:
            service.stop()
        collector.close()


def _records(log: Path) -> list[dict[str, object]]:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{log.name}: not a JSON line: {line[:300]!r}")
    return records


def test_json_logs_name_the_request_and_hold_no_secret_or_passage(json_federation: JsonFederation) -> None:
    fed = json_federation
    response = httpx.post(
        f"{fed.gateway.url}/v1/query",
        json={"question": QUESTION, "k": 2},
        headers={"Authorization": f"Bearer {fed.engineer_key}"},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    assert "quokka pattern" in response.text, "the passage must have travelled, or the test proves nothing"
    request_id = response.headers["x-request-id"]
    time.sleep(1.0)  # let both processes write their last lines
    for service in (fed.gateway, fed.site):
        text = service.log.read_text(errors="replace")
        assert fed.engineer_key not in text and fed.engineer_key.split("_")[-1] not in text, service.name
        for secret in ("quokka", "ZQ-9913", "zirconium", QUESTION):
            assert secret not in text, f"{secret!r} found in the log of {service.name}"
        records = _records(service.log)
        assert {"ts", "level", "logger", "message"} <= set(records[-1])
        assert any(record.get("request_id") == request_id for record in records), service.name


def test_metrics_bind_serves_metrics_without_a_key(json_federation: JsonFederation) -> None:
    response = httpx.get(json_federation.metrics_url, timeout=30)
    assert response.status_code == 200
    samples = parse_samples(response.text)
    assert samples.get_value("ragfed_gateway_sites") == 1
    main_port = httpx.get(f"{json_federation.gateway.url}/metrics", timeout=30)
    assert main_port.status_code == 401, "the service's own port still asks for an operator key"


def test_spans_of_both_services_reach_the_otlp_collector(json_federation: JsonFederation) -> None:
    fed = json_federation
    response = httpx.post(
        f"{fed.gateway.url}/v1/query",
        json={"question": QUESTION, "k": 2, "want_answer": False},
        headers={"Authorization": f"Bearer {fed.engineer_key}"},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"].encode()
    wanted = [
        b"gateway.request",
        b"gateway.embed",
        b"gateway.route",
        b"gateway.site_call",
        b"site.query",
        b"site.search",
    ]
    deadline = time.monotonic() + 20  # the batch processor exports every 5 s
    while time.monotonic() < deadline:
        sent = b"".join(fed.traces)
        if all(name in sent for name in wanted) and sent.count(request_id) >= 2:
            break
        time.sleep(0.5)
    sent = b"".join(fed.traces)
    assert [name for name in wanted if name not in sent] == []
    assert sent.count(request_id) >= 2, "the gateway's and the site's spans both carry the request id"
    assert b"quokka" not in sent and QUESTION.encode() not in sent
