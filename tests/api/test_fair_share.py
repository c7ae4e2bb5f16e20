"""The gateway's fair share of answers on real processes (issue 19): one API key's burst is refused with
429 and Retry-After before any site is asked, while another caller is answered.

A site of its own (hoist) is started and stopped with SIGSTOP to hold answers in progress, so the shared
federation's breakers are not touched.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from openai import OpenAI

from rag_fed.embedders.base import Embedder
from tests.api.conftest import Federation, extra_site
from tests.api.metrics_text import parse_samples
from tests.api.procs import Service

pytestmark = pytest.mark.integration

HOIST_MANUAL = "# Hoist H-1\n\n## Brake\nAdjust the hoist brake gap to 0.4 mm when the load drifts.\n"


@pytest.fixture(scope="module")
def hoist(federation: Federation, packaged_embedder: Embedder) -> Iterator[Service]:
    with extra_site(federation, packaged_embedder, "hoist", HOIST_MANUAL) as service:
        yield service


def _answers_in_flight(federation: Federation) -> float:
    response = httpx.get(
        f"{federation.gateway.url}/metrics",
        headers={"Authorization": f"Bearer {federation.api_keys['operator']}"},
        timeout=30,
    )
    value = parse_samples(response.text).get_value("ragfed_gateway_answers_in_flight")
    assert value is not None, "the gateway serves its answers in progress"
    return value


def test_one_caller_beyond_its_share_is_told_to_retry_and_others_are_still_answered(
    federation: Federation, hoist: Service
) -> None:
    """Issue 19: one engineer's burst filled every site's model and everyone waited. Each API key has
    answers_per_caller (default 2) answers in progress; a third is refused at once with 429 and
    Retry-After, before any site is asked, while another caller is answered."""
    engineer = OpenAI(
        base_url=f"{federation.gateway.url}/v1", api_key=federation.api_keys["engineer"], timeout=60, max_retries=0
    )
    stuck = {"rag_fed": {"sites": ["hoist"]}}  # hoist is stopped: these two wait for it

    def ask_hoist() -> str:
        completion = engineer.chat.completions.create(
            model="rag-fed", messages=[{"role": "user", "content": "Hoist brake gap?"}], extra_body=stuck
        )
        return completion.choices[0].message.content or ""

    os.kill(hoist.process.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(ask_hoist) for _ in range(2)]
            deadline = time.monotonic() + 20
            while _answers_in_flight(federation) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.monotonic()
            response = httpx.post(
                f"{federation.gateway.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {federation.api_keys['engineer']}"},
                json={"model": "rag-fed", "messages": [{"role": "user", "content": "Seal torque?"}]},
                timeout=30,
            )
            refused_in = time.monotonic() - started
            assert response.status_code == 429, response.text
            assert int(response.headers["Retry-After"]) >= 1
            assert "already has 2 answers in progress" in response.json()["error"]["message"]
            assert refused_in < 5, f"the refusal took {refused_in:.1f} s: it must not wait for the sites"
            # Another caller's question is admitted and answered meanwhile.
            evaluator = OpenAI(
                base_url=f"{federation.gateway.url}/v1",
                api_key=federation.api_keys["evaluator"],
                timeout=60,
                max_retries=0,
            )
            other = evaluator.chat.completions.create(
                model="rag-fed",
                messages=[{"role": "user", "content": "How do I replace the mechanical seal on the slurry pump?"}],
                extra_body={"rag_fed": {"sites": ["north"]}},
            )
            assert "MS-4471" in (other.choices[0].message.content or "")
            os.kill(hoist.process.pid, signal.SIGCONT)
            assert all("0.4 mm" in future.result() for future in waiting), "the admitted answers finish"
    finally:
        os.kill(hoist.process.pid, signal.SIGCONT)
    assert _answers_in_flight(federation) == 0
    again = engineer.chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": "Hoist brake gap?"}], extra_body=stuck
    )
    assert "0.4 mm" in (again.choices[0].message.content or ""), "a finished answer frees the caller's place"
