"""Bounded fuzzing of every operation in the gateway's and the site service's OpenAPI schemas: whatever a
client sends, the answer is never a 5xx, and a refusal is a 4xx whose body names the reason.

Both apps run as real servers on loopback (uvicorn in a thread) with real keys: API keys of every role,
a site admin key, and sealed envelopes made with the gateway's key pair, so requests get past
authentication and the envelope checks to the validation behind them. Each operation gets two bounded
passes: requests that pass validation (a valid key, bodies that conform to the schema: they reach the
code behind it) and anything at all (bodies at and past their bounds, wrong types, bytes that are not
JSON, missing, wrong or wrong-role keys). The models are the packaged embedder and a canned generator
(the point is the HTTP edge, not the prose). Examples are derandomized: the same requests every run.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.apikeys import issue_key
from api.errors import install_error_handlers
from api.gateway.app import create_gateway_app
from api.gateway.keystore import KeyStore, Role
from api.gateway.service import GatewayService
from api.site_service.app import create_site_app
from api.site_service.open_site import open_responder
from api.site_service.settings import ADMIN_KEYS_FILE, SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.crypto.b64 import encode_b64
from rag_fed.embedders.base import Embedder
from rag_fed.errors import SiteBusyError
from rag_fed.federation import SiteRegistry
from rag_fed.generators.base import ChatMessage, StreamingGenerator
from rag_fed.protocol import ModelControl, SiteQuery, SiteReply
from tests.api.conftest import ingest_site
from tests.api.corpus import write_corpus
from tests.api.openapi_fuzz import Operation, any_json, encode, operations, repeated, valid_value_for, value_for
from tests.api.procs import free_port

pytestmark = pytest.mark.integration

# Per operation; RAGFED_FUZZ_SCALE=10 runs ten times as many (a deeper look before a release).
_SCALE = float(os.environ.get("RAGFED_FUZZ_SCALE", "1"))
VALID_EXAMPLES = round(25 * _SCALE)  # requests that pass validation
ANY_EXAMPLES = round(30 * _SCALE)  # anything
_STATS = os.environ.get("RAGFED_FUZZ_STATS")  # a file: one line per request (operation, status, body start)
_JUNK = st.sampled_from([b"", b"{", b"null", b"[]", b'{"a":', b"\xff\xfe\x00"]) | st.binary(max_size=64)


class CannedGenerator(StreamingGenerator):
    name = "canned"

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        yield from ("The pump ", "seal is replaced [1].")


@dataclass
class Target:
    url: str
    openapi: dict[str, Any]
    auth: dict[str, list[dict[str, str]]]  # operation name (or "admin", "default") -> header sets to draw from
    sealed: dict[str, tuple[st.SearchStrategy[bytes], st.SearchStrategy[bytes]]]  # path -> (valid, any) envelopes
    hints: dict[str, st.SearchStrategy[Any]]  # field name -> values that pass validation (see value_for)


@dataclass
class Fuzzed:
    gateway: Target
    site: Target
    gateway_home: Path
    data_dir: Path


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


_NO_KEYS: list[dict[str, str]] = [{}, {"Authorization": "Bearer rfk_nope"}, {"Authorization": "Basic eDp5"}]


def _sealed(
    model: type[SiteQuery] | type[ModelControl],
    gateway: KeyPair,
    site: KeyPair,
    hints: dict[str, st.SearchStrategy[Any]],
) -> tuple[st.SearchStrategy[bytes], st.SearchStrategy[bytes]]:
    """Envelopes sealed by the gateway to the site (they open): with payloads that conform to ``model``'s
    schema, and with any payload (of its shape, past its bounds, or bytes that are not JSON)."""
    schema = model.model_json_schema()
    components = schema.get("$defs", {})

    def sealed(payload: bytes) -> bytes:
        envelope = seal(
            payload, sender=gateway, sender_id="gateway", recipient_id="north", recipient_key=site.public_key
        )
        return envelope.to_bytes()

    valid = valid_value_for(schema, components, hints).map(encode).map(sealed)
    anything = st.one_of(value_for(schema, components, hints).map(encode), _JUNK).map(sealed)
    return valid, anything


def _embedding_text(size: int) -> str:
    vector = np.full(size, 1 / np.sqrt(size), dtype=np.float32)
    text: str = SiteQuery(question="q", embedding=vector, embedder_version="v").model_dump(mode="json")["embedding"]
    return text


_UPLOADS = st.sampled_from(
    [
        ("notes.md", "# Pump P-7\n\n## Seal\nReplace seal kit MS-9 when it drips more than 20 drops a minute.\n"),
        ("orders.csv", "wo_id,date,asset,description\nW-1,2024-01-02,P-7,seal leaking\n"),
        ("orders.jsonl", '{"wo_id": "W-2", "asset": "P-7", "description": "noisy bearing"}\n'),
        ("page.html", "<html><body><h1>Fan</h1><p>Check the belt tension monthly.</p></body></html>"),
        ("readme.txt", "Lubricate the chain weekly."),
    ]
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    core = Settings(data_dir=root / "data")
    ingest_site(core, "north", packaged_embedder, write_corpus(root, "north"))
    admin = issue_key()
    (core.data_dir / "north" / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
    gateway_settings = GatewaySettings.model_validate({"home": root / "gateway", "routing": {"deadline_s": 20}})
    gateway_keys = KeyPair.generate()
    gateway_keys.save(gateway_settings.keys_dir)
    site_keys = KeyPair.load(core.data_dir / "north" / "keys")
    site_settings = SiteServiceSettings(site_id="north", gateway_key_file=gateway_settings.public_key_file)
    responder = open_responder(site_settings, core, embedder=packaged_embedder, generator=CannedGenerator())
    with serve_in_thread(create_site_app(responder)) as site_url:
        registry = SiteRegistry(gateway_settings.registry_path)
        registry.register("north", site_url, site_keys.public_key_text)
        keystore = KeyStore(gateway_settings.database)
        keys = {role: keystore.create(role, "north" if role is Role.SITE_ADMIN else None).key for role in Role}
        service = GatewayService(
            gateway_settings,
            keys=gateway_keys,
            registry=registry,
            keystore=keystore,
            embedder=packaged_embedder,
            generator=CannedGenerator(),
        )
        with serve_in_thread(create_gateway_app(service)) as gateway_url:
            engineer, operator = _bearer(keys[Role.ENGINEER]), _bearer(keys[Role.OPERATOR])
            evaluator, site_admin = _bearer(keys[Role.EVALUATOR]), _bearer(keys[Role.SITE_ADMIN])
            gateway = Target(
                gateway_url,
                httpx.get(f"{gateway_url}/openapi.json").json(),
                {
                    "POST /v1/chat/completions": [engineer, evaluator, operator, *_NO_KEYS],
                    "POST /v1/query": [engineer, evaluator, operator, *_NO_KEYS],
                    "GET /v1/sites": [operator, site_admin, evaluator, *_NO_KEYS],
                    "default": [engineer, *_NO_KEYS],
                },
                {},
                {
                    "model": st.just(gateway_settings.model_id),
                    "role": st.sampled_from(["user", "user", "assistant", "system"]),
                    "sites": st.none() | st.lists(st.sampled_from(["north", "nowhere"]), max_size=2),
                },
            )
            site_hints = {
                "embedding": st.sampled_from([_embedding_text(packaged_embedder.dim), _embedding_text(3)]),
                "embedder_version": st.sampled_from([packaged_embedder.model_version, "other@1"]),
                "model_path": st.none() | st.sampled_from([str(root / "no-model"), "packaged"]),
            }
            admin_keys = [_bearer(admin.key), engineer, *_NO_KEYS]
            site = Target(
                site_url,
                httpx.get(f"{site_url}/openapi.json").json(),
                {"admin": admin_keys, "default": [{}]},
                {
                    "/v1/site/query": _sealed(SiteQuery, gateway_keys, site_keys, site_hints),
                    "/v1/site/model": _sealed(ModelControl, gateway_keys, site_keys, site_hints),
                },
                {},
            )
            yield Fuzzed(gateway, site, gateway_settings.home, core.data_dir)


def _headers_for(target: Target, operation: Operation) -> list[dict[str, str]]:
    """The header sets to draw from; the first holds the key the operation admits."""
    if "/admin/" in operation.path:
        return target.auth["admin"]
    return target.auth.get(operation.name, target.auth["default"])


def _json(content: st.SearchStrategy[bytes]) -> st.SearchStrategy[dict[str, Any]]:
    return content.map(lambda data: {"content": data, "headers": {"content-type": "application/json"}})


def _requests(target: Target, operation: Operation, *, valid: bool) -> st.SearchStrategy[dict[str, Any]]:
    components = target.openapi.get("components", {}).get("schemas", {})
    path = st.just(operation.path)
    for param in (p for p in operation.spec.get("parameters", []) if p.get("in") == "path"):
        value = st.text(min_size=1, max_size=40) | st.just("../../../etc/passwd") | repeated("x", 5000)
        path = st.builds(
            lambda p, v, name=param["name"]: p.replace(f"{{{name}}}", urllib.parse.quote(v, safe="")), path, value
        )
    choices = _headers_for(target, operation)
    headers = st.just(choices[0]) if valid else st.sampled_from(choices)
    body: st.SearchStrategy[dict[str, Any]] = st.just({})
    json_schema = operation.body_schema("application/json")
    multipart = operation.body_schema("multipart/form-data")
    if operation.path in target.sealed:
        good, anything = target.sealed[operation.path]
        unsealed = value_for(json_schema or {}, components).map(encode)
        body = _json(good) if valid else _json(st.one_of(good, anything, anything, _JUNK, unsealed))
    elif json_schema is not None:
        conforming = valid_value_for(json_schema, components, target.hints).map(encode)
        loose = value_for(json_schema, components, target.hints).map(encode)
        body = _json(conforming) if valid else _json(st.one_of(loose, _JUNK))
    elif multipart is not None:
        real = st.builds(
            lambda file, tail: {"files": {"file": (file[0], (file[1] + tail).encode("utf-8"))}},
            _UPLOADS,
            st.text(max_size=80),
        )
        name = st.text(max_size=40) | st.sampled_from(["notes.md", "log.csv", "a.pdf", "../../x.txt", ".json"])
        data = st.binary(max_size=400) | st.text(max_size=400).map(lambda text: text.encode("utf-8"))
        upload = st.builds(lambda n, d: {"files": {"file": (n, d)}}, name, data)
        wrong_field = st.builds(lambda d: {"files": {"other": ("a.txt", d)}}, data)
        not_multipart = any_json.map(lambda v: {"content": encode(v)})
        body = real if valid else st.one_of(real, upload, upload, wrong_field, not_multipart)
    return st.fixed_dictionaries({"path": path, "headers": headers, "body": body})


def _check(target: Target, operation: Operation, request: dict[str, Any]) -> None:
    headers = {**request["headers"], **request["body"].get("headers", {})}
    body = {key: value for key, value in request["body"].items() if key != "headers"}
    url = f"{target.url}{request['path']}"
    response = httpx.request(operation.method, url, headers=headers, timeout=60, **body)
    if _STATS:
        with open(_STATS, "a", encoding="utf-8") as stats:
            stats.write(f"{operation.name}\t{response.status_code}\t{response.text[:150]!r}\n")
    assert response.status_code < 500, f"{operation.name} -> {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"].strip(), response.text


def _fuzzer(target: Target, operation: Operation, *, valid: bool) -> Callable[[], None]:
    @settings(
        max_examples=VALID_EXAMPLES if valid else ANY_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(request=_requests(target, operation, valid=valid))
    def run(request: dict[str, Any]) -> None:
        _check(target, operation, request)

    return run


def _fuzz(target: Target) -> list[str]:
    names = []
    for operation in operations(target.openapi):
        _fuzzer(target, operation, valid=True)()
        _fuzzer(target, operation, valid=False)()
        names.append(operation.name)
    return names


def test_no_request_to_the_gateway_gets_a_5xx(fuzzed: Fuzzed) -> None:
    names = _fuzz(fuzzed.gateway)
    assert {"POST /v1/chat/completions", "POST /v1/query", "GET /v1/sites"} <= set(names)


def test_no_request_to_a_site_gets_a_5xx(fuzzed: Fuzzed) -> None:
    names = _fuzz(fuzzed.site)
    assert {"POST /v1/site/query", "POST /v1/admin/documents", "DELETE /v1/admin/documents/{doc_id}"} <= set(names)


def test_a_long_chat_message_is_a_400_naming_the_limit(fuzzed: Fuzzed) -> None:
    """It was a 500 ("internal error"), where /v1/query answered the same question with a 400."""
    url = fuzzed.gateway.url
    engineer = fuzzed.gateway.auth["default"][0]
    long = "the conveyor belt slips " * 1000
    for body, route in (
        ({"model": "rag-fed", "messages": [{"role": "user", "content": long}]}, "/v1/chat/completions"),
        ({"model": "rag-fed", "messages": [{"role": "user", "content": [{"type": "text", "text": long}]}]}, None),
        ({"question": long}, "/v1/query"),
    ):
        response = httpx.post(f"{url}{route or '/v1/chat/completions'}", json=body, headers=engineer, timeout=60)
        assert response.status_code == 400, response.text
        assert "at most 8000 characters" in response.json()["error"]["message"]


def test_the_openapi_documents_the_errors_the_servers_send(fuzzed: Fuzzed) -> None:
    """A validation error is sent as 400 (FastAPI documented 422), and 401/403/404 were undocumented."""
    for target in (fuzzed.gateway, fuzzed.site):
        assert '"422"' not in json.dumps(target.openapi), "validation errors are sent as 400"
        for operation in operations(target.openapi):
            documented = set(operation.spec["responses"])
            if operation.spec.get("security"):
                assert {"401", "403"} <= documented, operation.name
            if "{" in operation.path:
                assert "404" in documented, operation.name
            if operation.spec.get("parameters") or operation.spec.get("requestBody"):
                assert "400" in documented, operation.name
        schemas = target.openapi["components"]["schemas"]
        assert "ErrorBody" in schemas and "HTTPValidationError" not in schemas
    bad = httpx.get(f"{fuzzed.site.url}/v1/admin/search", headers=fuzzed.site.auth["admin"][0], timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "InputError", "what the document says"


def test_a_405_names_the_allowed_methods(fuzzed: Fuzzed) -> None:
    for url, allowed in (
        (f"{fuzzed.site.url}/v1/admin/documents", {"GET", "POST"}),
        (f"{fuzzed.gateway.url}/health", {"GET"}),
    ):
        response = httpx.put(url, timeout=30)
        assert response.status_code == 405, response.text
        assert set(response.headers["allow"].replace(" ", "").split(",")) - {"HEAD"} == allowed
        assert response.json()["error"]["type"] == "HTTPError"


def test_site_health_is_liveness_and_the_details_need_an_admin_key(fuzzed: Fuzzed) -> None:
    health = httpx.get(f"{fuzzed.site.url}/health", timeout=30).json()
    assert set(health) == {"status", "site_id", "embedder_version", "serving_version"}, health
    status_url = f"{fuzzed.site.url}/v1/admin/status"
    assert httpx.get(status_url, timeout=30).status_code == 401
    details = httpx.get(status_url, headers=fuzzed.site.auth["admin"][0], timeout=30).json()
    assert details["chunks"] > 0 and details["egress"] == "snippets" and details["accept_model_rollouts"] is True


def test_an_embedding_of_huge_finite_values_is_refused_with_a_clear_error(fuzzed: Fuzzed) -> None:
    """3e38 is a finite float32, but the site's scores overflowed to infinity and its sealed reply could not be
    opened by the gateway."""
    gateway_keys = KeyPair.load(fuzzed.gateway_home / "keys")
    site_keys = KeyPair.load(fuzzed.data_dir / "north" / "keys")
    version = httpx.get(f"{fuzzed.site.url}/health", timeout=30).json()["serving_version"]
    query = SiteQuery(question="seal?", embedding=np.full(384, 1.0, dtype=np.float32), embedder_version=version)
    payload = query.to_bytes().replace(
        query.model_dump(mode="json")["embedding"].encode(),
        encode_b64(np.full(384, 3e38, dtype="<f4").tobytes()).encode(),
    )
    sealed = seal(
        payload, sender=gateway_keys, sender_id="gateway", recipient_id="north", recipient_key=site_keys.public_key
    )
    response = httpx.post(f"{fuzzed.site.url}/v1/site/query", content=sealed.to_bytes(), timeout=60)
    assert response.status_code == 200, response.text
    opener = EnvelopeOpener(gateway_keys, "gateway", {"north": site_keys.public_key})
    reply = SiteReply.from_bytes(opener.open_bytes(response.content))  # the gateway can open it
    assert reply.status == "failed" and reply.error is not None and "embedding has norm 5.88e+39" in reply.error


def test_a_busy_site_answers_429_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise SiteBusyError("site north has 4 queries waiting for its model (limit 4); try again in 5 s", 5)

    response = TestClient(app).get("/busy")
    assert response.status_code == 429 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["type"] == "SiteBusyError"
