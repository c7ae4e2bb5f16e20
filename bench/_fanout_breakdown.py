"""Where the time of the router's fan-out goes, for bench/fanout.py: its steps one by one (seal, HTTP, decode,
merge) and its CPU by package under cProfile."""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router import HttpSiteClient, Router
from rag_fed.router.merge import merge_passages
from rag_fed.router.selection import SketchScores
from rag_fed.router.sketch import SiteSketch, centroid_sizes

__all__ = ["PerSiteProducts", "breakdown", "cpu_by_package", "top_functions"]

REPO = Path(__file__).resolve().parents[1]
WARMUP = 3
Query = tuple[str, str, NDArray[np.float32]]


async def breakdown(
    clients: Sequence[HttpSiteClient],
    gateway: KeyPair,
    site_keys: Mapping[str, KeyPair],
    version: str,
    queries: Sequence[Query],
    k: int,
    choose: Callable[[NDArray[np.float32]], set[str]] | None = None,
) -> dict[str, float]:
    """The router's steps for ``clients``, one by one: mean milliseconds per question of each.
    ``choose``: the sites to ask for a query vector (the router's selection, timed as ``select``); every
    client when ``None``. Also the mean sites asked, reply bytes per site, and the first reply's wait."""
    everyone = list(clients)
    opener = EnvelopeOpener(gateway, "gateway", {c.site_id: site_keys[c.site_id].public_key for c in clients})
    steps: dict[str, list[float]] = {
        "select": [], "seal": [], "http": [], "first reply": [], "site search": [], "decode": [], "merge": [],
        "sites asked": [], "reply bytes/site": [],
    }  # fmt: skip
    for index, (_, text, vector) in enumerate([*queries[:WARMUP], *queries]):
        query = SiteQuery(
            question=text, embedding=vector, k=k, embedder_version=version, mode="dense", want_answer=False
        )
        chose_at = time.perf_counter()
        if choose is not None:
            wanted = choose(vector)
            clients = [client for client in everyone if client.site_id in wanted]
        started = time.perf_counter()
        sealed = [
            seal(
                query.to_bytes(),
                sender=gateway,
                sender_id="gateway",
                recipient_id=client.site_id,
                recipient_key=site_keys[client.site_id].public_key,
            ).to_bytes()
            for client in clients
        ]
        sealed_at = time.perf_counter()
        first: list[float] = []

        raw = await asyncio.gather(*(_timed(client, body, first) for client, body in zip(clients, sealed, strict=True)))
        answered_at = time.perf_counter()
        replies = [SiteReply.from_bytes(opener.open_bytes(data)) for data in raw]
        decoded_at = time.perf_counter()
        rankings = {reply.site_id: reply.passages[:k] for reply in replies}
        merged = merge_passages(rankings, k, "dense", {reply.site_id: reply.embedder_version for reply in replies})
        merged_at = time.perf_counter()
        assert len(merged) == k
        if index < WARMUP:
            continue
        steps["select"].append((started - chose_at) * 1000)
        steps["first reply"].append((min(first) - sealed_at) * 1000)
        steps["sites asked"].append(len(clients))
        steps["reply bytes/site"].append(sum(len(data) for data in raw) / len(raw))
        steps["seal"].append((sealed_at - started) * 1000)
        steps["http"].append((answered_at - sealed_at) * 1000)
        steps["site search"].append(max(reply.timings_ms.get("search", 0.0) for reply in replies))
        steps["decode"].append((decoded_at - answered_at) * 1000)
        steps["merge"].append((merged_at - decoded_at) * 1000)
    return {step: float(np.mean(values)) for step, values in steps.items()}


async def _timed(client: HttpSiteClient, body: bytes, arrivals: list[float]) -> bytes:
    data = await client.search(body, 60)
    arrivals.append(time.perf_counter())
    return data


async def cpu_by_package(router: Router, version: str, queries: Sequence[Query], k: int) -> dict[str, float]:
    """The router's own time per question under cProfile, by the package its functions are in (their own
    time, not their callees'). cProfile slows everything down, so the shares matter, not the sum."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _, text, vector in queries:
        await router.query(text, vector, version, k=k, mode="dense", want_answer=False)
    profiler.disable()
    totals: Counter[str] = Counter()
    for (filename, _, function), (_, _, own_time, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        totals[_package_of(filename, function)] += own_time * 1000 / len(queries)
    return dict(totals.most_common(14))


async def top_functions(router: Router, version: str, queries: Sequence[Query], k: int, top: int = 15) -> Row:
    """The router's ``top`` functions by own time under cProfile (ms per question; the shares matter)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _, text, vector in queries:
        await router.query(text, vector, version, k=k, mode="dense", want_answer=False)
    profiler.disable()
    stats = pstats.Stats(profiler).stats.items()  # type: ignore[attr-defined]
    totals = {
        f"{Path(f).name}:{line}({name})": own * 1000 / len(queries) for (f, line, name), (_, _, own, _, _) in stats
    }
    return dict(sorted(totals.items(), key=lambda item: -item[1])[:top])


Row = dict[str, float]
_BUILTIN_OWNERS = (
    ("pydantic_core", "pydantic"),
    ("nacl", "nacl"),
    ("_sodium", "nacl"),
    ("epoll", "event loop (epoll)"),
    ("select", "event loop (epoll)"),
    ("socket", "sockets"),
    ("json", "json"),
    ("numpy", "numpy"),
)


def _package_of(filename: str, function: str) -> str:
    """Site-packages by package, ours by top folder, the standard library by module, built-ins (C
    functions, ``~``) by the object they belong to (pydantic-core's validators, libsodium, epoll)."""
    if filename == "~":
        return next((owner for marker, owner in _BUILTIN_OWNERS if marker in function), "other built-ins")
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if str(path).startswith(str(REPO)):
        return path.relative_to(REPO).parts[0] + " (ours)"
    library = [part for part in parts if part.startswith("python3")]
    if library:
        module = parts[parts.index(library[0]) + 1]
        return module.removesuffix(".py")
    return "other"


class PerSiteProducts:
    """The router's sketch scoring before ``StackedSketches`` (kept as the baseline): one small product
    per site and question, then the one sort. Same scores; set as a router's ``_scorer``."""

    def scores(
        self, query: NDArray[np.float32], version: str, sketches: Mapping[str, SiteSketch], candidates: Sequence[str]
    ) -> SketchScores:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        scored, parts, sizes = [], [], []
        for site_id in candidates:
            sketch = sketches.get(site_id)
            if sketch is None or sketch.embedder_version != version or sketch.centroids is None:
                continue
            if sketch.centroids.shape[1] != vector.shape[0]:
                continue
            scored.append(site_id)
            parts.append(sketch.centroids @ vector)
            sizes.append(centroid_sizes(sketch))
        if not scored:
            return SketchScores({}, {})
        similarities, all_sizes = np.concatenate(parts), np.concatenate(sizes)
        best = np.asarray([float(part.max()) for part in parts])
        order = np.argsort(similarities, kind="stable")
        cumulative = np.concatenate([[0.0], np.cumsum(all_sizes[order])])
        ahead = cumulative[-1] - cumulative[np.searchsorted(similarities[order], best, side="right")]
        return SketchScores(
            {site_id: float(best[i]) for i, site_id in enumerate(scored)},
            {site_id: float(ahead[i]) for i, site_id in enumerate(scored)},
        )

    def clear(self) -> None:
        pass
