"""``ragfed eval run``: benchmark configurations side by side on a dataset and write a report.

Registered into the ``ragfed`` command through the ``ragfed.commands`` entry point, so the core CLI
never imports the evaluation layer.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console

from rag_fed.errors import InputError, RagFedError

if TYPE_CHECKING:  # the harness is imported by the command itself: `ragfed --help` must not load it
    from eval._records import EvalDataset
    from eval.site_systems import SystemSetup
    from eval.systems import RetrievalSystem
    from rag_fed.config import AnswerStrategy, GeneratorSettings, Settings
    from rag_fed.embedders.base import Embedder
    from rag_fed.generators import Generator
    from rag_fed.types import SearchMode

    SystemFactory = Callable[[SystemSetup], RetrievalSystem]

__all__ = ["ANSWER_PASSAGES", "CONFIGS", "eval_app", "register"]

# The gateway's default k (``default_k`` in rag_fed/coordinator/settings.py): a site composes its evidence from
# that many passages, whatever depth the benchmark ranks to; tests/eval/test_cli_defaults.py keeps them equal.
ANSWER_PASSAGES = 5

eval_app = typer.Typer(help="Benchmark retrieval and answers: federated vs centralized.", no_args_is_help=True)
console = Console()


def _local(name: str) -> SystemFactory:
    def build(setup: SystemSetup) -> RetrievalSystem:
        from eval import site_systems

        system: RetrievalSystem = getattr(site_systems, name)(setup)
        return system

    return build


def _federated(selection: str) -> SystemFactory:
    def build(setup: SystemSetup) -> RetrievalSystem:
        from eval.federated_systems import FederatedSystem  # the router stack is only loaded when asked for

        return FederatedSystem(setup, selection=selection)

    return build


CONFIGS: dict[str, SystemFactory] = {
    "centralized": _local("CentralizedSystem"),
    "federated": _federated("all"),
    "routed": _federated("sketch"),
    "local-best": _local("LocalBestSystem"),
    "top-passage": _local("TopPassageSystem"),
}


def _limit(dataset: EvalDataset, max_queries: int | None) -> EvalDataset:
    from eval._records import EvalDataset

    if max_queries is None:
        return dataset
    # The first N queries as the dataset lists them, judged or not: a QA set without gold passages is
    # evaluated on its answers (a BEIR loader already keeps only the judged queries).
    first = dataset.queries[:max_queries]
    return EvalDataset(dataset.name, dataset.corpus, first, dataset.source, dataset.description)


def _generator_factory(settings: GeneratorSettings) -> Callable[[], Generator]:
    from rag_fed.generators import clear_generator_cache, load_generator

    def fresh() -> Generator:
        # A model instance of its own for every site and for the centre, as in a deployment: the
        # factory caches one instance per settings, so forget it before each load.
        clear_generator_cache()
        return load_generator(settings)

    return fresh


def _search_mode(mode: str) -> SearchMode:
    from typing import get_args

    from rag_fed.types import SearchMode

    if mode in get_args(SearchMode):
        return cast(SearchMode, mode)
    raise InputError(f"mode must be dense, keyword or hybrid, not {mode!r}")


def _answer_strategy(strategy: str) -> AnswerStrategy:
    if strategy not in ("extractive", "grounded", "generative"):
        raise InputError(f"unknown answer strategy {strategy!r}; choose extractive, grounded or generative")
    return cast("AnswerStrategy", strategy)


def _query_embedder(embedder: Embedder, threads: int | None) -> tuple[Embedder, str]:
    """The embedder queries use (on ``threads`` torch threads when given; indexing keeps torch's own
    count) and how the report names both counts."""
    import torch  # loaded by the embedder anyway

    from eval.query_threads import QueryThreadsEmbedder

    default = torch.get_num_threads()
    if threads is None:
        return embedder, f"torch threads {default}"
    return QueryThreadsEmbedder(embedder, threads), f"torch threads {threads} for queries, {default} for indexing"


def _generator_note(settings: Settings, strategy: AnswerStrategy, site_answers: bool) -> str:
    model = settings.generator
    if strategy == "extractive":
        return "none: extractive answers (evidence only); top-passage quotes the best passage"
    where = f"{model.backend} {model.model_path}, {model.threads} thread(s): "
    what = (
        f"{strategy} answers over the evidence of each site's top {ANSWER_PASSAGES} passages, composed by the "
        "central model in the federated configs and by the site's model in the local ones"
    )
    return where + what + ("; site models phrase their own evidence too" if site_answers else "")


@eval_app.command("run")
def run(
    dataset: Annotated[Path, typer.Option(help="BEIR folder, QA JSONL, MaintNorm or NIST excavator data.")],
    out: Annotated[Path, typer.Option(help="Folder for report.json, report.md, report.html and plots.")],
    split: Annotated[str, typer.Option(help="field:NAME | cluster:N | random:N")] = "cluster:3",
    configs: Annotated[str, typer.Option(help="Comma-separated: " + ", ".join(CONFIGS))] = "centralized,federated",
    mode: Annotated[str, typer.Option(help="Site search mode: dense, keyword or hybrid.")] = "dense",
    seed: Annotated[int, typer.Option(help="Seed of the split and of synthetic queries.")] = 0,
    k: Annotated[
        int, typer.Option(min=1, max=1000, help="Documents per query (100 adds recall@100; from at most 100 passages).")
    ] = 10,
    max_queries: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N queries.")] = None,
    training_log: Annotated[
        Path | None,
        typer.Option(help="Training run directory or its ledger.json, or a JSON list of {round, metric...}: plotted."),
    ] = None,
    answers: Annotated[
        bool, typer.Option(help="Generate and score answers for queries that have a reference answer.")
    ] = True,
    strategy: Annotated[
        str, typer.Option(help="How answers are composed from evidence: extractive, grounded or generative.")
    ] = "grounded",
    site_answers: Annotated[
        bool,
        typer.Option(help="Federated configs: each site's model also phrases a checked answer over its evidence."),
    ] = False,
    deadline_s: Annotated[float, typer.Option(min=1.0, help="The router's deadline per query, seconds.")] = 300.0,
    torch_threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="Torch threads while a query is embedded (indexing keeps torch's default); default: torch's."
        ),
    ] = None,
    embedding_cache: Annotated[
        Path | None, typer.Option(help="A .npz file of document vectors to reuse across runs (written back).")
    ] = None,
) -> None:
    """Index the dataset once per configuration, run every query, write the report."""
    from eval.datasets import load_dataset
    from eval.embedding_cache import CachingEmbedder
    from eval.report import write_report
    from eval.runner import run_eval
    from eval.site_systems import SystemSetup
    from eval.splits import split_corpus
    from rag_fed.config import get_settings
    from rag_fed.embedders import load_embedder

    command = shlex.join(["ragfed", *sys.argv[1:]])
    try:
        names = [name.strip() for name in configs.split(",") if name.strip()]
        unknown = [name for name in names if name not in CONFIGS]
        if unknown or not names:
            raise InputError(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
        search_mode = _search_mode(mode)
        answer_strategy = _answer_strategy(strategy)
        data = _limit(load_dataset(dataset, seed=seed), max_queries)
        sites = split_corpus(data, split, seed=seed)
        settings = get_settings()
        embedder = load_embedder(settings.embedder)
        query_embedder, threads = _query_embedder(embedder, torch_threads)
        answering = answers and any(query.answer is not None for query in data.queries)
        index_embedder = CachingEmbedder(embedder)
        cached = index_embedder.load(embedding_cache) if embedding_cache is not None else 0
        config = {
            "search mode": search_mode,
            "embedder": f"{settings.embedder.model} ({embedder.model_version}), {threads}",
            "generator": _generator_note(settings, answer_strategy, site_answers)
            if answering
            else "none (no answers generated)",
            "router deadline s": f"{deadline_s:g}",
            "indexing": "documents embedded once, vectors reused by every configuration"
            + (f"; {cached} vectors loaded from {embedding_cache}" if embedding_cache is not None else ""),
        }
        with tempfile.TemporaryDirectory(prefix="ragfed-eval-") as scratch:
            systems = []
            for name in names:
                setup = SystemSetup(
                    settings=settings.model_copy(update={"data_dir": Path(scratch) / name}),
                    embedder=query_embedder,
                    mode=search_mode,
                    index_embedder=index_embedder,
                    generator_factory=_generator_factory(settings.generator)
                    if answering and answer_strategy != "extractive"
                    else None,
                    strategy=answer_strategy if answering else None,
                    deadline_s=deadline_s,
                    answer_passages=ANSWER_PASSAGES,
                    site_answers=site_answers,
                )
                systems.append(CONFIGS[name](setup))
            try:
                result = run_eval(
                    data,
                    systems,
                    k=k,
                    sites=sites,
                    split_spec=split,
                    seed=seed,
                    dataset_path=str(dataset),
                    command=command,
                    answers=answering,
                    config=config,
                )
                if embedding_cache is not None:
                    index_embedder.save(embedding_cache)
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
        cells = "  ".join(f"{name} {value:.4f}" for name, value in {**report.retrieval, **report.answers}.items())
        console.print(f"{report.name:<12} {cells}", highlight=False)
    for note in result.notes:
        if note.startswith("No query has"):  # a kind of metric left out: say why beside the numbers
            console.print(f"note: {note}", highlight=False)
    console.print(f"report: {', '.join(str(path) for path in written)}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
