"""How local training groups pairs into batches: the same number of hard negatives in a batch, and no
passage of a batch that one of its queries was paired with (it would count as a wrong answer)."""

from __future__ import annotations

import pytest

from rag_fed.training.model import _batches_without_duplicates
from rag_fed.training.pairs import TrainingPair

pytestmark = pytest.mark.unit


def test_a_batch_holds_pairs_with_the_same_number_of_negatives() -> None:
    pairs = [TrainingPair(f"q{i}", f"p{i}", tuple(f"n{i}-{j}" for j in range(i % 3))) for i in range(30)]
    batches = _batches_without_duplicates(pairs, batch_size=4, seed=0)
    assert all(len({len(pair.negatives) for pair in batch}) == 1 for batch in batches)
    assert sorted(pair.query for batch in batches for pair in batch) == sorted(pair.query for pair in pairs)


def test_no_batch_shows_a_query_a_passage_it_was_paired_with_as_a_negative() -> None:
    pairs = [
        TrainingPair("bleed the pump", "Open the bleed screw.", ("Belt tension is 2 percent.",)),
        TrainingPair("bleed the pump", "Run until oil flows.", ("Grease the bearings.",)),
        # Another question's hard negative is a passage accepted for "bleed the pump".
        TrainingPair("prime the pump", "Fill with 2 litres.", ("Open the bleed screw.",)),
        TrainingPair("belt tension", "Belt tension is 2 percent.", ("Fill with 2 litres.",)),
    ] + [TrainingPair(f"other {i}", f"passage {i}", (f"negative {i}",)) for i in range(12)]
    accepted: dict[str, set[str]] = {}
    for pair in pairs:
        accepted.setdefault(pair.query, set()).add(pair.positive)
    for seed in range(20):
        for batch in _batches_without_duplicates(pairs, batch_size=8, seed=seed):
            assert len({pair.query for pair in batch}) == len(batch)
            candidates = [
                (text, n, k) for n, pair in enumerate(batch) for k, text in enumerate((pair.positive, *pair.negatives))
            ]
            for n, pair in enumerate(batch):
                # Every candidate but its own positive is a negative for this query: none may be one it accepted.
                negatives_seen = [text for text, owner, kind in candidates if (owner, kind) != (n, 0)]
                assert not accepted[pair.query] & set(negatives_seen)
