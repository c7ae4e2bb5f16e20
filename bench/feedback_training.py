"""Fine-tuning on engineers' feedback (issue 15): judged queries stand in for a site's feedback log.

Protocol (Cranfield: 1,400 abstracts, 225 judged queries): the queries are shuffled with ``--seed`` and
split in halves; the corpus is split into 3 sites by k-means on the base model's document embeddings
(``site_documents`` of bench/federated_training.py). Each training query goes to the feedback log of the
site that holds most of its relevant documents: those documents (at that site) are judged useful, and the
site's other documents among its top ``--shown`` for the query (what an answer showed) not useful. Each
site builds its pairs with ``rag_fed.training.feedback_pairs`` (hard negatives from its own ranking with
the base model) and splits them by question as ``mine_site_pairs`` does. Evaluation: nDCG@10 and
Recall@100 of the held-out half over the whole corpus.

Systems: base; centralized (the sites' pairs pooled); federated (Flower simulation, FedAvg, 3 sites);
best single site; federated with local DP at ``--dp-epsilon`` (and ``--dp-epsilon-2``); federated with
adaptive uploads. Centralized and single-site training run the rounds as a site does: ``--rounds`` calls
of ``train_local`` of ``--local-epochs`` each, a fresh optimizer per round.

``--select`` first chooses learning rate, trained layers, hard negatives, loss, pair source and rounds on
the training half alone: its questions are split again (2/3 fit, 1/3 check, seeded), the candidates (``GRID``, a
greedy search: each changes one setting of the best so far) train centralized on the fit part and are scored
by nDCG@10 of the check third over the whole corpus after each of ``--max-rounds`` rounds; the held-out half is
never looked at. The best candidate, at its best round, then runs every system.

``--dataset emanual_s10 --folds 5``: the Galaxy S10 manual's 50 questions in 5 folds, base and
centralized only (hyperparameters as given, not chosen on S10).

    .venv/bin/python -u bench/feedback_training.py --select [--skip dp2] [--out bench/results/feedback_training.json]
    .venv/bin/python -u bench/feedback_training.py --dataset emanual_s10 --folds 5 --learning-rate 5e-5 ...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script: its siblings are imported as bench.*
    sys.path.insert(0, str(_REPO))

from bench._feedback_bench import METRICS, Bench, train_rounds  # noqa: E402
from bench.federated_training import REPO, SITES, federated  # noqa: E402
from bench.training_measures import command_line, start_measuring  # noqa: E402
from eval.datasets import load_beir  # noqa: E402
from rag_fed.config import AdaptiveSettings, PrivacySettings, TrainingSettings  # noqa: E402
from rag_fed.training.dp_sgd import noise_for_target_epsilon  # noqa: E402
from rag_fed.training.model import load_model, set_weights  # noqa: E402
from rag_fed.training.privacy import noise_for_epsilon  # noqa: E402

DEFAULTS = TrainingSettings()

# Candidates for --select, tried in this order, each as a change to the best settings so far (greedy
# coordinate search from the command line's settings): kept when it beats every earlier candidate.
GRID: tuple[tuple[str, dict[str, Any]], ...] = (
    # The search's starting point, whatever the command line says (the run that chose today's defaults).
    ("start: top 2 layers, lr 5e-5, 3 negatives", {"top_layers": 2, "learning_rate": 5e-5, "hard_negatives": 3}),
    ("no hard negatives", {"hard_negatives": 0}),
    ("lr 2e-5", {"learning_rate": 2e-5}),
    ("all 6 layers", {"top_layers": 6}),
    ("1 negative", {"hard_negatives": 1}),
    ("7 negatives", {"hard_negatives": 7}),
    ("per-example loss, 3 negatives", {"loss": "per_example", "hard_negatives": 3}),
    ("feedback + document pairs", {"source": "both"}),
)


def select(bench: Bench, train_half: list[int], scratch: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The best candidate of GRID by nDCG@10 of a slice of the training half (see the docstring)."""
    args = bench.args
    order = list(train_half)
    random.Random(args.seed + 1).shuffle(order)
    n_check = round(len(order) * args.check_fraction)
    check, fit = order[:n_check], order[n_check:]
    logs = bench.logs(fit, scratch / "select")
    trials: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for label, change in GRID:
        candidate = {**current, **change}
        chosen = {**vars(args), **candidate}
        splits = bench.splits(logs, chosen["hard_negatives"], chosen["source"])
        pooled = [p for split in splits.values() for p in split.train]
        config = _config(chosen, rounds=args.max_rounds)
        layers = chosen["top_layers"]
        model, base = bench.model(layers)
        bench.vectors_for(layers)
        curve = [bench.metrics(model, layers, check)["ndcg@10"]]

        def after(_: int, model: Any = model, layers: int = layers, curve: list[float] = curve) -> None:
            curve.append(bench.metrics(model, layers, check)["ndcg@10"])

        seconds = train_rounds(model, base, pooled, config, after)
        best_round = int(np.argmax(curve[1:])) + 1
        kept = not trials or curve[best_round] > max(trial["best"] for trial in trials)
        if kept:
            current = candidate
        trials.append(
            {
                "label": label,
                "settings": candidate,
                "pairs": len(pooled),
                "ndcg@10 by round": curve,
                "best round": best_round,
                "best": curve[best_round],
                "kept": kept,
                "seconds": seconds,
            }
        )
        print(
            f"  select {label}: {len(pooled)} pairs, nDCG@10 by round {[round(v, 4) for v in curve]}"
            f"{' (kept)' if kept else ''}, {seconds:.0f} s",
            flush=True,
        )
    winner = max(trials, key=lambda trial: trial["best"])
    report["selection"] = {
        "check queries": len(check),
        "fit queries": len(fit),
        "trials": trials,
        "chosen": winner["settings"],
        "rounds": winner["best round"],
    }
    return {**winner["settings"], "rounds": winner["best round"]}


def run_systems(
    bench: Bench, train_half: list[int], held_out: list[int], scratch: Path, report: dict[str, Any]
) -> None:
    args = bench.args
    config = _config(vars(args), rounds=args.rounds)
    report["config"] = config.model_dump(mode="json")
    logs = bench.logs(train_half, scratch / "logs")
    splits = bench.splits(logs, args.hard_negatives, args.source)
    report["judgements_per_site"] = {site: len(log) for site, log in logs.items()}
    report["train_pairs_per_site"] = {site: len(split.train) for site, split in splits.items()}
    report["val_pairs_per_site"] = {site: len(split.val) for site, split in splits.items()}
    model, base = bench.model(args.top_layers)
    bench.vectors_for(args.top_layers)
    layers = args.top_layers

    def record(name: str, values: dict[str, float]) -> None:
        for metric, value in values.items():
            report.setdefault(metric, {})[name] = value
        print(f"  {name}: " + ", ".join(f"{m} {v:.4f}" for m, v in values.items()), flush=True)

    def evaluate_folder(folder: Path) -> dict[str, float]:
        return bench.metrics(load_model(str(folder), args.max_seq_length, layers or None), layers, held_out)

    record("base", bench.metrics(model, layers, held_out))
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if "centralized" not in skip:
        started = time.perf_counter()
        pooled = [p for split in splits.values() for p in split.train]
        report["seconds"]["centralized training"] = train_rounds(model, base, pooled, config)
        record("centralized", bench.metrics(model, layers, held_out))
        report["seconds"]["centralized"] = time.perf_counter() - started
    if "single" not in skip:
        single = {}
        for site, split in splits.items():
            train_rounds(model, base, split.train, config)
            single[site] = bench.metrics(model, layers, held_out)
        best = max(single, key=lambda site: single[site]["ndcg@10"])
        report["single_sites"], report["best_single_site"] = single, best
        record("best single site", single[best])
    runs: list[tuple[str, TrainingSettings]] = [] if "federated" in skip else [("federated", config)]
    sizes = sorted({len(split.train) for split in splits.values()})
    for name, epsilon in (("dp", args.dp_epsilon), ("dp2", args.dp_epsilon_2)):
        if name not in skip:
            runs.append(
                (f"federated+{_DP_LABEL[args.dp_mode]} eps {epsilon:g}", _private(config, epsilon, sizes, args))
            )
    if "adaptive" not in skip:
        adaptive = AdaptiveSettings(
            metric_threshold=args.adaptive_threshold, norm_jump_factor=args.adaptive_norm_jump, min_report_fraction=0.3
        )
        runs.append(("adaptive", config.model_copy(update={"adaptive_uploads": True, "adaptive": adaptive})))
    for name, run_config in runs:
        started = time.perf_counter()
        result = federated(name, splits, run_config, scratch, evaluate_folder, report)
        print(f"  {name}: " + ", ".join(f"{m} {report[m][name]:.4f}" for m in METRICS), flush=True)
        if run_config.privacy is not None:
            report.setdefault("dp", {})[name] = {
                **run_config.privacy.model_dump(),
                "epsilon": result.rounds[-1].epsilon,
                "clipped fraction": {
                    site: metrics.get("dp-clipped-fraction") for site, metrics in result.rounds[-1].metrics.items()
                },
            }
            print(f"  {name}: epsilon {result.rounds[-1].epsilon}", flush=True)
        report["seconds"][name] = time.perf_counter() - started


def k_fold(bench: Bench, scratch: Path, report: dict[str, Any]) -> None:
    """Base and centralized on each fold's held-out questions; the means over all questions."""
    args = bench.args
    order = list(range(len(bench.dataset.queries)))
    random.Random(args.seed).shuffle(order)
    config = _config(vars(args), rounds=args.rounds)
    report["config"] = config.model_dump(mode="json")
    model, base = bench.model(args.top_layers)
    bench.vectors_for(args.top_layers)
    totals = {"base": dict.fromkeys(METRICS, 0.0), "centralized": dict.fromkeys(METRICS, 0.0)}
    folds = []
    for fold in range(args.folds):
        held_out = order[fold :: args.folds]
        training = [q for q in order if q not in set(held_out)]
        splits = bench.splits(bench.logs(training, scratch / f"fold-{fold}"), args.hard_negatives, args.source)
        pooled = [p for split in splits.values() for p in split.train]
        set_weights(model, base)
        before = bench.metrics(model, args.top_layers, held_out)
        train_rounds(model, base, pooled, config)
        after = bench.metrics(model, args.top_layers, held_out)
        folds.append({"held out": len(held_out), "train pairs": len(pooled), "base": before, "centralized": after})
        for metric in METRICS:
            totals["base"][metric] += before[metric] * len(held_out)
            totals["centralized"][metric] += after[metric] * len(held_out)
        print(f"  fold {fold}: {len(pooled)} pairs, base {before}, centralized {after}", flush=True)
    report["folds"] = folds
    for name, sums in totals.items():
        for metric, value in sums.items():
            report.setdefault(metric, {})[name] = value / len(order)


_DP_LABEL = {"local": "local DP", "dp_sgd": "DP-SGD"}


def _private(config: TrainingSettings, epsilon: float, sizes: list[int], args: argparse.Namespace) -> TrainingSettings:
    """``config`` with DP at ``epsilon`` (delta 1e-5) for every site: local DP's noise from the rounds,
    DP-SGD's from Opacus's get_noise_multiplier, the largest any site's pair count needs; DP-SGD
    always trains with the per-example loss (the in-batch one is refused with it)."""
    if args.dp_mode == "local":
        return config.model_copy(update={"privacy": noise_for_epsilon(epsilon, config.rounds, args.dp_clip, 1e-5)})
    multiplier = max(
        noise_for_target_epsilon(epsilon, 1e-5, n, config.batch_size, config.local_epochs, config.rounds) for n in sizes
    )

    privacy = PrivacySettings(mode="dp_sgd", clipping_norm=args.dp_sgd_clip, noise_multiplier=multiplier, delta=1e-5)
    return config.model_copy(update={"privacy": privacy, "loss": "per_example"})


def _config(values: dict[str, Any], rounds: int) -> TrainingSettings:
    return TrainingSettings(
        rounds=rounds,
        local_epochs=values["local_epochs"],
        learning_rate=values["learning_rate"],
        batch_size=values["batch_size"],
        max_seq_length=values["max_seq_length"],
        train_top_layers=values["top_layers"] or None,
        min_sites=len(SITES),
        seed=values["seed"],
        loss=values["loss"],
    )


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    ndcg = report["ndcg@10"]
    gain = ndcg["centralized"] - ndcg["base"] if "centralized" in ndcg else 0.0
    summary: dict[str, Any] = {"centralized gain (points)": 100 * gain}
    for name in ndcg:
        if name not in ("base", "centralized"):
            summary[f"{name} share of centralized gain"] = (ndcg[name] - ndcg["base"]) / gain if gain else None
    if "adaptive" in report.get("rounds", {}):
        full = sum(r["bytes_uploaded"] for r in report["rounds"]["federated"])
        sent = sum(r["bytes_uploaded"] for r in report["rounds"]["adaptive"])
        summary["adaptive bytes / full bytes"] = sent / full if full else None
        summary["adaptive nDCG@10 change (points)"] = 100 * (ndcg["adaptive"] - ndcg["federated"])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--dataset", default="cranfield")
    parser.add_argument("--select", action="store_true", help="choose the settings on the training half first")
    parser.add_argument("--max-rounds", type=int, default=2, help="--select: rounds each candidate is scored after")
    parser.add_argument("--check-fraction", type=float, default=1 / 3, help="--select: training-half share scored")
    parser.add_argument("--select-only", action="store_true", help="stop after --select")
    parser.add_argument("--folds", type=int, default=0, help="k-fold, base and centralized only (0: halves)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--local-epochs", type=int, default=1)
    # Defaults are ragfed's own ([training] and [training.pairs]), so the bench measures what an operator gets.
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    parser.add_argument(
        "--top-layers",
        type=int,
        default=DEFAULTS.train_top_layers or 0,
        help="0: every weight, the word embeddings too",
    )
    parser.add_argument("--hard-negatives", type=int, default=DEFAULTS.pairs.hard_negatives)
    parser.add_argument("--loss", choices=["in_batch", "per_example"], default=DEFAULTS.loss)
    parser.add_argument("--source", choices=["feedback", "both"], default="feedback")
    parser.add_argument("--shown", type=int, default=5, help="top documents a site's answer showed per question")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--max-seq-length", type=int, default=DEFAULTS.max_seq_length)
    parser.add_argument("--dp-epsilon", type=float, default=8.0)
    parser.add_argument("--dp-epsilon-2", type=float, default=2.0)
    parser.add_argument("--dp-mode", choices=["local", "dp_sgd"], default="dp_sgd", help="DP rows: which DP")
    parser.add_argument("--dp-clip", type=float, default=5e-4, help="local DP: clipping norm of an update")
    parser.add_argument("--dp-sgd-clip", type=float, default=1.0, help="DP-SGD: clipping norm of an example")
    parser.add_argument("--adaptive-threshold", type=float, default=0.02)
    parser.add_argument("--adaptive-norm-jump", type=float, default=1.5)
    parser.add_argument("--skip", default="", help="comma list of: centralized, single, federated, dp, dp2, adaptive")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "feedback_training.json")
    args = parser.parse_args()
    wants_dp = not {"dp", "dp2"} <= {part.strip() for part in args.skip.split(",")}
    if wants_dp and args.dp_mode == "dp_sgd" and args.hard_negatives < 1:
        parser.error("DP-SGD rows train each pair against its own negatives: --hard-negatives >= 1 (or --skip dp,dp2)")
    memory, wall = start_measuring()
    dataset = load_beir(args.datasets / args.dataset / "beir")
    report: dict[str, Any] = {
        "command": command_line("feedback_training.py", args),
        "seconds": {},
        "load_average_start": os.getloadavg(),
    }
    bench = Bench(dataset, args)
    report["documents_per_site"] = {site: len(g) for site, g in zip(SITES, bench.groups, strict=True)}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        if args.folds:
            k_fold(bench, scratch, report)
        else:
            order = list(range(len(dataset.queries)))
            random.Random(args.seed).shuffle(order)
            train_half, held_out = order[: len(order) // 2], order[len(order) // 2 :]
            report["queries"] = {"train half": len(train_half), "held out": len(held_out)}
            if args.select:
                started = time.perf_counter()
                for key, value in select(bench, train_half, scratch, report).items():
                    setattr(args, key, value)
                report["seconds"]["selection"] = time.perf_counter() - started
                print(f"chosen: {report['selection']['chosen']}, {args.rounds} rounds", flush=True)
            if not args.select_only:
                run_systems(bench, train_half, held_out, scratch, report)
                report["summary"] = summarise(report)
    report["peak_memory_gib"] = memory.stop() / 2**30
    report["wall_seconds"] = time.perf_counter() - wall
    report["load_average_end"] = os.getloadavg()
    print(json.dumps({k: report[k] for k in (*METRICS, "ndcg@10 binary", "summary") if k in report}, indent=2))
    print(
        f"peak memory {report['peak_memory_gib']:.1f} GiB; wall {report['wall_seconds']:.0f} s; "
        f"load average {report['load_average_start']} -> {report['load_average_end']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
