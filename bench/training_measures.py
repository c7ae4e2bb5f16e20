"""Measuring helpers of bench/federated_training.py and bench/feedback_training.py: retrieval metrics of a
model with its frozen layers computed once (``PrefixCachedRetrieval``), and the peak memory of a process
tree (``PeakMemory``)."""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.datasets import EvalDataset
from eval.metrics import retrieval_metrics

__all__ = ["PeakMemory", "PrefixCachedRetrieval", "command_line", "start_measuring"]


def start_measuring() -> tuple[PeakMemory, float]:
    """Offline (no hub, no dependency installs by Flower), torch on the 2 cores; the peak-memory sampler
    and the wall clock started."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    import torch

    torch.set_num_threads(2)
    return PeakMemory(), time.perf_counter()


def command_line(script: str, args: argparse.Namespace) -> str:
    """The command with every option spelled out, as the report records it."""
    return f"bench/{script} " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())


class PrefixCachedRetrieval:
    """nDCG@10 of dense retrieval, running only the trainable top layers per model.

    The first call runs the whole model once with a pre-hook on the first trainable layer that keeps
    its inputs (hidden states and the attention mask as the model built it) for every batch.
    ``top_layers=None`` (every weight trains, the word embeddings too): nothing is cached, the whole model runs."""

    def __init__(self, dataset: EvalDataset, model: Any, top_layers: int | None, batch_size: int = 64) -> None:
        self.dataset = dataset
        self.texts = [f"{d.title}. {d.text}" for d in dataset.corpus] + [q.text for q in dataset.queries]
        self.whole = top_layers is None
        self.first = 0 if top_layers is None else len(model[0].auto_model.encoder.layer) - top_layers
        self.batch_size = batch_size
        self.order = np.argsort([-len(t) for t in self.texts], kind="stable")
        self.cache: list[tuple[tuple[Any, ...], dict[str, Any], Any]] = []
        if not self.whole:
            self._fill(model)

    def _fill(self, model: Any) -> None:
        import torch

        layer = model[0].auto_model.encoder.layer[self.first]
        captured: dict[str, Any] = {}

        def keep(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured["args"], captured["kwargs"] = args, kwargs

        handle = layer.register_forward_pre_hook(keep, with_kwargs=True)
        try:
            with torch.no_grad():
                for start in range(0, len(self.texts), self.batch_size):
                    batch = [self.texts[i] for i in self.order[start : start + self.batch_size]]
                    features = model.preprocess(batch)
                    model[0](features)
                    kwargs = {k: v for k, v in captured["kwargs"].items() if k != "past_key_values"}
                    self.cache.append((captured["args"], kwargs, features["attention_mask"]))
        finally:
            handle.remove()

    def vectors(self, model: Any) -> np.ndarray:
        import torch

        if self.whole:
            model.eval()
            ordered = [self.texts[i] for i in self.order]
            encoded = model.encode(ordered, batch_size=self.batch_size, normalize_embeddings=True)
            whole = np.zeros((len(self.texts), encoded.shape[1]), dtype=np.float32)
            whole[self.order] = encoded
            return whole
        layers = model[0].auto_model.encoder.layer[self.first :]
        out = np.zeros((len(self.texts), _dimension(model)), dtype=np.float32)
        model.eval()
        with torch.no_grad():
            for number, (args, kwargs, mask) in enumerate(self.cache):
                hidden, rest = args[0], args[1:]
                for layer in layers:
                    result = layer(hidden, *rest, **kwargs)
                    hidden = result[0] if isinstance(result, tuple) else result
                features = {"token_embeddings": hidden, "attention_mask": mask}
                for module in list(model)[1:]:
                    features = module(features)
                rows = self.order[number * self.batch_size : number * self.batch_size + len(hidden)]
                out[rows] = features["sentence_embedding"].cpu().numpy()
        return out

    def ndcg(self, model: Any) -> float:
        return self.ndcg_of(self.vectors(model))

    def ndcg_of(self, vectors: np.ndarray) -> float:
        return self.metrics_of(vectors)["ndcg@10"]

    def metrics_of(
        self,
        vectors: np.ndarray,
        names: Sequence[str] = ("ndcg@10",),
        queries: Sequence[int] | None = None,
        binary: bool = False,
    ) -> dict[str, float]:
        """``names`` (ranx metrics, over the top 100) of the queries at these positions (default: all);
        ``binary`` counts every judged document as grade 1 (as sentence-transformers' IR evaluator does)."""
        n_docs = len(self.dataset.corpus)
        chosen = range(len(self.dataset.queries)) if queries is None else queries
        rows = np.asarray([n_docs + i for i in chosen], dtype=np.int64)
        scores = vectors[rows] @ vectors[:n_docs].T
        run, qrels = {}, {}
        for row, position in zip(scores, chosen, strict=True):
            query = self.dataset.queries[position]
            top = np.argsort(-row)[:100]
            run[query.query_id] = {self.dataset.corpus[i].doc_id: float(row[i]) for i in top}
            qrels[query.query_id] = {d: (1 if binary and g > 0 else g) for d, g in query.gold_doc_ids.items()}
        found = retrieval_metrics(run, qrels, list(names))
        return {name: float(found[name]) for name in names}

    def check(self, model: Any) -> float:
        """Largest difference to ``model.encode`` on a sample of texts (must be ~0)."""
        sample = [int(i) for i in self.order[:: max(1, len(self.order) // 40)]]
        direct = model.encode([self.texts[i] for i in sample], batch_size=64, normalize_embeddings=True)
        return float(np.abs(self.vectors(model)[sample] - direct).max())


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; keep working with both names.
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


class PeakMemory:
    """Peak resident memory of this process and all its descendants (Ray workers included)."""

    def __init__(self) -> None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        while not self._stop.wait(0.5):
            total = 0
            for process in [self._me, *self._me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak
