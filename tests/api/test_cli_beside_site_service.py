"""The site commands beside a running site service (a real process on loopback holding the store).

``search``, ``ask`` and ``docs list`` read the site while the service serves it (they used to fail with
"already open for writing by process N") and write nothing; ``ingest``, ``docs delete`` and ``index``
commands say exactly what to do instead, and what they say works: the admin API takes the upload and
the delete, and the CLI then reads the service's new state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from api.apikeys import issue_key
from api.site_service.settings import ADMIN_KEYS_FILE
from rag_fed.cli.main import app
from rag_fed.config import Settings, get_settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from tests.api.conftest import ingest_site, start_site
from tests.api.procs import Service, wait_healthy

pytestmark = pytest.mark.integration

SITE = "north"
PUMP = "# Slurry pump SP-150\n\n## Gland seal water\nSet the gland seal water 70 kPa above the discharge pressure.\n"
GEARBOX = "# Gearbox GX-400\n\n## Oil change\nDrain the gearbox oil every 4000 hours; refill with ISO VG 220.\n"


@dataclass
class ServedSite:
    data_dir: Path
    service: Service
    admin_key: str

    @property
    def store(self) -> Path:
        return self.data_dir / SITE / "store"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[ServedSite]:
    root = tmp_path_factory.mktemp("beside-service")
    data_dir, corpus = root / "data", root / "corpus"
    corpus.mkdir()
    (corpus / "pump.md").write_text(PUMP)
    ingest_site(Settings(data_dir=data_dir), SITE, packaged_embedder, corpus)
    admin = issue_key()
    (data_dir / SITE / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
    KeyPair.generate().save(root / "gateway" / "keys")
    service = start_site(root, data_dir, SITE, root / "gateway" / "keys" / "public.key")
    try:
        wait_healthy([service])
        yield ServedSite(data_dir, service, admin.key)
    finally:
        service.stop()


@pytest.fixture
def cli_env(served: ServedSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedSite]:
    monkeypatch.setenv("RAGFED_DATA_DIR", str(served.data_dir))
    monkeypatch.setenv("RAGFED_ANSWERS__STRATEGY", "extractive")  # the answer's wording is not under test
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield served
    get_settings.cache_clear()


def ragfed(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def store_files(store: Path) -> dict[str, str]:
    """Every file of the store but SQLite's WAL companions (which the running service writes)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(store.iterdir())
        if not path.name.endswith(("-wal", "-shm", ".sqlite3"))
    }


def test_reading_commands_work_beside_the_service_and_write_nothing(cli_env: ServedSite) -> None:
    before = store_files(cli_env.store)
    listing = ragfed("docs", "list", "--site", SITE)
    assert listing.exit_code == 0, listing.output
    assert "pump.md" in listing.output and "1 documents" in listing.output
    for mode in ("keyword", "dense", "hybrid"):
        found = ragfed("search", "gland seal water pressure", "--site", SITE, "--mode", mode, "-k", "1")
        assert found.exit_code == 0, found.output
        assert "[north:pump.md#Gland seal water]" in found.output
    answered = ragfed("ask", "How high must the gland seal water pressure be?", "--site", SITE)
    assert answered.exit_code == 0, answered.output
    assert "70 kPa" in answered.output
    assert store_files(cli_env.store) == before, "a reader wrote to the store"
    headers = {"Authorization": f"Bearer {cli_env.admin_key}"}
    status = httpx.get(f"{cli_env.service.url}/v1/admin/status", headers=headers, timeout=10).json()
    assert status["chunks"] >= 1


def test_writing_commands_say_what_to_do_and_what_they_say_works(cli_env: ServedSite, tmp_path: Path) -> None:
    pid = str(cli_env.service.process.pid)
    gearbox = tmp_path / "gearbox.md"
    gearbox.write_text(GEARBOX)
    refused = ragfed("ingest", str(gearbox), "--site", SITE)
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    assert f"open for writing by process {pid}" in message
    assert "POST /v1/admin/documents" in message and "ragfed keys create --role site-admin --site north" in message
    assert f"kill {pid}" in message and "run this command again" in message
    assert f"-F file=@{gearbox} {cli_env.service.url}/v1/admin/documents" in message

    # Doing what the message says: the upload goes through the service, and the CLI reads the result.
    headers = {"Authorization": f"Bearer {cli_env.admin_key}"}
    with gearbox.open("rb") as upload:
        response = httpx.post(
            f"{cli_env.service.url}/v1/admin/documents", headers=headers, files={"file": upload}, timeout=120
        )
    assert response.status_code == 201, response.text
    listing = ragfed("docs", "list", "--site", SITE, "--plain")
    assert listing.exit_code == 0 and "gearbox.md\tmanual" in listing.output, listing.output
    found = ragfed("search", "gearbox oil change interval", "--site", SITE, "-k", "1")
    assert found.exit_code == 0 and "[north:gearbox.md#Oil change]" in found.output, found.output

    refused = ragfed("docs", "delete", "gearbox.md", "--site", SITE)
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    assert (
        f"curl -X DELETE -H 'Authorization: Bearer <key>' {cli_env.service.url}/v1/admin/documents/gearbox.md"
        in message
    )
    response = httpx.delete(f"{cli_env.service.url}/v1/admin/documents/gearbox.md", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert "gearbox.md" not in ragfed("docs", "list", "--site", SITE, "--plain").output

    for command in (("index", "verify"), ("index", "rebuild")):
        refused = ragfed(*command, "--site", SITE)
        assert refused.exit_code == 1 and f"kill {pid}" in " ".join(refused.output.split()), refused.output
