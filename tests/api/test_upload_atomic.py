"""An admin upload is one unit: a site killed in the middle of one serves none of it, never part of it; and
all documents of one file go with one delete by source. A real site service on loopback, SIGKILLed."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.apikeys import issue_key
from api.site_service.settings import ADMIN_KEYS_FILE
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from tests.api.conftest import ingest_site
from tests.api.procs import Service, free_port, service_env, start_service, wait_healthy

pytestmark = pytest.mark.integration

ROWS = 3000


def _work_orders(rows: int) -> bytes:
    lines = ["wo_id,date,asset,description"]
    lines += [
        f"W-{i},2024-03-{1 + i % 28:02d},P-{i % 40},pump {i % 40} seal leaking at gland, repacked" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _committed(docstore: Path, source: str) -> int:
    with sqlite3.connect(f"{docstore.as_uri()}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM documents WHERE source = ?", (source,)).fetchone()[0])


def test_an_upload_killed_midway_leaves_nothing_served_and_a_source_deletes_whole(
    tmp_path: Path, packaged_embedder: Embedder
) -> None:
    data_dir = tmp_path / "data"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pump.md").write_text("# Pump P-1\n\n## Seal\nReplace the seal kit when it drips.\n")
    ingest_site(Settings(data_dir=data_dir), "atomic", packaged_embedder, corpus)
    admin = issue_key()
    (data_dir / "atomic" / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
    gateway = KeyPair.generate()
    gateway.save(tmp_path / "gateway" / "keys")

    def start() -> Service:
        port = free_port()
        args = ["api.site_service", "--site", "atomic", "--port", str(port), "--data-dir", str(data_dir)]
        args += ["--gateway-key", str(tmp_path / "gateway" / "keys" / "public.key")]
        env = service_env(RAGFED_INGEST__BATCH_CHUNKS="64")  # many batches per upload, were it cut in batches
        service = start_service("site-atomic", args, port, tmp_path, env)
        wait_healthy([service])
        return service

    headers = {"Authorization": f"Bearer {admin.key}"}
    upload = {"file": ("orders.csv", _work_orders(ROWS))}
    source = "upload:orders.csv"
    docstore = data_dir / "atomic" / "store" / "docstore.sqlite3"
    service = start()
    try:
        outcome: list[object] = []

        def send() -> None:
            try:
                outcome.append(
                    httpx.post(f"{service.url}/v1/admin/documents", headers=headers, files=upload, timeout=300)
                )
            except httpx.HTTPError as error:
                outcome.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        started = time.monotonic()
        while _committed(docstore, source) == 0 and time.monotonic() - started < 4.0 and not outcome:
            time.sleep(0.05)
        seen = _committed(docstore, source)
        service.process.send_signal(signal.SIGKILL)
        sender.join(60)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), f"the upload finished before the kill: {outcome}"
        assert seen == 0, f"{seen} of {ROWS} records of an unfinished upload were committed (and served)"
        service.stop()

        service = start()
        listed = httpx.get(f"{service.url}/v1/admin/documents", headers=headers, timeout=60).json()
        assert not [d for d in listed if d["source"] == source], "a killed upload left records behind"
        done = httpx.post(f"{service.url}/v1/admin/documents", headers=headers, files=upload, timeout=600)
        assert done.status_code == 201 and done.json()["documents"] == ROWS, done.text
        gone = httpx.delete(f"{service.url}/v1/admin/sources/{source}", headers=headers, timeout=120)
        assert gone.status_code == 200 and gone.json() == {"source": source, "documents": ROWS, "chunks_removed": ROWS}
        listed = httpx.get(f"{service.url}/v1/admin/documents", headers=headers, timeout=60).json()
        assert [d["doc_id"] for d in listed] == ["pump.md"]
        again = httpx.delete(f"{service.url}/v1/admin/sources/{source}", headers=headers, timeout=60)
        assert again.status_code == 404 and again.json()["error"]["type"] == "UnknownDocumentError"
    finally:
        service.stop()
