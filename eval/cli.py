"""``ragfed eval run``: benchmark configurations side by side on a dataset and write a report.

Registered into the ``ragfed`` command through the ``ragfed.commands`` entry point, so the core CLI
never imports the evaluation layer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from eval._records import EvalDataset
from eval.datasets import load_dataset
from eval.report import write_report
from eval.runner import run_eval
from eval.site_systems import CentralizedSystem, LocalBestSystem
from eval.splits import split_corpus
from eval.systems import RetrievalSystem
from rag_fed.config import Settings, get_settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import InputError, RagFedError
from rag_fed.types import SearchMode

__all__ = ["CONFIGS", "eval_app", "register"]

eval_app = typer.Typer(help="Benchmark retrieval and answers: federated vs centralized.", no_args_is_help=True)
console = Console()

SystemFactory = Callable[[Settings, Embedder, SearchMode], RetrievalSystem]


def _federated(selection: str) -> SystemFactory:
    def build(settings: Settings, embedder: Embedder, mode: SearchMode) -> RetrievalSystem:
        from eval.federated_systems import FederatedSystem  # the router stack is only loaded when asked for

        return FederatedSystem(settings, embedder, mode, selection=selection)

    return build


CONFIGS: dict[str, SystemFactory] = {
    "centralized": CentralizedSystem,
    "federated": _federated("all"),
    "routed": _federated("sketch"),
    "local-best": LocalBestSystem,
}


def _limit(dataset: EvalDataset, max_queries: int | None) -> EvalDataset:
    if max_queries is None:
        return dataset
    judged = [q for q in dataset.queries if q.gold_doc_ids][:max_queries]
    return EvalDataset(dataset.name, dataset.corpus, judged, dataset.source, dataset.description)


@eval_app.command("run")
def run(
    dataset: Annotated[Path, typer.Option(help="BEIR folder, QA JSONL, MaintNorm or NIST excavator data.")],
    out: Annotated[Path, typer.Option(help="Folder for report.json, report.md, report.html and plots.")],
    split: Annotated[str, typer.Option(help="field:NAME | cluster:N | random:N")] = "cluster:3",
    configs: Annotated[str, typer.Option(help="Comma-separated: " + ", ".join(CONFIGS))] = "centralized,federated",
    mode: Annotated[str, typer.Option(help="Site search mode: dense, keyword or hybrid.")] = "dense",
    seed: Annotated[int, typer.Option(help="Seed of the split and of synthetic queries.")] = 0,
    k: Annotated[int, typer.Option(min=1, max=1000, help="Results per query (100 adds recall@100).")] = 10,
    max_queries: Annotated[int | None, typer.Option(help="Evaluate only the first N judged queries.")] = None,
    training_log: Annotated[Path | None, typer.Option(help="Federated training log JSON for curves.")] = None,
) -> None:
    """Index the dataset once per configuration, run every query, write the report."""
    try:
        names = [name.strip() for name in configs.split(",") if name.strip()]
        unknown = [name for name in names if name not in CONFIGS]
        if unknown or not names:
            raise InputError(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
        if mode not in ("dense", "keyword", "hybrid"):
            raise InputError(f"mode must be dense, keyword or hybrid, not {mode!r}")
        data = _limit(load_dataset(dataset), max_queries)
        sites = split_corpus(data, split, seed=seed)
        settings = get_settings()
        embedder = load_embedder(settings.embedder)
        with tempfile.TemporaryDirectory(prefix="ragfed-eval-") as scratch:
            systems = []
            for name in names:
                system_settings = settings.model_copy(update={"data_dir": Path(scratch) / name})
                systems.append(CONFIGS[name](system_settings, embedder, mode))  # type: ignore[arg-type]
            try:
                result = run_eval(
                    data, systems, k=k, sites=sites, split_spec=split, seed=seed, dataset_path=str(dataset)
                )
            finally:
                for system in systems:
                    close = getattr(system, "close", None)
                    if callable(close):
                        close()
        written = write_report(result, out, training_log=training_log)
    except RagFedError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(code=1) from error
    for report in result.systems:
        cells = "  ".join(f"{name} {value:.4f}" for name, value in report.retrieval.items())
        console.print(f"{report.name:<12} {cells}", highlight=False)
    console.print(f"report: {', '.join(str(path) for path in written)}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
