"""Site admin commands: create a site, ingest, list and delete documents, search, ask, index checks.

Reading commands open the site read-only (``rag_fed.cli.opening``), so they work beside a running site
service. The site code, the models and their libraries are imported inside the commands that use them:
``ragfed --help`` and ``ragfed docs list`` must not wait for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rag_fed.cli.common import console, error_console, reports_errors
from rag_fed.cli.feedback_commands import feedback_app
from rag_fed.cli.ingest_command import ingest
from rag_fed.cli.opening import open_for_reading, open_for_writing
from rag_fed.errors import NotFoundError, UnknownSiteError

if TYPE_CHECKING:
    from rag_fed.types import Passage, SearchMode

__all__ = ["docs_app", "index_app", "register", "site_app"]

site_app = typer.Typer(help="Create and list sites.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete a site's documents.", no_args_is_help=True)
index_app = typer.Typer(help="Check and rebuild a site's index.", no_args_is_help=True)

SiteOption = Annotated[str, typer.Option("--site", "-s", help="Site id, e.g. acme-plant-1.")]
ModeOption = Annotated[
    str | None, typer.Option("--mode", "-m", help="dense, keyword or hybrid (default: search.mode setting).")
]
_MODES = ("dense", "keyword", "hybrid")


def _mode(value: str | None) -> SearchMode | None:
    if value is not None and value not in _MODES:
        raise typer.BadParameter(f"mode must be dense, keyword or hybrid, not {value!r}")
    return value  # type: ignore[return-value]


@site_app.command("init")
@reports_errors
def site_init(site_id: Annotated[str, typer.Argument(help="New site id.")]) -> None:
    """Create a site's data directory and key pair."""
    from rag_fed.config import get_settings
    from rag_fed.site.node import Site

    layout = Site.init(site_id, get_settings())
    console.print(f"created site [bold]{site_id}[/] at {layout.root}")
    console.print(f"public key: {(layout.keys_dir / 'public.key').read_text().strip()}")


@site_app.command("list")
@reports_errors
def site_list() -> None:
    """List the sites under the data directory."""
    from rag_fed.config import get_settings

    data_dir = get_settings().data_dir
    sites = sorted(p.parent.name for p in data_dir.glob("*/site.json")) if data_dir.is_dir() else []
    if not sites:
        console.print(f"no sites under {data_dir}; create one with `ragfed site init ID`")
    for site_id in sites:
        console.print(site_id)


@docs_app.command("list")
@reports_errors
def docs_list(
    site: SiteOption,
    plain: Annotated[
        bool, typer.Option("--plain", help="Tab-separated lines (doc_id, kind, chunks, added_at, title), for scripts.")
    ] = False,
) -> None:
    """List documents with chunk counts and when they were added; ids are shown whole (`docs delete` takes them).

    Works while a site service serves the site (the site is read, never written).
    """
    from rag_fed.cli.listing import document_lines, plain_lines

    try:
        with open_for_reading(site) as node:
            documents = node.list_documents()
    except UnknownSiteError:
        raise
    except NotFoundError as nothing:  # a site that was never ingested into
        documents = []
        if not plain:
            console.print(str(nothing), markup=False, highlight=False)
    if plain:
        for line in plain_lines(documents):
            typer.echo(line)
        return
    if documents:
        for line in document_lines(documents, console.width):
            console.print(line, markup=False, highlight=False, crop=False, overflow="ignore", soft_wrap=True)
    console.print(f"{len(documents)} documents")


@docs_app.command("delete")
@reports_errors
def docs_delete(doc_id: Annotated[str, typer.Argument(help="Document id from `docs list`.")], site: SiteOption) -> None:
    """Delete a document: its chunks, vectors and keyword entries are removed."""
    with open_for_writing(site, "delete", target=doc_id) as node:
        removed = node.delete_document(doc_id)
    console.print(f"deleted {doc_id}: {removed} chunks removed", markup=False, highlight=False)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    site: SiteOption,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100)] = 5,
    mode: ModeOption = None,
) -> None:
    """Ranked passages with their citations (works while a site service serves the site)."""
    with open_for_reading(site) as node:
        passages = node.search(query, k, _mode(mode))
    if not passages:
        console.print("no matching passages")
    for passage in passages:
        console.print(f"[bold]{passage.rank}.[/] {escape(_where(passage))}  score {passage.score:.3f}")
        console.print("   " + " ".join(passage.text.split())[:300], markup=False, highlight=False)


def _where(passage: Passage) -> str:
    """The citation tag, and the source lines when the passage knows them."""
    lines = passage.citation.lines
    return passage.citation.label + (f" lines {lines[0]}-{lines[1]}" if lines else "")


def ask(
    question: Annotated[str, typer.Argument(help="A question for the site's local model.")],
    site: SiteOption,
    mode: ModeOption = None,
) -> None:
    """An answer written by the site's local model from its own top passages, with citations (works while a site
    service serves the site)."""
    with open_for_reading(site) as node:
        answer = node.answer(question, mode=_mode(mode))
    console.print(answer.answer, markup=False, highlight=False)


@index_app.command("verify")
@reports_errors
def index_verify(site: SiteOption) -> None:
    """Check that vectors, chunks and the keyword index agree."""
    with open_for_writing(site, "index") as node:
        problems = node.verify()
    if problems:
        for problem in problems:
            error_console.print(f"[red]problem:[/] {escape(problem)}")
        raise typer.Exit(code=1)
    console.print("index is consistent")


@index_app.command("rebuild")
@reports_errors
def index_rebuild(site: SiteOption) -> None:
    """Rebuild the vector index from the committed vectors in the docstore."""
    with open_for_writing(site, "index", rebuild=True) as node:
        console.print(f"rebuilt: {node.chunk_count} vectors")


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
    app.add_typer(docs_app, name="docs")
    app.add_typer(index_app, name="index")
    app.add_typer(feedback_app, name="feedback")
    app.command("ingest")(reports_errors(ingest))
    app.command("search")(reports_errors(search))
    app.command("ask")(reports_errors(ask))
