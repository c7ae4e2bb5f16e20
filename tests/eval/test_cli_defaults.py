"""The evaluation composes answers with the gateway's own defaults (eval must not import the gateway)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.cli import ANSWER_PASSAGES, CONFIGS, run
from eval.site_systems import SystemSetup, TopPassageSystem
from rag_fed.cli.main import app
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings

pytestmark = pytest.mark.unit


def test_eval_answer_passages_equal_the_gateway_default_k() -> None:
    assert GatewaySettings().default_k == ANSWER_PASSAGES


def test_eval_run_defaults_are_the_gateway_answer_defaults() -> None:
    gateway = GatewaySettings()
    defaults = {name: parameter.default for name, parameter in inspect.signature(run).parameters.items()}
    assert defaults["strategy"] == gateway.answers.strategy == Settings().answers.strategy
    assert defaults["site_answers"] is gateway.site_answers is False
    setup = SystemSetup(settings=Settings(), embedder=None)  # type: ignore[arg-type]
    assert setup.site_answers is False and setup.answer_passages == ANSWER_PASSAGES


def test_top_passage_is_a_configuration(tmp_path: Path) -> None:
    setup = SystemSetup(settings=Settings(data_dir=tmp_path), embedder=None)  # type: ignore[arg-type]
    system = CONFIGS["top-passage"](setup)
    assert isinstance(system, TopPassageSystem) and system.name == "top-passage"


def test_an_unknown_strategy_is_refused_before_anything_loads(tmp_path: Path) -> None:
    arguments = ["eval", "run", "--dataset", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*arguments, "--strategy", "creative"])
    output = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 1, output
    assert "unknown answer strategy 'creative'; choose extractive, grounded or generative" in output
    assert not (tmp_path / "out").exists()
