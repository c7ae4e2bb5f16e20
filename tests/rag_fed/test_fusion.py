from __future__ import annotations

import pytest

from rag_fed.fusion import RRF_K, fuse_reciprocal_rank

pytestmark = pytest.mark.unit


def test_item_ranked_high_by_both_wins() -> None:
    fused = fuse_reciprocal_rank([["a", "b", "c"], ["b", "a", "d"]])
    keys = [key for key, _ in fused]
    assert set(keys[:2]) == {"a", "b"}
    assert keys[2:] == ["c", "d"]


def test_scores_follow_the_formula() -> None:
    fused = dict(fuse_reciprocal_rank([["x", "y"], ["y"]]))
    assert fused["x"] == pytest.approx(1 / (RRF_K + 1))
    assert fused["y"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))


def test_ties_break_by_first_appearance() -> None:
    fused = fuse_reciprocal_rank([["a"], ["b"]])
    assert [key for key, _ in fused] == ["a", "b"]


def test_weights_favour_a_ranking() -> None:
    fused = fuse_reciprocal_rank([["a"], ["b"]], weights=[1.0, 2.0])
    assert fused[0][0] == "b"


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="rrf k"):
        fuse_reciprocal_rank([["a"]], k=0)
    with pytest.raises(ValueError, match="1 weights for 2 rankings"):
        fuse_reciprocal_rank([["a"], ["b"]], weights=[1.0])
