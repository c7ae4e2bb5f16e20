"""Which sites to ask: all of them, or those whose sketch says they may hold an answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, PositiveInt

from rag_fed.router.sketch import SiteSketch, sketch_score

__all__ = ["RoutingPolicy", "choose_by_sketch", "score_sites"]


class RoutingPolicy(BaseModel):
    """How sites are chosen and how long they get. ``selection="sketch"`` asks the sites whose best
    centroid is at least ``min_score`` similar to the query, at most ``max_sites`` of them (sites
    without a usable sketch are always asked: nothing says they are irrelevant)."""

    deadline_s: float = Field(default=20.0, gt=0)
    selection: Literal["all", "sketch"] = "all"
    max_sites: PositiveInt | None = None
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    failure_threshold: PositiveInt = 3
    cooldown_s: float = Field(default=30.0, gt=0)


def score_sites(
    query: NDArray[np.float32],
    embedder_version: str,
    sketches: Mapping[str, SiteSketch],
    candidates: Sequence[str],
) -> dict[str, float]:
    """Each candidate's sketch score; sites without a sketch of this embedder version get none."""
    scores: dict[str, float] = {}
    for site_id in candidates:
        sketch = sketches.get(site_id)
        if sketch is None or sketch.embedder_version != embedder_version:
            continue
        score = sketch_score(query, sketch)
        if score is not None:
            scores[site_id] = score
    return scores


def choose_by_sketch(scores: Mapping[str, float], candidates: Sequence[str], policy: RoutingPolicy) -> set[str]:
    """The best-scoring sites within the policy's threshold and count, plus every unscored site."""
    unscored = {site_id for site_id in candidates if site_id not in scores}
    ranked = sorted(scores, key=lambda site_id: -scores[site_id])
    if policy.min_score is not None:
        ranked = [site_id for site_id in ranked if scores[site_id] >= policy.min_score]
    if policy.max_sites is not None:
        ranked = ranked[: policy.max_sites]
    return unscored | set(ranked)
