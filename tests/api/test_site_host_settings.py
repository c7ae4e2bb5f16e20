"""A site host's settings: shared values under each site's own, and the mistakes refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.site_service.host_settings import SiteHostSettings
from rag_fed.crypto import KeyPair
from rag_fed.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.fixture()
def gateway_key(tmp_path: Path) -> str:
    return KeyPair.generate().public_key_text


def test_a_site_table_overrides_the_shared_settings(tmp_path: Path, gateway_key: str) -> None:
    config = tmp_path / "host.toml"
    config.write_text(
        f'gateway_public_key = "{gateway_key}"\negress = "answer"\nlog_format = "json"\n'
        f'[[sites]]\nsite_id = "plant-a"\negress = "passages"\ndata_dir = "{tmp_path / "a"}"\n'
        '[[sites]]\nsite_id = "plant-b"\nmetrics_bind = "127.0.0.1:9470"\n'
    )
    host = SiteHostSettings.load(config, ["plant-c"], egress=None)
    sites = {hosted.settings.site_id: hosted for hosted in host.sites}
    assert list(sites) == ["plant-a", "plant-b", "plant-c"]
    assert {sid: hosted.settings.egress for sid, hosted in sites.items()} == {
        "plant-a": "passages",
        "plant-b": "answer",
        "plant-c": "answer",
    }
    assert sites["plant-a"].data_dir == tmp_path / "a" and sites["plant-b"].data_dir is None
    assert sites["plant-b"].settings.metrics_bind == "127.0.0.1:9470" and sites["plant-a"].settings.metrics_bind is None
    assert host.log_format == "json"


def test_flags_alone_make_a_host(gateway_key: str) -> None:
    host = SiteHostSettings.load(None, ["a", "b"], gateway_public_key=gateway_key, egress="snippets")
    assert [(s.settings.site_id, s.settings.egress) for s in host.sites] == [("a", "snippets"), ("b", "snippets")]


@pytest.mark.parametrize(
    ("site_ids", "shared", "message"),
    [
        (["a", "a"], {}, "repeated: a"),
        ([], {}, "at least one site"),
        (["a", "b"], {"metrics_bind": "127.0.0.1:9470"}, "[[sites]] table"),
        (["Not An Id"], {}, "invalid site host settings"),
    ],
)
def test_mistakes_are_refused_with_a_reason(
    gateway_key: str, site_ids: list[str], shared: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SiteHostSettings.load(None, site_ids, gateway_public_key=gateway_key, **shared)
