"""``ragfed feedback``: a site admin sees, imports and removes the engineers' judgements kept at the site
(``rag_fed.feedback``). Works on the site's folder, beside a running site service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.opening import open_for_reading
from rag_fed.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from rag_fed.feedback import FeedbackLog

__all__ = ["feedback_app"]

feedback_app = typer.Typer(help="The engineers' judgements kept at a site, for fine-tuning.", no_args_is_help=True)

SiteOption = Annotated[str, typer.Option("--site", "-s", help="Site id, e.g. acme-plant-1.")]


def _log(site: str) -> FeedbackLog:
    from rag_fed.config import get_settings
    from rag_fed.feedback import FeedbackLog
    from rag_fed.site.layout import SiteLayout

    return FeedbackLog.at_site(SiteLayout.for_site(get_settings().data_dir, site).require().root)


@feedback_app.command("import")
@reports_errors
def feedback_import(
    site: SiteOption,
    file: Annotated[Path, typer.Argument(help="CSV, JSON or JSON lines: question, doc_id[, anchor|page, useful].")],
) -> None:
    """Load an existing search or CMMS log of (question, accepted document) rows into the site's log."""
    from rag_fed.feedback.importer import import_feedback_log

    try:
        data = file.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {file}: {error.strerror}") from None
    with open_for_reading(site) as node:
        known = {doc.doc_id for doc in node.list_documents()}
        version = node.serving_version
    outcome = import_feedback_log(
        _log(site), file.name, data, known_documents=known, site_id=site, embedder_version=version
    )
    console.print(
        f"{outcome.source}: {outcome.rows} rows, {outcome.recorded} recorded, {outcome.already_recorded} already "
        f"recorded, {outcome.unknown_documents} naming no document of {site}"
        + (f" (e.g. {', '.join(outcome.unknown_examples)})" if outcome.unknown_examples else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@feedback_app.command("stats")
@reports_errors
def feedback_stats(site: SiteOption) -> None:
    """How many judgements the site holds: useful or not, questions, documents, by source and model."""
    stats = _log(site).stats()
    console.print(
        f"{stats.judgements} judgements ({stats.useful} useful, {stats.not_useful} not) on {stats.documents} "
        f"documents for {stats.questions} questions",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for source, count in stats.by_source.items():
        console.print(f"  source {source}: {count}", markup=False, highlight=False, soft_wrap=True)
    for version, count in stats.by_embedder_version.items():
        console.print(f"  embedder {version}: {count}", markup=False, highlight=False, soft_wrap=True)


@feedback_app.command("list")
@reports_errors
def feedback_list(
    site: SiteOption,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000)] = 50,
    source: Annotated[str | None, typer.Option("--source", help="chat, or import:<file name>.")] = None,
) -> None:
    """The newest judgements first, one tab-separated line each: id, time, useful, document#anchor, question."""
    for row in _log(site).list(limit=limit, source=source):
        when = datetime.fromtimestamp(row.given_at, UTC).strftime("%Y-%m-%d %H:%M")
        place = f"{row.doc_id}#{row.anchor}" if row.anchor else row.doc_id
        verdict = "useful" if row.useful else "not-useful"
        typer.echo(f"{row.feedback_id}\t{when}\t{verdict}\t{place}\t{row.question}")


@feedback_app.command("delete")
@reports_errors
def feedback_delete(
    site: SiteOption,
    feedback_id: Annotated[int | None, typer.Argument(help="A judgement's id from `feedback list`.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Delete every judgement of this source.")] = None,
) -> None:
    """Remove one judgement, or every judgement of a source (``chat`` or ``import:<file name>``)."""
    if (feedback_id is None) == (source is None):
        raise InputError("name one judgement id or --source, not both and not neither")
    log = _log(site)
    if source is not None:
        console.print(
            f"deleted {log.delete_source(source)} judgements of {source}", markup=False, highlight=False, soft_wrap=True
        )
        return
    assert feedback_id is not None
    if not log.delete(feedback_id):
        raise NotFoundError(f"no judgement {feedback_id} at site {site}")
    console.print(f"deleted judgement {feedback_id}", markup=False, highlight=False, soft_wrap=True)
