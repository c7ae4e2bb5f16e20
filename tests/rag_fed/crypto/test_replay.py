"""The replay guard: remembers nonces for its window, forgets them after, never grows without bound."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag_fed.crypto import ReplayGuard
from rag_fed.errors import ConfigError, EnvelopeError

pytestmark = pytest.mark.unit


def test_a_nonce_is_new_once_then_a_replay() -> None:
    guard = ReplayGuard(65)
    assert guard.check_and_remember(b"n1", now=0.0)
    assert not guard.check_and_remember(b"n1", now=1.0)
    assert guard.seen(b"n1", now=1.0)
    assert not guard.seen(b"n2", now=1.0)


def test_nonces_are_forgotten_after_the_window_and_pruned_on_insert() -> None:
    guard = ReplayGuard(10)
    for i in range(5):
        guard.check_and_remember(bytes([i]), now=float(i))
    assert len(guard) == 5
    assert not guard.seen(bytes([0]), now=10.0)
    guard.check_and_remember(b"late", now=12.5)  # prunes the nonces remembered at 0, 1 and 2
    assert len(guard) == 3
    assert guard.check_and_remember(bytes([0]), now=12.5)


def test_a_full_guard_refuses_rather_than_forgets_live_nonces() -> None:
    guard = ReplayGuard(10, max_entries=2)
    guard.check_and_remember(b"a", now=0.0)
    guard.check_and_remember(b"b", now=0.0)
    with pytest.raises(EnvelopeError, match="replay cache is full"):
        guard.check_and_remember(b"c", now=5.0)
    assert guard.seen(b"a", now=5.0)
    assert guard.check_and_remember(b"c", now=10.0)


def test_concurrent_inserts_of_one_nonce_succeed_once() -> None:
    guard = ReplayGuard(60)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: guard.check_and_remember(b"same", now=1.0), range(64)))
    assert results.count(True) == 1


@pytest.mark.parametrize(("window", "cap"), [(0, 10), (-1, 10), (10, 0)])
def test_nonsense_settings_are_refused(window: float, cap: int) -> None:
    with pytest.raises(ConfigError):
        ReplayGuard(window, max_entries=cap)


def test_a_journal_keeps_the_nonces_of_the_window_across_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "site" / "replay.db"
    first = ReplayGuard(10, journal=journal, now=0.0)
    assert first.check_and_remember(b"answered", now=1.0)
    assert first.check_and_remember(b"old", now=0.0)
    first.close()  # the process ends
    restarted = ReplayGuard(10, journal=journal, now=5.0)
    assert not restarted.check_and_remember(b"answered", now=5.0), "answered before the restart: a replay"
    assert restarted.check_and_remember(b"new", now=5.0)
    later = ReplayGuard(10, journal=journal, now=10.5)
    assert len(later) == 2, "nonces past their window are not loaded ('old' expired at 10.0)"
    assert journal.stat().st_mode & 0o777 == 0o600 and journal.parent.stat().st_mode & 0o777 == 0o700
