"""What the chat route reads from a request before asking the sites: the conversation split into the
question, its history and the standalone question retrieval uses; the answer options; the gateway's
answer settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.gateway.routes_chat import split_conversation
from api.gateway.schemas import ChatMessageIn, RagFedOptions
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.errors import ConfigError, InputError
from rag_fed.generators.base import ChatMessage

pytestmark = pytest.mark.unit

FIRST = "How often is the GX-400 gearbox oil changed?"


def _messages(*turns: tuple[str, str]) -> list[ChatMessageIn]:
    return [ChatMessageIn.model_validate({"role": role, "content": content}) for role, content in turns]


def test_a_follow_up_is_split_from_its_history_and_made_standalone() -> None:
    question, history, standalone = split_conversation(
        _messages(
            ("system", "Answer briefly."),
            ("user", FIRST),
            ("assistant", "Every 5,000 running hours [plant-north:gx400.pdf#p3]."),
            ("user", "and the filter?"),
        )
    )
    assert question == "and the filter?"
    assert history == [
        ChatMessage("user", FIRST),
        ChatMessage("assistant", "Every 5,000 running hours [plant-north:gx400.pdf#p3]."),
    ], "system turns are not history"
    assert standalone == "How often is the GX-400 gearbox oil changed; and the filter?"


def test_a_first_or_standalone_question_is_retrieved_as_asked() -> None:
    assert split_conversation(_messages(("user", FIRST)))[2] == FIRST
    own = "What does fault F-217 mean?"
    assert split_conversation(_messages(("user", FIRST), ("user", own)))[2] == own


def test_a_conversation_without_a_user_question_is_refused() -> None:
    with pytest.raises(InputError, match="no user message"):
        split_conversation(_messages(("system", "Answer briefly."), ("user", "   ")))


def test_the_strategy_is_an_option_per_request_and_defaults_to_the_gateway() -> None:
    assert RagFedOptions().strategy is None and RagFedOptions().site_answers is None
    assert RagFedOptions.model_validate({"strategy": "extractive"}).strategy == "extractive"
    with pytest.raises(ValidationError, match="strategy"):
        RagFedOptions.model_validate({"strategy": "creative"})


def test_gateway_answer_settings_and_their_defaults(tmp_path: Path) -> None:
    defaults = GatewaySettings(home=tmp_path)
    assert defaults.site_answers is False, "by default only the gateway's model phrases"
    assert defaults.answers.strategy == "grounded"
    config = tmp_path / "gateway.toml"
    config.write_text(f'home = "{tmp_path}"\n[answers]\nstrategy = "extractive"\nlead_sentences = 1\n')
    loaded = GatewaySettings.load(config)
    assert (loaded.answers.strategy, loaded.answers.lead_sentences) == ("extractive", 1)
    config.write_text(f'home = "{tmp_path}"\ncentral_max_tokens = 48\n')
    with pytest.raises(ConfigError, match="central_max_tokens"):
        GatewaySettings.load(config)  # removed with the central fusion: named, not ignored
