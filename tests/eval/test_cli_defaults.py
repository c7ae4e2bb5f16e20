"""The evaluation fuses answers with the gateway's own defaults (eval must not import the gateway)."""

from __future__ import annotations

import pytest

from api.gateway.settings import GatewaySettings
from eval.cli import CENTRAL_MAX_TOKENS, FUSION_PASSAGES

pytestmark = pytest.mark.unit


def test_eval_fusion_defaults_equal_the_gateway_defaults() -> None:
    gateway = GatewaySettings()
    assert (gateway.central_max_tokens, gateway.default_k) == (CENTRAL_MAX_TOKENS, FUSION_PASSAGES)
