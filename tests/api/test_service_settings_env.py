"""RAGFED_GATEWAY__* and RAGFED_SITE__* variables: over the TOML file, under explicit arguments, named when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.site_service.host_settings import SiteHostSettings
from api.site_service.settings import SiteServiceSettings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.errors import ConfigError

pytestmark = pytest.mark.unit


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_variable_overrides_the_gateway_file_and_a_flag_overrides_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path, f'default_k = 3\nmodel_id = "from-file"\nhome = "{tmp_path / "file-home"}"\n')
    monkeypatch.setenv("RAGFED_GATEWAY__DEFAULT_K", "7")
    monkeypatch.setenv("RAGFED_GATEWAY__HOME", str(tmp_path / "env-home"))
    loaded = GatewaySettings.load(config, home=tmp_path / "flag-home")
    assert loaded.default_k == 7  # environment over file
    assert loaded.model_id == "from-file"  # file where no variable is set
    assert loaded.home == tmp_path / "flag-home"  # explicit argument over environment
    assert GatewaySettings.load(config, home=None).home == tmp_path / "env-home"  # None: not given


def test_a_variable_overrides_the_site_file_and_a_flag_overrides_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path, 'site_id = "plant-a"\negress = "snippets"\nmax_upload_bytes = 1000\n')
    monkeypatch.setenv("RAGFED_SITE__EGRESS", "passages")
    loaded = SiteServiceSettings.load(config, egress=None)
    assert (loaded.site_id, loaded.egress, loaded.max_upload_bytes) == ("plant-a", "passages", 1000)
    assert SiteServiceSettings.load(config, egress="answer").egress == "answer"


def test_a_nested_variable_sets_one_key_of_a_table_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path, '[routing]\ndeadline_s = 5.0\nselection = "sketch"\n')
    monkeypatch.setenv("RAGFED_GATEWAY__ROUTING__DEADLINE_S", "2.5")
    monkeypatch.setenv("ragfed_gateway__answers__min_support", "0.3")  # names are case-insensitive
    loaded = GatewaySettings.load(config)
    assert loaded.routing.deadline_s == 2.5
    assert loaded.routing.selection == "sketch"
    assert loaded.answers.min_support == 0.3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAGFED_GATEWAY__DEFAULT_K", "many"),
        ("RAGFED_GATEWAY__ROUTING__DEADLINE_S", "-1"),
    ],
)
def test_a_bad_gateway_variable_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"invalid gateway settings \(from {variable}\)"):
        GatewaySettings.load(None)


def test_a_bad_site_variable_is_named_and_a_flag_replacing_it_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFED_SITE__EGRESS", "everything")
    with pytest.raises(ConfigError, match=r"invalid site service settings \(from RAGFED_SITE__EGRESS\)"):
        SiteServiceSettings.load(None, site_id="plant-a")
    assert SiteServiceSettings.load(None, site_id="plant-a", egress="answer").egress == "answer"


def test_a_table_is_given_whole_as_json_and_bad_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFED_SITE__REDACTION", '{"emails": false}')
    redaction = SiteServiceSettings.load(None, site_id="plant-a").redaction
    assert (redaction.emails, redaction.credentials) == (False, True)
    monkeypatch.setenv("RAGFED_SITE__REDACTION", "{emails")
    with pytest.raises(ConfigError, match=r"^RAGFED_SITE__REDACTION: "):
        SiteServiceSettings.load(None, site_id="plant-a")


def test_a_variable_naming_no_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFED_SITE__EGRES", "answer")
    with pytest.raises(ConfigError, match="RAGFED_SITE__EGRES: no such setting"):
        SiteServiceSettings.load(None, site_id="plant-a")


def test_a_file_error_still_names_the_file_and_a_file_value_is_not_blamed_on_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="cannot read gateway config"):
        GatewaySettings.load(tmp_path / "missing.toml")
    monkeypatch.setenv("RAGFED_GATEWAY__MODEL_ID", "fine")
    with pytest.raises(ConfigError, match=r"invalid gateway settings: ") as refused:
        GatewaySettings.load(_toml(tmp_path, "default_k = 0\n"))
    assert "RAGFED_" not in str(refused.value)


def test_site_variables_reach_every_site_of_a_host_under_its_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = '[[sites]]\nsite_id = "plant-a"\n[[sites]]\nsite_id = "plant-b"\negress = "answer"\n'
    config = _toml(tmp_path, 'egress = "snippets"\n' + tables)
    monkeypatch.setenv("RAGFED_SITE__EGRESS", "passages")
    monkeypatch.setenv("RAGFED_SITE__GATEWAY_PUBLIC_KEY", KeyPair.generate().public_key_text)
    host = SiteHostSettings.load(config, [], egress=None)
    assert {hosted.settings.site_id: hosted.settings.egress for hosted in host.sites} == {
        "plant-a": "passages",
        "plant-b": "answer",
    }
    monkeypatch.setenv("RAGFED_SITE__MAX_UPLOAD_BYTES", "0")
    with pytest.raises(ConfigError, match=r"invalid site host settings \(from RAGFED_SITE__MAX_UPLOAD_BYTES\)"):
        SiteHostSettings.load(config, [])
