"""Noise on a site's published term counts and what a publication costs in differential privacy.

The noise is the two-sided geometric mechanism (discrete Laplace; Ghosh, Roughgarden and Sundararajan
2009): an integer count plus the difference of two geometric draws, ``P(z) ∝ exp(-epsilon |z|)``. It
works on integers, so it has none of the floating-point weaknesses of a naive Laplace sampler (Mironov
2012), and numpy draws it. The accounting is dp-accounting's (Google): its privacy-loss-distribution
accountant composes the mechanism over the publications a site has made. Why not diffprivlib or OpenDP:
docs/term-statistics.md.

The unit of privacy matters and is reported both ways: one *count* (does this chunk hold this term?)
costs ``epsilon``; one *chunk* moves one count per distinct term it holds, so it costs ``epsilon`` times
the most distinct terms a chunk of the site holds. Terms are published only when their noisy count
reaches the floor, which bounds the chance that a term held by one chunk shows at all (``delta``).
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rag_fed.files import PRIVATE_FILE_MODE, replace_text

__all__ = ["LEDGER_FILE", "PrivacyCost", "PrivacyLedger", "add_noise", "publication_cost"]

LEDGER_FILE = "term-stats-ledger.json"
"""In the site's folder: how many noisy publications of its term counts it has made (for the total)."""

TOTAL_DELTA = 1e-6
"""The delta at which the composed epsilon of all publications is reported."""


@dataclass(frozen=True)
class PrivacyCost:
    """What publishing noisy counts costs. ``epsilon_per_count``: one (term, chunk) membership, per
    publication; ``epsilon_per_chunk``: a whole chunk (every term it holds), per publication;
    ``delta_per_chunk``: the chance that one of a chunk's terms, held by no other chunk, passes the floor
    (union bound over its terms); ``epsilon_total``: every publication so far for one chunk, composed
    (at ``TOTAL_DELTA`` beside the publications' deltas)."""

    epsilon_per_count: float
    epsilon_per_chunk: float
    delta_per_chunk: float
    epsilon_total: float
    publications: int


def add_noise(counts: NDArray[np.int64], epsilon: float, rng: np.random.Generator | None = None) -> NDArray[np.int64]:
    """``counts`` plus two-sided geometric noise of parameter ``epsilon`` (sensitivity 1 per count)."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    rng = rng or np.random.default_rng(secrets.randbits(128))
    p = -math.expm1(-epsilon)  # 1 - exp(-epsilon), exactly for small epsilon
    noise = rng.geometric(p, size=counts.shape) - rng.geometric(p, size=counts.shape)
    return np.asarray(counts, np.int64) + noise.astype(np.int64)


def publication_cost(epsilon: float, floor: int, max_terms_per_chunk: int, publications: int) -> PrivacyCost:
    """The cost of noise ``epsilon`` with a floor of ``floor`` on a site whose chunks hold at most
    ``max_terms_per_chunk`` distinct terms, after ``publications`` noisy publications."""
    import dp_accounting  # heavy (scipy); only a site that adds noise pays for it

    terms = max(1, max_terms_per_chunk)
    # A term held by one chunk only is published when 1 + noise >= floor: P(noise >= floor - 1).
    alpha = math.exp(-epsilon)
    shortfall = floor - 1
    per_term = alpha**shortfall / (1 + alpha) if shortfall >= 1 else 1 / (1 + alpha)
    delta = min(1.0, terms * per_term)
    event = dp_accounting.dp_event.DiscreteLaplaceDpEvent(noise_parameter=epsilon, sensitivity=terms)
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(event, max(1, publications))
    return PrivacyCost(
        epsilon_per_count=epsilon,
        epsilon_per_chunk=epsilon * terms,
        delta_per_chunk=delta,
        epsilon_total=float(accountant.get_epsilon(TOTAL_DELTA)),
        publications=publications,
    )


class PrivacyLedger:
    """How many noisy publications a site has made, kept in a small file that survives restarts
    (replaced atomically). Thread-safe within one process."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def publications(self) -> int:
        with self._lock:
            return self._read()

    def record(self) -> int:
        """Count one more publication; the count after it."""
        with self._lock:
            count = self._read() + 1
            replace_text(self._path, json.dumps({"noisy_publications": count}) + "\n", mode=PRIVATE_FILE_MODE)
            return count

    def _read(self) -> int:
        try:
            return int(json.loads(self._path.read_text(encoding="utf-8"))["noisy_publications"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError):
            # A damaged ledger must not lower the count that is reported: refuse to guess.
            raise ValueError(f"privacy ledger {self._path} is damaged; restore it or remove noise") from None
