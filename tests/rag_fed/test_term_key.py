"""The federation term key survives a gateway restart: made once under the home, read back after
(issue 14). A restarted gateway that made a new key would make every site hash and publish again."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.gateway.home import init_home
from api.gateway.keystore import KeyStore
from api.gateway.service import GatewayService
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.errors import ConfigError
from rag_fed.federation import SiteRegistry
from rag_fed.term_stats import KEY_BYTES, load_or_create_term_key

pytestmark = pytest.mark.unit


def _start_gateway(settings: GatewaySettings) -> GatewayService:
    home = init_home(settings)
    registry = SiteRegistry(settings.registry_path)
    return GatewayService(settings, keys=home.keys, registry=registry, keystore=KeyStore(settings.database))


def _term_key(service: GatewayService) -> bytes:
    assert service.router.term_stats is not None
    return service.router.term_stats.federation.key


def test_a_gateway_restarted_on_the_same_home_keeps_its_term_key(tmp_path: Path) -> None:
    settings = GatewaySettings.model_validate({"home": tmp_path / "gateway"})
    first = _term_key(_start_gateway(settings))
    assert stat.S_IMODE(settings.term_key_file.stat().st_mode) == 0o600
    assert _term_key(_start_gateway(settings)) == first
    other = GatewaySettings.model_validate({"home": tmp_path / "other"})
    assert _term_key(_start_gateway(other)) != first


def test_deleting_the_key_file_rotates_the_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway" / "term_stats.key"
    first = load_or_create_term_key(path)
    assert len(first) == KEY_BYTES
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_term_key(path) == first
    path.unlink()
    assert load_or_create_term_key(path) != first


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "term_stats.key"
    path.write_text("not hex\n")
    with pytest.raises(ConfigError, match=r"damaged.*delete it and restart"):
        load_or_create_term_key(path)
    path.write_text("ab" * (KEY_BYTES - 1) + "\n")
    with pytest.raises(ConfigError, match="damaged"):
        load_or_create_term_key(path)


def test_no_key_file_when_term_statistics_are_off(tmp_path: Path) -> None:
    settings = GatewaySettings.model_validate({"home": tmp_path / "gateway", "routing": {"term_stats": False}})
    assert _start_gateway(settings).router.term_stats is None
    assert not settings.term_key_file.exists()
