from __future__ import annotations

import pytest

from rag_fed.fusion import RRF_K, fuse_min_max, fuse_reciprocal_rank

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


def test_min_max_scales_each_ranking_and_adds_with_equal_shares() -> None:
    dense = [("a", 0.9), ("b", 0.7), ("c", 0.5)]
    keyword = [("c", 12.0), ("d", 4.0), ("a", 2.0)]
    fused = dict(fuse_min_max([dense, keyword]))
    # dense: a 1, b 0.5, c 0; keyword: c 1, d 0.2, a 0
    assert fused == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.1})
    assert [key for key, _ in fuse_min_max([dense, keyword])] == ["a", "c", "b", "d"]  # a ties c, seen first


def test_min_max_weights_and_degenerate_rankings() -> None:
    assert fuse_min_max([[("a", 3.0), ("b", 1.0)], []], weights=[0.8, 0.2]) == [("a", 0.8), ("b", 0.0)]
    assert fuse_min_max([[("a", 2.0), ("b", 2.0)]]) == [("a", 1.0), ("b", 1.0)]  # all equal: all scale to 1
    assert fuse_min_max([]) == []
    with pytest.raises(ValueError, match="2 weights for 1 rankings"):
        fuse_min_max([[("a", 1.0)]], weights=[0.5, 0.5])
