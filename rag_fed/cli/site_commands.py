"""Site admin commands: create a site, ingest, list and delete documents, search, ask, index checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag_fed.cli.common import console, error_console, reports_errors
from rag_fed.config import get_settings
from rag_fed.site import FileResult, Site
from rag_fed.site.ingest import expand_paths
from rag_fed.types import SearchMode

__all__ = ["docs_app", "index_app", "register", "site_app"]

site_app = typer.Typer(help="Create and list sites.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete a site's documents.", no_args_is_help=True)
index_app = typer.Typer(help="Check and rebuild a site's index.", no_args_is_help=True)

SiteOption = Annotated[str, typer.Option("--site", "-s", help="Site id, e.g. acme-plant-1.")]
ModeOption = Annotated[
    str | None, typer.Option("--mode", "-m", help="dense, keyword or hybrid (default: search.mode setting).")
]


def _mode(value: str | None) -> SearchMode | None:
    if value is not None and value not in ("dense", "keyword", "hybrid"):
        raise typer.BadParameter(f"mode must be dense, keyword or hybrid, not {value!r}")
    return value  # type: ignore[return-value]


@site_app.command("init")
@reports_errors
def site_init(site_id: Annotated[str, typer.Argument(help="New site id.")]) -> None:
    """Create a site's data directory and key pair."""
    layout = Site.init(site_id, get_settings())
    console.print(f"created site [bold]{site_id}[/] at {layout.root}")
    console.print(f"public key: {(layout.keys_dir / 'public.key').read_text().strip()}")


@site_app.command("list")
@reports_errors
def site_list() -> None:
    """List the sites under the data directory."""
    data_dir = get_settings().data_dir
    sites = sorted(p.parent.name for p in data_dir.glob("*/site.json")) if data_dir.is_dir() else []
    if not sites:
        console.print(f"no sites under {data_dir}; create one with `ragfed site init ID`")
    for site_id in sites:
        console.print(site_id)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    site: SiteOption,
) -> None:
    """Ingest manuals (PDF, HTML, Markdown, text) and work-order logs (CSV, JSON, JSONL)."""
    with Site.open(site, get_settings()) as node:
        total = sum(1 for _ in expand_paths(paths))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"ingesting into {site}", total=total)

            def on_file(result: FileResult) -> None:
                progress.advance(task)
                if result.status == "failed":
                    progress.console.print(f"[red]failed[/] {escape(result.error or '')}", highlight=False)

            report = node.ingest(paths, on_file)
        _print_ingest_summary(report.files, report.seconds, node.chunk_count)
    if report.failed:
        raise typer.Exit(code=1 if len(report.failed) == len(report.files) else 0)


def _print_ingest_summary(files: list[FileResult], seconds: float, total_chunks: int) -> None:
    counts = {
        status: sum(1 for f in files if f.status == status) for status in ("added", "updated", "unchanged", "failed")
    }
    chunks = sum(f.chunks for f in files)
    removed = sum(f.removed for f in files)
    console.print(
        f"{len(files)} files: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed; "
        f"{chunks} chunks written, {removed} documents removed in {seconds:.1f} s; "
        f"the site now holds {total_chunks} chunks"
    )


@docs_app.command("list")
@reports_errors
def docs_list(site: SiteOption) -> None:
    """List documents with chunk counts and when they were added."""
    with Site.open(site, get_settings()) as node:
        documents = node.list_documents()
    table = Table("document", "kind", "chunks", "added (UTC)", "title")
    for doc in documents:
        table.add_row(escape(doc.doc_id), doc.kind, str(doc.chunk_count), doc.added_at, escape(doc.title))
    console.print(table)
    console.print(f"{len(documents)} documents")


@docs_app.command("delete")
@reports_errors
def docs_delete(doc_id: Annotated[str, typer.Argument(help="Document id from `docs list`.")], site: SiteOption) -> None:
    """Delete a document: its chunks, vectors and keyword entries are removed."""
    with Site.open(site, get_settings()) as node:
        removed = node.delete_document(doc_id)
    console.print(f"deleted {doc_id}: {removed} chunks removed")


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    site: SiteOption,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100)] = 5,
    mode: ModeOption = None,
) -> None:
    """Ranked passages with their citations."""
    with Site.open(site, get_settings()) as node:
        passages = node.search(query, k, _mode(mode))
    if not passages:
        console.print("no matching passages")
    for passage in passages:
        console.print(f"[bold]{passage.rank}.[/] {escape(passage.citation.label)}  score {passage.score:.3f}")
        console.print("   " + " ".join(passage.text.split())[:300], markup=False, highlight=False)


def ask(
    question: Annotated[str, typer.Argument(help="A question for the site's local model.")],
    site: SiteOption,
    mode: ModeOption = None,
) -> None:
    """An answer written by the site's local model from its own top passages, with citations."""
    with Site.open(site, get_settings()) as node:
        answer = node.answer(question, mode=_mode(mode))
    console.print(answer.answer, markup=False, highlight=False)


@index_app.command("verify")
@reports_errors
def index_verify(site: SiteOption) -> None:
    """Check that vectors, chunks and the keyword index agree."""
    with Site.open(site, get_settings()) as node:
        problems = node.verify()
    if problems:
        for problem in problems:
            error_console.print(f"[red]problem:[/] {problem}")
        raise typer.Exit(code=1)
    console.print("index is consistent")


@index_app.command("rebuild")
@reports_errors
def index_rebuild(site: SiteOption) -> None:
    """Rebuild the vector index from the committed vectors in the docstore."""
    with Site.open(site, get_settings(), rebuild=True) as node:
        console.print(f"rebuilt: {node.chunk_count} vectors")


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
    app.add_typer(docs_app, name="docs")
    app.add_typer(index_app, name="index")
    app.command("ingest")(reports_errors(ingest))
    app.command("search")(reports_errors(search))
    app.command("ask")(reports_errors(ask))
