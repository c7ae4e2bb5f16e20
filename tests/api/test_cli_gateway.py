"""``ragfed gateway init`` makes the gateway's home and key pair before anything is served, under
RAGFED_DATA_DIR by default, and says where the public key is; a site service without the gateway's key
says how to get it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli import gateway_commands, service_commands
from api.site_service.settings import SiteServiceSettings
from rag_fed.config import get_settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RAGFED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "40")  # a narrow terminal must not break paths and keys across lines
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    gateway_commands.register(app)
    service_commands.register(app)
    return app


def test_gateway_home_defaults_under_the_data_dir(data_dir: Path) -> None:
    assert GatewaySettings().home == data_dir / "gateway"


def test_gateway_init_makes_the_key_pair_and_prints_where_it_is(cli: typer.Typer, data_dir: Path) -> None:
    first = CliRunner().invoke(cli, ["gateway", "init"])
    assert first.exit_code == 0, first.output
    key_file = (data_dir / "gateway" / "keys" / "public.key").resolve()
    keys = KeyPair.load(data_dir / "gateway" / "keys")
    assert f"gateway public key file: {key_file}" in first.output
    assert keys.public_key_text in first.output and "created" in first.output
    assert f"--gateway-key {key_file}" in first.output
    assert (data_dir / "gateway" / "gateway.db").exists() and (data_dir / "gateway" / "registry.db").exists()
    # Again: the key pair is kept (the sites already trust it).
    again = CliRunner().invoke(cli, ["gateway", "init"])
    assert again.exit_code == 0 and "key pair kept" in again.output
    assert KeyPair.load(data_dir / "gateway" / "keys").public_key_text == keys.public_key_text
    # A key made now works with the home init made: the order the walkthrough follows.
    made = CliRunner().invoke(cli, ["keys", "create", "--role", "engineer"])
    assert made.exit_code == 0 and made.output.strip().splitlines()[-1].startswith("rfk_")


def test_gateway_init_with_an_explicit_home(cli: typer.Typer, data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["gateway", "init", "--home", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "elsewhere" / "keys" / "public.key").exists()
    assert not (data_dir / "gateway").exists()


def test_a_site_without_the_gateway_key_is_told_how_to_get_it() -> None:
    with pytest.raises(ConfigError, match=r"ragfed gateway init.*keys/public\.key"):
        SiteServiceSettings(site_id="north").gateway_key()


def test_the_demo_runs_on_the_deadline_an_operator_gets(tmp_path: Path) -> None:
    """The demo used to write deadline_s = 90 into its config, which hid a default too short for sites."""
    import tomllib

    from api.cli.demo import _GATEWAY_CONFIG

    demo = GatewaySettings.model_validate(tomllib.loads(_GATEWAY_CONFIG.format(home=tmp_path)))
    assert demo.routing == GatewaySettings().routing
    assert demo.routing.deadline_s == 15.0  # measured, docs/architecture.md ("One deadline per query")
