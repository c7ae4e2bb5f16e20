"""``ragfed keys`` and ``ragfed federation``: keys are shown once and stored hashed; the registry follows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.apikeys import hash_key
from api.cli import service_commands
from api.gateway.keystore import KeyStore
from rag_fed.cli import federation_commands, train_commands
from rag_fed.config import get_settings
from rag_fed.crypto import KeyPair
from rag_fed.federation import SiteRegistry

pytestmark = pytest.mark.unit


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps table cells to the terminal width
    # The tests set RAGFED_DATA_DIR; settings read before (the gateway home defaults under it) are stale.
    get_settings.cache_clear()
    app = typer.Typer()
    service_commands.register(app)  # keys
    federation_commands.register(app)
    train_commands.register(app)  # federation remove-site (with unlearning) lives there
    yield app
    get_settings.cache_clear()


def _run(cli: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_create_list_revoke(cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "gateway"
    monkeypatch.setenv("RAGFED_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data" / "north").mkdir(parents=True)
    (tmp_path / "data" / "north" / "site.json").write_text("{}")
    output = _run(cli, "keys", "create", "--role", "site-admin", "--site", "north", "--home", str(home))
    key = output.strip().splitlines()[-1]
    caller = KeyStore(home / "gateway.db").authenticate(key)
    assert caller.role == "site-admin" and caller.site_id == "north"
    # The key reaches the site through the gateway's sealed key list (docs/security.md), never through the
    # site's own admin-keys file, where a revocation at the gateway would not reach it.
    assert not (tmp_path / "data" / "north" / "admin-keys.sha256").exists()
    assert "site north is not registered" in output
    with sqlite3.connect(home / "gateway.db") as db:
        stored = [row[0] for row in db.execute("SELECT key_sha256 FROM api_keys")]
    assert stored == [hash_key(key)] and key not in stored
    listing = _run(cli, "keys", "list", "--home", str(home))
    assert caller.key_id in listing and key not in listing
    _run(cli, "keys", "revoke", caller.key_id, "--home", str(home))
    with pytest.raises(Exception, match="invalid or revoked"):
        KeyStore(home / "gateway.db").authenticate(key)
    refused = CliRunner().invoke(cli, ["keys", "create", "--role", "admin", "--home", str(home)])
    assert refused.exit_code == 1 and "unknown role" in refused.output


def test_register_list_rotate_remove(cli: typer.Typer, tmp_path: Path) -> None:
    home = tmp_path / "gateway"
    first, second = KeyPair.generate(), KeyPair.generate()
    key_file = tmp_path / "public.key"
    key_file.write_text(first.public_key_text + "\n")
    _run(
        cli,
        "federation",
        "register-site",
        "north",
        "--url",
        "http://127.0.0.1:9001/",
        "--public-key",
        f"@{key_file}",
        "--home",
        str(home),
    )
    listing = _run(cli, "federation", "list", "--home", str(home))
    assert "north" in listing and first.fingerprint in listing
    _run(cli, "federation", "rotate-key", "north", "--public-key", second.public_key_text, "--home", str(home))
    registry = SiteRegistry(home / "registry.db")
    assert registry.get("north").public_key == second.public_key_text
    assert registry.get("north").url == "http://127.0.0.1:9001"
    _run(cli, "federation", "remove-site", "north", "--home", str(home))
    assert registry.list() == []
    again = CliRunner().invoke(cli, ["federation", "remove-site", "north", "--home", str(home)])
    assert again.exit_code == 1 and "no registered site" in again.output
