"""Typed settings of answer composition (no imports of the rest of rag_fed: rag_fed.config uses them).

How each default was chosen is in docs/answers.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PositiveInt

__all__ = ["AnswerSettings", "AnswerStrategy", "EvidenceSettings"]

AnswerStrategy = Literal["extractive", "grounded", "generative"]


class EvidenceSettings(BaseModel):
    """How evidence is cut from a site's passages."""

    passages: PositiveInt = Field(default=5, description="Top passages of a site that evidence is taken from.")
    span_words: PositiveInt = Field(
        default=80, description="Longest span in words: about what an engineer reads in 20 seconds."
    )
    neighbour_floor: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A neighbour joins a span when its unit score is at least this share of the seed's.",
    )
    embed_units: PositiveInt = Field(
        default=8, description="Units embedded per site answer (the best by terms and passage cosine)."
    )
    code_bonus: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Added to a unit that holds a code or part number of the question."
    )


class AnswerSettings(BaseModel):
    """How answers are composed, at a site (``[answers]`` in ragfed.toml) and at the gateway."""

    strategy: AnswerStrategy = "grounded"
    min_support: float = Field(
        default=0.49,
        ge=0.0,
        le=1.0,
        description="Refuse below this best evidence score (chosen from the curve of bench/refusal_curve.py).",
    )
    secondary_ratio: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Further evidence is shown when it scores this share of the best."
    )
    max_items: PositiveInt = Field(default=3, description="Evidence items in an answer at most.")
    lead_sentences: PositiveInt = 2
    lead_max_tokens: PositiveInt = 80
    lead_budget_s: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait for each checked lead sentence; past it the evidence is sent without a lead.",
    )
    generative_max_tokens: PositiveInt = 300
    generative_timeout_s: float = Field(default=60.0, gt=0, description="Longest wait for a generative answer.")
    min_overlap: float = Field(
        default=0.75, ge=0.0, le=1.0, description="Share of a written sentence's content terms the evidence must hold."
    )
    min_bigram_overlap: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of a written sentence's adjacent content-term pairs that must occur in the evidence.",
    )
    evidence: EvidenceSettings = EvidenceSettings()
