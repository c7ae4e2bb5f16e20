"""Circuit breaker states: closed -> open after N failures -> half-open after the cool-down -> one probe."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rag_fed.errors import ConfigError, SiteBusyError
from rag_fed.router import BreakerState, CircuitBreaker, CircuitBreakers, HttpSiteClient

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the count: failures must be consecutive
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_in_s() == pytest.approx(10)


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "a second caller must wait for the probe's outcome"


def test_failed_probe_reopens_and_successful_probe_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 6
    assert breaker.allow()
    breaker.record_failure()  # the probe failed: open again for a full cool-down, whatever the count
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in_s() == pytest.approx(5)
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_breakers_are_per_site_and_settings_are_checked() -> None:
    clock = Clock()
    board = CircuitBreakers(failure_threshold=1, cooldown_s=5, clock=clock)
    board.for_site("a").record_failure()
    assert board.states() == {"a": BreakerState.OPEN}
    assert board.for_site("b").allow()
    assert board.for_site("a") is board.for_site("a")
    with pytest.raises(ConfigError, match="failure_threshold"):
        CircuitBreakers(failure_threshold=0)


def test_slow_calls_neither_open_nor_close_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=clock)
    for _ in range(10):
        breaker.record_slow()  # a busy site that took the call: not a failure
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0
    breaker.record_failure()
    clock.now += 6
    assert breaker.allow()  # the half-open probe
    breaker.record_slow()  # a slow probe proves nothing either way: the next call probes again
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()


def _raised_during(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException:
            raise outer from None
    except Exception as error:
        return error


def test_is_slow_tells_a_slow_site_from_a_dead_one() -> None:
    import httpx

    from rag_fed.errors import SiteUnavailableError
    from rag_fed.router.breaker import is_slow

    read_timeout = httpx.ReadTimeout("timed out")
    connect_timeout = httpx.ConnectTimeout("timed out")
    assert is_slow(TimeoutError("site took too long"))
    # As the HTTP client and the router wrap them: the cause stays in the chain.
    assert is_slow(_raised_during(RuntimeError("site failed"), _raised_during(TimeoutError("x"), read_timeout)))
    assert not is_slow(_raised_during(RuntimeError("site failed"), _raised_during(TimeoutError("x"), connect_timeout)))
    assert not is_slow(SiteUnavailableError("connection refused"))
    assert not is_slow(_raised_during(RuntimeError("site failed"), ConnectionResetError()))
    breaker = CircuitBreaker(failure_threshold=1)
    assert breaker.record_error(TimeoutError()) and breaker.state is BreakerState.CLOSED
    assert not breaker.record_error(SiteUnavailableError("refused")) and breaker.state is BreakerState.OPEN


def test_a_busy_site_answering_429_is_alive_and_never_opens_its_breaker() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        body = {"error": {"type": "SiteBusyError", "message": "model queue full"}}
        return httpx.Response(429, json=body, headers={"Retry-After": "3"})

    async def call() -> BaseException:
        async with httpx.AsyncClient(transport=httpx.MockTransport(busy)) as http:
            try:
                await HttpSiteClient("north", "http://north.invalid", http).search(b"{}", 5.0)
            except SiteBusyError as error:
                return error
        raise AssertionError("a 429 must raise SiteBusyError")

    error = asyncio.run(call())
    assert isinstance(error, SiteBusyError) and error.retry_after_s == 3
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=30, clock=Clock())
    for _ in range(5):
        assert breaker.record_error(error), "counted as slow, not as a failure"
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0
