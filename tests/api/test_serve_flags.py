"""``ragfed serve site|gateway`` declare no flags of their own: the services' ``__main__`` parsers do, once,
and the serve commands pass every argument on to them (issue 18, step 5)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from api.cli import service_commands

pytestmark = pytest.mark.unit


def _flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))


@pytest.mark.parametrize(
    ("command", "main_module", "own_flag"),
    [("site", "api.site_service.__main__", "--gateway-key"), ("gateway", "api.gateway.__main__", "--tls-ca")],
)
def test_serve_help_is_the_service_parsers_help(
    command: str, main_module: str, own_flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = typer.Typer()
    service_commands.register(app)
    result = CliRunner().invoke(app, ["serve", command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"usage: ragfed serve {command}"), result.output
    module = __import__(main_module, fromlist=["parse_args"])
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    assert _flags(result.output) == _flags(capsys.readouterr().out)
    # --log-level was missing from the Typer declarations when flags were declared twice
    assert {own_flag, "--port", "--host", "--tls-cert", "--tls-key", "--log-level"} <= _flags(result.output)


def test_serve_refuses_a_flag_the_service_does_not_declare() -> None:
    app = typer.Typer()
    service_commands.register(app)
    result = CliRunner().invoke(app, ["serve", "site", "--site", "north", "--no-such-flag"])
    assert result.exit_code == 2
    assert "unrecognized arguments: --no-such-flag" in result.output
