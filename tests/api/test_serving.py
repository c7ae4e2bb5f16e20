"""What every service does at start (api/serving.py): the malloc arena cap."""

from __future__ import annotations

import platform

import pytest

from api.serving import limit_malloc_arenas

pytestmark = pytest.mark.unit


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the arena cap is a glibc setting")
def test_the_arena_cap_is_set_unless_the_operator_chose_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(8), "glibc accepts the cap"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_malloc_arenas(), "an operator's MALLOC_ARENA_MAX stands"
