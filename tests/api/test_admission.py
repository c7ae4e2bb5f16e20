"""The gateway's fair share of answers (api/gateway/admission.py): per caller and in all, released once."""

from __future__ import annotations

import gc

import pytest

from api.gateway.admission import AnswerAdmission
from rag_fed.errors import GatewayBusyError

pytestmark = pytest.mark.unit


def test_a_caller_beyond_its_share_is_refused_while_others_are_admitted() -> None:
    admission = AnswerAdmission(per_caller=2, total=3)
    first, second = admission.admit("alice"), admission.admit("alice")
    with pytest.raises(GatewayBusyError, match="this API key already has 2 answers in progress") as busy:
        admission.admit("alice")
    assert busy.value.retry_after_s >= 1
    bob = admission.admit("bob")
    with pytest.raises(GatewayBusyError, match="the gateway is answering 3 questions"):
        admission.admit("carol")
    assert dict(admission.refused) == {"caller": 1, "total": 1}
    first.release()
    assert admission.admit("carol").held, "a finished answer frees its place for anyone"
    del second, bob


def test_a_slot_is_released_once_however_it_ends() -> None:
    admission = AnswerAdmission(per_caller=1, total=1)
    with admission.admit("alice") as slot:
        assert admission.in_flight == 1 and admission.in_flight_of("alice") == 1
    assert not slot.held and admission.in_flight == 0
    slot.release()  # a second release does not free a place that is not its own
    assert admission.in_flight == 0
    held = admission.admit("alice")
    with pytest.raises(GatewayBusyError):
        admission.admit("bob")
    del held  # a streamed response that never started: its slot goes with it
    gc.collect()
    assert admission.in_flight == 0 and admission.admit("bob").held


def test_retry_after_follows_the_time_answers_take() -> None:
    admission = AnswerAdmission(per_caller=1, total=1, initial_seconds=12.0)
    held = admission.admit("alice")
    with pytest.raises(GatewayBusyError) as busy:
        admission.admit("alice")
    assert busy.value.retry_after_s == 12
    held.release()
    held = admission.admit("alice")
    held.release()  # an answer of about no time pulls the estimate down, never under 1 s
    with admission.admit("alice"), pytest.raises(GatewayBusyError) as busy:
        admission.admit("alice")
    assert 1 <= busy.value.retry_after_s < 12


@pytest.mark.parametrize(("per_caller", "total"), [(0, 4), (3, 2)])
def test_an_impossible_share_is_refused(per_caller: int, total: int) -> None:
    with pytest.raises(ValueError, match="per_caller <= total"):
        AnswerAdmission(per_caller, total)
