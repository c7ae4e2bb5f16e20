"""FAISS's search threads, which site services lower to one (rag_fed.config.SearchSettings).

OpenMP keeps the setting per thread, so it must reach threads started after it was made: a site service
searches in its web server's worker threads, never in the thread that read the settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import faiss
import numpy as np
import pytest

from indexes import FaissVectorIndex, set_search_threads

pytestmark = pytest.mark.unit


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    set_search_threads(None)


def _threads_seen_by_a_new_thread_that_searches(index: FaissVectorIndex) -> int:
    seen: list[int] = []

    def work() -> None:
        index.search(np.eye(1, 4, dtype=np.float32), 1)
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return seen[0]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_the_setting_reaches_threads_started_after_it(kind: str, restore_threads: None) -> None:
    index = FaissVectorIndex(4, kind)  # type: ignore[arg-type]
    index.add(np.arange(3, dtype=np.int64), np.eye(3, 4, dtype=np.float32))
    set_search_threads(1)
    assert _threads_seen_by_a_new_thread_that_searches(index) == 1
    set_search_threads(3)
    assert _threads_seen_by_a_new_thread_that_searches(index) == 3
    set_search_threads(None)
    assert _threads_seen_by_a_new_thread_that_searches(index) == _process_default()


def _process_default() -> int:
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
    reader.start()
    reader.join()
    return seen[0]


def test_a_thread_count_below_one_is_refused(restore_threads: None) -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        set_search_threads(0)
