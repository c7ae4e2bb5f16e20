"""ServerApp round loop + ClientApp handlers, in one process over a loopback grid (no Ray).

The loopback grid delivers each message straight to the ClientApp of its node, as the simulation
engine would, so the rounds, the ledger, adaptive skips and DP accounting are checked quickly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import Context, Error, Message, RecordDict

from rag_fed.config import AdaptiveSettings, PrivacySettings, TrainingSettings
from rag_fed.training.client_app import build_client_app, sites_by_partition
from rag_fed.training.ledger import Ledger, RunManifest
from rag_fed.training.model import get_named_weights, load_model, train_local
from rag_fed.training.pairs import PairSplit, TrainingPair, save_pairs
from rag_fed.training.server_app import ServerPlan, run_rounds
from tests.rag_fed.training.conftest import synthetic_pairs

pytestmark = pytest.mark.integration


class LoopbackGrid:
    """The two Grid calls the ServerApp makes, served by in-process ClientApps (one per node)."""

    def __init__(self, sites: dict[str, Path], privacy: PrivacySettings | None) -> None:
        self.app = build_client_app(sites_by_partition(sites), privacy)
        self.contexts = {
            100 + i: Context(
                run_id=1, node_id=100 + i, node_config={"partition-id": i}, state=RecordDict(), run_config={}
            )
            for i in range(len(sites))
        }
        self.broken: set[int] = set()

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = []
        for message in messages:
            if message.metadata.dst_node_id in self.broken:
                replies.append(Message(Error(code=0, reason="site offline"), reply_to=message))
                continue
            # A real link serialises each message: a node never shares (or mutates) another's copy.
            delivered = copy.deepcopy(message)
            replies.append(self.app(delivered, self.contexts[message.metadata.dst_node_id]))
        return replies


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    # The simulation engine sets the process's task identity; strategies need it to address messages.
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
    yield


@pytest.fixture(scope="module")
def base_weights() -> dict[str, Any]:
    return get_named_weights(load_model("packaged", 64, 1))


def make_run(tmp_path: Path, sites: dict[str, Path], base: dict[str, Any], **config: Any) -> Path:
    tiny = {"max_seq_length": 64, "train_top_layers": 1, "batch_size": 8, "learning_rate": 5e-4, "round_timeout_s": 600}
    settings = TrainingSettings(**{**tiny, **config})
    manifest = RunManifest(
        run_id="loop",
        base_model="packaged",
        trainable_names=list(base),
        config=settings.model_dump(mode="json"),
        site_pair_paths={k: str(v) for k, v in sites.items()},
    )
    Ledger.create(tmp_path / "run", manifest).save_checkpoint(0, base)
    return tmp_path / "run"


def test_fedavg_round_records_both_sites_and_moves_weights(
    tmp_path: Path, site_pair_files: dict[str, Path], base_weights: dict[str, Any]
) -> None:
    run_dir = make_run(tmp_path, site_pair_files, base_weights)
    run_rounds(LoopbackGrid(site_pair_files, None), ServerPlan(run_dir, 1, 1))  # type: ignore[arg-type]
    ledger = Ledger.open(run_dir)
    [record] = ledger.rounds
    assert record.sites == ["plant-a", "plant-b"] and record.aggregated
    assert record.bytes_uploaded["plant-a"] > 7_000_000  # one MiniLM layer, float32
    assert {"num-examples", "uploaded", "val-mrr@10", "train-loss"} <= set(record.metrics["plant-a"])
    after = ledger.load_checkpoint(1)
    assert any(not np.array_equal(after[n], base_weights[n]) for n in base_weights)
    assert set(ledger.evaluation()) == {"plant-a", "plant-b"}


def test_sites_train_on_their_hard_negatives_with_the_runs_loss(
    tmp_path: Path, base_weights: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag_fed.training.client_app as client_app

    sites = {}
    for offset, site in enumerate(["plant-a", "plant-b"]):
        split = synthetic_pairs(offset, 20)
        hard = PairSplit(
            train=tuple(TrainingPair(p.query, p.positive, ("Checklist only: " + p.query,)) for p in split.train),
            val=split.val,
        )
        sites[site] = save_pairs(tmp_path / "pairs" / f"{site}.jsonl", hard)
    seen: list[tuple[str, int]] = []

    def recording(model: Any, pairs: Any, **options: Any) -> Any:
        seen.append((options["loss"], sum(len(pair.negatives) for pair in pairs)))
        return train_local(model, pairs, **options)

    monkeypatch.setattr(client_app, "train_local", recording)
    run_dir = make_run(tmp_path, sites, base_weights, loss="per_example")
    run_rounds(LoopbackGrid(sites, None), ServerPlan(run_dir, 1, 1, evaluate_final=False))  # type: ignore[arg-type]
    assert seen == [("per_example", 16), ("per_example", 16)]
    assert Ledger.open(run_dir).rounds[0].sites == ["plant-a", "plant-b"]


def test_adaptive_sites_skip_when_nothing_changes_and_bytes_are_saved(
    tmp_path: Path, site_pair_files: dict[str, Path], base_weights: dict[str, Any]
) -> None:
    never_again = AdaptiveSettings(metric_threshold=1.0, norm_jump_factor=1e6, min_report_fraction=0.5)
    run_dir = make_run(tmp_path, site_pair_files, base_weights, rounds=2, adaptive_uploads=True, adaptive=never_again)
    run_rounds(LoopbackGrid(site_pair_files, None), ServerPlan(run_dir, 1, 2, evaluate_final=False))  # type: ignore[arg-type]
    first, second = Ledger.open(run_dir).rounds
    assert first.aggregated and first.sites == ["plant-a", "plant-b"] and first.bytes_saved == 0
    assert not second.aggregated and second.sites == [] and second.skipped == ["plant-a", "plant-b"]
    # Both sites skipped an upload as large as the one they sent in round 1.
    assert second.bytes_saved == first.bytes_uploaded["plant-a"] + first.bytes_uploaded["plant-b"]
    assert all(m["uploaded"] == 0.0 for m in second.metrics.values())
    assert second.checkpoint_sha256 == first.checkpoint_sha256


def test_local_dp_run_reports_growing_epsilon_and_tolerates_a_failed_site(
    tmp_path: Path, site_pair_files: dict[str, Path], base_weights: dict[str, Any]
) -> None:
    privacy = PrivacySettings(clipping_norm=0.5, noise_multiplier=1.0)
    run_dir = make_run(tmp_path, site_pair_files, base_weights, rounds=2, privacy=privacy)
    grid = LoopbackGrid(site_pair_files, privacy)
    run_rounds(grid, ServerPlan(run_dir, 1, 1, evaluate_final=False))  # type: ignore[arg-type]
    grid.broken = {101}  # plant-b goes offline in round 2
    run_rounds(grid, ServerPlan(run_dir, 2, 2, evaluate_final=False))  # type: ignore[arg-type]
    first, second = Ledger.open(run_dir).rounds
    assert second.sites == ["plant-a"] and second.failed and "site offline" in second.failed[0]
    assert 0 < first.epsilon["plant-a"] < second.epsilon["plant-a"]
    assert second.epsilon["plant-b"] == first.epsilon["plant-b"]  # no release, no cost
    delta = {n: Ledger.open(run_dir).load_checkpoint(1)[n] - base_weights[n] for n in base_weights}
    assert np.sqrt(sum(float(np.sum(d * d)) for d in delta.values())) > 0.5  # noise std 0.5 per weight


def _sites_with_negatives(tmp_path: Path, names: list[str]) -> dict[str, Path]:
    """Synthetic sites whose pairs each carry two hard negatives (the next pairs' positives)."""
    sites = {}
    for offset, site in enumerate(names):
        split = synthetic_pairs(offset, 30)

        def own(pairs: tuple[TrainingPair, ...]) -> tuple[TrainingPair, ...]:
            n = len(pairs)
            return tuple(
                TrainingPair(p.query, p.positive, (pairs[(i + 1) % n].positive, pairs[(i + 2) % n].positive))
                for i, p in enumerate(pairs)
            )

        sites[site] = save_pairs(tmp_path / "pairs" / f"{site}.jsonl", PairSplit(own(split.train), own(split.val)))
    return sites


def test_a_dp_sgd_run_reports_finite_epsilon_per_site_growing_with_rounds(
    tmp_path: Path, base_weights: dict[str, Any]
) -> None:
    from rag_fed.training.dp_sgd import steps_per_epoch
    from rag_fed.training.privacy import DP_STEPS_METRIC

    sites = _sites_with_negatives(tmp_path, ["plant-a", "plant-b"])
    privacy = PrivacySettings(mode="dp_sgd", clipping_norm=1.0, noise_multiplier=1.0)
    run_dir = make_run(tmp_path, sites, base_weights, rounds=2, privacy=privacy, loss="per_example", batch_size=4)
    run_rounds(LoopbackGrid(sites, None), ServerPlan(run_dir, 1, 2, evaluate_final=False))  # type: ignore[arg-type]
    first, second = Ledger.open(run_dir).rounds
    assert first.sites == second.sites == ["plant-a", "plant-b"]
    for site in sites:
        assert np.isfinite(first.epsilon[site]) and 0 < first.epsilon[site] < second.epsilon[site]
        assert first.metrics[site][DP_STEPS_METRIC] == steps_per_epoch(24, 4)  # 30 pairs, 6 for validation
        assert 0 <= first.metrics[site]["dp-clipped-fraction"] <= 1
    after = Ledger.open(run_dir).load_checkpoint(2)
    assert any(not np.array_equal(after[n], base_weights[n]) for n in base_weights)


@pytest.mark.slow
def test_dp_sgd_under_secure_aggregation_is_still_accounted(tmp_path: Path, base_weights: dict[str, Any]) -> None:
    sites = _sites_with_negatives(tmp_path, ["plant-a", "plant-b", "plant-c"])
    privacy = PrivacySettings(mode="dp_sgd", clipping_norm=1.0, noise_multiplier=1.0)
    run_dir = make_run(
        tmp_path,
        sites,
        base_weights,
        privacy=privacy,
        loss="per_example",
        batch_size=4,
        min_sites=3,
        secure_aggregation=True,
    )
    run_rounds(SpyingGrid(sites), ServerPlan(run_dir, 1, 1, evaluate_final=False))  # type: ignore[arg-type]
    [record] = Ledger.open(run_dir).rounds
    assert record.sites == ["plant-a", "plant-b", "plant-c"] and record.aggregated
    assert all(np.isfinite(record.epsilon[site]) and record.epsilon[site] > 0 for site in sites)


def test_a_round_where_every_site_fails_stops_the_run(
    tmp_path: Path, site_pair_files: dict[str, Path], base_weights: dict[str, Any]
) -> None:
    from rag_fed.errors import TrainingError

    run_dir = make_run(tmp_path, site_pair_files, base_weights)
    grid = LoopbackGrid(site_pair_files, None)
    grid.broken = {100, 101}
    with pytest.raises(TrainingError, match="no site finished training"):
        run_rounds(grid, ServerPlan(run_dir, 1, 1))  # type: ignore[arg-type]
    assert Ledger.open(run_dir).rounds == []


@pytest.mark.slow
def test_secure_aggregation_gives_the_plain_mean_without_revealing_an_update(
    tmp_path: Path, base_weights: dict[str, Any]
) -> None:
    from rag_fed.training.pairs import save_pairs
    from tests.rag_fed.training.conftest import synthetic_pairs

    sites = {
        site: save_pairs(tmp_path / "pairs" / f"{site}.jsonl", synthetic_pairs(offset, 30))
        for offset, site in enumerate(["plant-a", "plant-b", "plant-c"])
    }
    plain_dir = make_run(tmp_path / "plain", sites, base_weights, min_sites=3)
    run_rounds(LoopbackGrid(sites, None), ServerPlan(plain_dir, 1, 1, evaluate_final=False))  # type: ignore[arg-type]
    secure_dir = make_run(tmp_path / "secure", sites, base_weights, min_sites=3, secure_aggregation=True)
    grid = SpyingGrid(sites)
    run_rounds(grid, ServerPlan(secure_dir, 1, 1, evaluate_final=False))  # type: ignore[arg-type]
    [record] = Ledger.open(secure_dir).rounds
    assert record.sites == ["plant-a", "plant-b", "plant-c"] and record.aggregated
    assert set(record.metrics) == {"plant-a", "plant-b", "plant-c"}
    plain, secure = Ledger.open(plain_dir).load_checkpoint(1), Ledger.open(secure_dir).load_checkpoint(1)
    # Equal-sized sites: FedAvg's weighted mean equals SecAgg+'s equal-weight mean, up to quantisation.
    assert all(np.allclose(plain[n], secure[n], atol=2e-5) for n in plain)
    assert any(not np.allclose(secure[n], base_weights[n], atol=1e-4) for n in plain)
    # No reply carried a site's weights in the clear: array records are emptied by secaggplus_mod.
    assert grid.replies and all(
        len(array) == 0 for reply in grid.replies for array in reply.content.array_records.values()
    )
    assert all(size > 7_000_000 for size in record.bytes_uploaded.values())  # the masked vectors


class SpyingGrid(LoopbackGrid):
    def __init__(self, sites: dict[str, Path]) -> None:
        super().__init__(sites, None)
        self.replies: list[Message] = []

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = list(super().send_and_receive(messages, timeout=timeout))
        self.replies.extend(r for r in replies if "secaggplus_configs" in r.content.config_records)
        return replies
