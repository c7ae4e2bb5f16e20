"""A site that hangs or dies mid-query: the others still answer within the deadline, and it is named.

An extra site (west) is started for this module, so the shared federation is not harmed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from openai import OpenAI

from rag_fed.embedders.base import Embedder
from rag_fed.router import RoutingPolicy
from tests.api.conftest import Federation, extra_site
from tests.api.procs import Service

pytestmark = pytest.mark.integration

WEST_MANUAL = "# Hoist H-1\n\n## Brake\nAdjust the hoist brake gap to 0.4 mm when the load drifts.\n"
DEADLINE_S = 30.0  # tests/api/conftest.py starts the gateway with this deadline
GRACE_S = RoutingPolicy().straggler_grace_s or DEADLINE_S  # and the default straggler grace


@pytest.fixture(scope="module")
def west(federation: Federation, packaged_embedder: Embedder) -> Iterator[Service]:
    with extra_site(federation, packaged_embedder, "west", WEST_MANUAL) as service:
        yield service


def _ask(federation: Federation, question: str) -> tuple[object, float]:
    client = OpenAI(
        base_url=f"{federation.gateway.url}/v1", api_key=federation.api_keys["engineer"], timeout=240, max_retries=0
    )
    started = time.monotonic()
    completion = client.chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": question}], max_tokens=32
    )
    return completion, time.monotonic() - started


def _sites(completion: object) -> dict[str, dict[str, object]]:
    extras = completion.model_extra["rag_fed"]  # type: ignore[attr-defined]
    return {site["site_id"]: site for site in extras["sites"]}


def test_a_hanging_site_times_out_and_the_others_answer(federation: Federation, west: Service) -> None:
    os.kill(west.process.pid, signal.SIGSTOP)
    try:
        completion, elapsed = _ask(federation, "How do I replace the mechanical seal on the slurry pump?")
    finally:
        os.kill(west.process.pid, signal.SIGCONT)
    sites = _sites(completion)
    assert sites["west"]["status"] == "timed_out"
    # Sites send evidence in well under a second: once one has, a silent site gets the straggler grace,
    # not the whole deadline.
    assert float(sites["west"]["latency_ms"]) < GRACE_S * 1000 + 5000  # type: ignore[arg-type]
    assert "straggler_grace_s" in str(sites["west"]["error"])
    assert all(sites[s]["status"] == "answered" for s in ("north", "south", "east"))
    text = completion.choices[0].message.content  # type: ignore[attr-defined]
    assert f"No reply from west (timed out: no reply within {GRACE_S:.1f} s of the first site's" in text
    assert "This answer comes from east, north, south only." in text
    assert "MS-4471" in text, "the answer is composed from the sites that replied"
    assert elapsed < DEADLINE_S


def test_a_site_killed_mid_query_is_named_and_the_others_answer(federation: Federation, west: Service) -> None:
    result: dict[str, object] = {}

    def ask() -> None:
        result["completion"], result["elapsed"] = _ask(federation, "How do I adjust the hoist brake gap?")

    # Sites answer from evidence in well under a second, too fast to be killed in the middle: west is
    # paused first, so the query is surely in its socket when it dies.
    os.kill(west.process.pid, signal.SIGSTOP)
    asker = threading.Thread(target=ask)
    asker.start()
    time.sleep(2.0)  # the gateway has embedded the question and the sealed queries are out
    west.process.kill()
    asker.join(timeout=300)
    assert not asker.is_alive()
    sites = _sites(result["completion"])
    assert sites["west"]["status"] in ("failed", "timed_out")
    assert sites["west"]["error"]
    assert all(sites[s]["status"] == "answered" for s in ("north", "south", "east"))
    assert float(result["elapsed"]) < DEADLINE_S + 90  # type: ignore[arg-type]
    text = result["completion"].choices[0].message.content  # type: ignore[attr-defined]
    assert text and "No reply from west" in text
