"""Site-admin keys issued at the gateway reach the sites, revocation included, and every admin call is
audited at the site (docs/security.md). Real site services and a real gateway on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from api.apikeys import issue_key
from api.gateway.admin_keys import AdminKeyDistributor
from api.gateway.keystore import KeyStore, Role
from api.site_service.settings import ADMIN_KEYS_FILE
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair, seal
from rag_fed.embedders.base import Embedder
from rag_fed.federation import SiteRegistry
from rag_fed.protocol import ModelControl, SiteQuery
from rag_fed.router.clients import MODEL_PATH, QUERY_PATH
from tests.api.conftest import Federation, ingest_site, start_site
from tests.api.procs import REPO, Service, service_env, wait_healthy

pytestmark = pytest.mark.integration

MANUAL = b"# Crusher C-9\n\n## Liner\nReplace the crusher liner when it is worn to 20 mm.\n"


def _cli(*args: str, data_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from rag_fed.cli.main import app; app(prog_name='ragfed')", *args],
        cwd=REPO,
        env=service_env(RAGFED_DATA_DIR=str(data_dir), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _upload(url: str, key: str, name: str = "crusher.md") -> httpx.Response:
    return httpx.post(f"{url}/v1/admin/documents", headers=_bearer(key), files={"file": (name, MANUAL)}, timeout=120)


def _wait_for(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``check()`` holds; fails after ``timeout_s``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.25)
    return time.monotonic() - start


def test_a_key_revoked_with_the_cli_is_refused_by_the_site_at_once_and_every_call_is_audited(
    federation: Federation,
) -> None:
    east = federation.sites["east"].url
    home = str(federation.gateway_home)
    created = _cli(
        "keys", "create", "--role", "site-admin", "--site", "east", "--home", home, data_dir=federation.data_dir
    )
    key = created.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert "site east now holds" in created, created
    assert _upload(east, key).status_code == 201, "a key made at the gateway works at its site at once"

    revoked = _cli("keys", "revoke", key_id, "--home", home, data_dir=federation.data_dir)
    assert "site east now holds" in revoked, revoked
    refused_upload = _upload(east, key, "crusher-2.md")
    refused_delete = httpx.delete(f"{east}/v1/admin/documents/crusher.md", headers=_bearer(key), timeout=60)
    assert (refused_upload.status_code, refused_delete.status_code) == (401, 401), (
        refused_upload.text,
        refused_delete.text,
    )
    assert key_id not in (federation.data_dir / "east" / ADMIN_KEYS_FILE).read_text()

    site_admin = _bearer(federation.admin_keys["east"])  # the site's own key (its admin-keys file)
    assert httpx.delete(f"{east}/v1/admin/documents/crusher.md", headers=site_admin, timeout=60).status_code == 200
    audit = httpx.get(f"{east}/v1/admin/audit", headers=site_admin, params={"limit": 10}, timeout=30).json()
    mine = [(e["method"], e["status"], e["authenticated"]) for e in audit if e["key_id"] == key_id]
    assert mine == [("DELETE", 401, False), ("POST", 401, False), ("POST", 201, True)], audit
    uploaded = next(e for e in audit if e["key_id"] == key_id and e["status"] == 201)
    assert "upload crusher.md" in uploaded["detail"] and "1 documents" in uploaded["detail"], uploaded
    deleted = audit[1] if audit[0]["path"] == "/v1/admin/audit" else audit[0]
    assert deleted["method"] == "DELETE" and deleted["status"] == 200 and "chunks removed" in deleted["detail"]


def test_the_gateway_sends_new_and_revoked_keys_within_its_push_period(federation: Federation) -> None:
    south = federation.sites["south"].url
    issued = federation.keystore.create(Role.SITE_ADMIN, "south", "no CLI, no push")  # only the gateway tells

    def accepted() -> bool:
        return httpx.get(f"{south}/v1/admin/documents", headers=_bearer(issued.key), timeout=30).status_code == 200

    created_in = _wait_for(accepted, timeout_s=15)  # admin_keys_push_s = 10 by default
    federation.keystore.revoke(issued.key_id)
    revoked_in = _wait_for(lambda: not accepted(), timeout_s=15)
    print(f"new key honoured after {created_in:.1f} s, revoked key refused after {revoked_in:.1f} s")


@dataclass
class LoneSite:
    """A site whose gateway is the test: it has no running gateway pushing key lists to it."""

    service: Service
    site_keys: KeyPair
    gateway_keys: KeyPair
    distributor: AdminKeyDistributor
    keystore: KeyStore
    local_key: str
    start: Callable[[], Service]

    def restart(self) -> None:
        self.service.stop()
        self.service = self.start()
        wait_healthy([self.service])


@pytest.fixture(scope="module")
def lone_site(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[LoneSite]:
    root = tmp_path_factory.mktemp("lone")
    data_dir = root / "data"
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "hoist.md").write_text("# Hoist H-2\n\n## Brake\nAdjust the brake gap to 0.4 mm.\n")
    ingest_site(Settings(data_dir=data_dir), "lone", packaged_embedder, corpus)
    local = issue_key()
    (data_dir / "lone" / ADMIN_KEYS_FILE).write_text(f"{local.key_id} {local.key_hash}\n")
    gateway_keys = KeyPair.generate()
    gateway_keys.save(root / "gateway" / "keys")
    config = root / "lone.toml"
    config.write_text("admin_keys_max_age_s = 3\n")

    def start() -> Service:
        return start_site(root, data_dir, "lone", root / "gateway" / "keys" / "public.key", "--config", str(config))

    site_keys = KeyPair.load(data_dir / "lone" / "keys")
    registry = SiteRegistry(root / "gateway" / "registry.db")
    keystore = KeyStore(root / "gateway" / "gateway.db")
    distributor = AdminKeyDistributor(keystore, registry, gateway_keys)
    lone = LoneSite(start(), site_keys, gateway_keys, distributor, keystore, local.key, start)
    try:
        wait_healthy([lone.service])
        registry.register("lone", lone.service.url, site_keys.public_key_text)
        yield lone
    finally:
        lone.service.stop()


def test_a_site_the_gateway_stops_reaching_refuses_gateway_keys_after_max_age(lone_site: LoneSite) -> None:
    url = lone_site.service.url
    issued = lone_site.keystore.create(Role.SITE_ADMIN, "lone")
    [result] = lone_site.distributor.push()
    assert result.ok and result.keys == 1, result

    def documents(key: str) -> httpx.Response:
        return httpx.get(f"{url}/v1/admin/documents", headers=_bearer(key), timeout=30)

    assert documents(issued.key).status_code == 200
    time.sleep(3.5)  # admin_keys_max_age_s = 3 in the site's config, and nobody sends a new list
    stale = documents(issued.key)
    assert stale.status_code == 401 and "(limit 3 s)" in stale.json()["error"]["message"], stale.text
    assert documents(lone_site.local_key).status_code == 200, "the site's own keys do not depend on the gateway"
    lone_site.distributor.push()
    assert documents(issued.key).status_code == 200, "a fresh list restores it"


def test_an_envelope_answered_before_a_restart_is_refused_after_it(lone_site: LoneSite) -> None:
    version = httpx.get(f"{lone_site.service.url}/health", timeout=10).json()["serving_version"]
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    query = SiteQuery(question="brake gap?", embedding=vector, k=2, embedder_version=version, want_answer=False)
    messages = {QUERY_PATH: query.to_bytes(), MODEL_PATH: ModelControl(action="rollback").to_bytes()}
    sealed = {
        path: seal(
            payload,
            sender=lone_site.gateway_keys,
            sender_id="gateway",
            recipient_id="lone",
            recipient_key=lone_site.site_keys.public_key,
        ).to_bytes()
        for path, payload in messages.items()
    }
    for path, body in sealed.items():
        assert httpx.post(f"{lone_site.service.url}{path}", content=body, timeout=60).status_code == 200
    lone_site.restart()  # well within the envelopes' 60 s
    for path, body in sealed.items():
        replayed = httpx.post(f"{lone_site.service.url}{path}", content=body, timeout=60)
        assert replayed.status_code == 409, (path, replayed.text)
        assert replayed.json()["error"]["type"] == "ReplayedEnvelopeError"
    fresh = seal(
        query.to_bytes(),
        sender=lone_site.gateway_keys,
        sender_id="gateway",
        recipient_id="lone",
        recipient_key=lone_site.site_keys.public_key,
    ).to_bytes()
    assert httpx.post(f"{lone_site.service.url}{QUERY_PATH}", content=fresh, timeout=60).status_code == 200
