"""The bounded memo that the hot paths share: never past its limit, forgets all at once when full."""

from __future__ import annotations

import pytest

from rag_fed.memo import BoundedMemo


def test_remembers_until_full_then_forgets_everything_at_once() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(3)
    for i, key in enumerate("abc"):
        assert memo.put(key, i) == i
    assert len(memo) == 3 and memo.get("b") == 1
    memo.put("d", 9)
    assert len(memo) == 1
    assert memo.get("a") is None and memo["d"] == 9


def test_replacing_a_kept_key_does_not_empty_a_full_memo() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 3)
    assert len(memo) == 2 and memo["a"] == 3 and "b" in memo


def test_put_many_keeps_kept_values_and_empties_only_when_the_new_ones_do_not_fit() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(4)
    memo.put_many([("a", 1), ("b", 2)])
    memo.put_many([("a", 100), ("c", 3)])  # "a" is kept: only "c" is new, and it fits
    assert memo["a"] == 1 and len(memo) == 3
    memo.put_many([("d", 4), ("e", 5)])  # 3 + 2 > 4: forget first
    assert len(memo) == 2 and "a" not in memo and memo["e"] == 5


def test_put_many_of_more_than_the_limit_keeps_the_last_ones() -> None:
    memo: BoundedMemo[int, int] = BoundedMemo(3)
    memo.put_many((i, i * i) for i in range(10))
    assert len(memo) == 3
    assert [memo.get(i) for i in (7, 8, 9)] == [49, 64, 81]


def test_a_limit_under_one_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="limit of at least 1"):
        BoundedMemo(0)
