"""FAISS's process-wide thread setting, which site services lower to one (rag_fed.config.SearchSettings)."""

from __future__ import annotations

import faiss
import pytest

from indexes import set_search_threads

pytestmark = pytest.mark.unit


def test_search_threads_are_set_for_the_process() -> None:
    before = faiss.omp_get_max_threads()
    try:
        set_search_threads(1)
        assert faiss.omp_get_max_threads() == 1
        with pytest.raises(ValueError, match="at least one thread"):
            set_search_threads(0)
    finally:
        faiss.omp_set_num_threads(before)
