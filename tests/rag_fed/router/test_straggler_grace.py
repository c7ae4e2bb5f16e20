"""One sick site must not hold every answer for the whole deadline: once a site answered, the router
waits at most ``straggler_grace_s`` for the rest (evidence only; sites phrasing answers get the deadline)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rag_fed.crypto import KeyPair
from rag_fed.router import Router
from tests.rag_fed.router.fakes import VERSION, FakeSite, passage, unit_vector

pytestmark = pytest.mark.unit


def _sites(gateway_keys: KeyPair) -> list[FakeSite]:
    return [
        FakeSite("north", gateway_keys, [passage("north", 1, 0.9, 1)], None),
        FakeSite("south", gateway_keys, [passage("south", 2, 0.8, 1)], None),
    ]


def test_a_straggler_is_cut_after_the_grace_period_and_named(
    make_router: Callable[..., Router], gateway_keys: KeyPair
) -> None:
    sites = _sites(gateway_keys)
    sites[1].delay_s = 3.0
    router = make_router(sites, deadline_s=10.0, straggler_grace_s=0.3)
    result = asyncio.run(router.query("seal leaks?", unit_vector(), VERSION, k=2, mode="dense"))
    status = {site.site_id: site for site in result.sites}
    assert status["north"].status == "answered"
    assert status["south"].status == "timed_out" and "straggler_grace_s" in (status["south"].error or "")
    # The query's own clock (asyncio.run then waits for the fake's sleeping thread; a gateway does not).
    assert result.elapsed_ms < 2000  # not the 3 s the straggler takes, let alone the 10 s deadline
    assert [p.citation.site_id for p in result.passages] == ["north"]


def test_sites_phrasing_answers_get_the_whole_deadline(
    make_router: Callable[..., Router], gateway_keys: KeyPair
) -> None:
    sites = _sites(gateway_keys)
    sites[1].delay_s = 1.0
    router = make_router(sites, deadline_s=10.0, straggler_grace_s=0.2)
    result = asyncio.run(router.query("seal leaks?", unit_vector(), VERSION, k=2, mode="dense", phrase=True))
    assert {site.site_id: site.status for site in result.sites} == {"north": "answered", "south": "answered"}


def test_no_grace_waits_for_every_site(make_router: Callable[..., Router], gateway_keys: KeyPair) -> None:
    sites = _sites(gateway_keys)
    sites[1].delay_s = 0.8
    router = make_router(sites, deadline_s=10.0, straggler_grace_s=None)
    result = asyncio.run(router.query("seal leaks?", unit_vector(), VERSION, k=2, mode="dense"))
    assert all(site.status == "answered" for site in result.sites)
