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


def _site_root(site: str) -> Path:
    from rag_fed.config import get_settings
    from rag_fed.site.layout import SiteLayout

    return SiteLayout.for_site(get_settings().data_dir, site).require().root


def _log(site: str) -> FeedbackLog:
    from rag_fed.feedback import FeedbackLog

    return FeedbackLog.at_site(_site_root(site))


def _existing_log(site: str, *, read_only: bool = True) -> FeedbackLog | None:
    """The site's log, or ``None`` (after saying so) for a site that never received a judgement."""
    from rag_fed.feedback import FeedbackLog

    log = FeedbackLog.existing_at_site(_site_root(site), read_only=read_only)
    if log is None:
        console.print(f"no feedback yet at site {site}", markup=False, highlight=False, soft_wrap=True)
    return log


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


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
    log = _existing_log(site)
    if log is None:
        return
    stats = log.stats()
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
    log = _existing_log(site)
    if log is None:
        return
    for row in log.list(limit=limit, source=source):
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
    """Remove one judgement, or every judgement of a source (``chat`` or ``import:<file name>``).

    The site's mined pairs file goes too, so deleted judgements never train; mine again before training."""
    from rag_fed.training.site_pairs import discard_mined_pairs

    if (feedback_id is None) == (source is None):
        raise InputError("name one judgement id or --source, not both and not neither")
    log = _existing_log(site, read_only=False)
    if source is not None:
        deleted = log.delete_source(source) if log is not None else 0
        _say(f"deleted {deleted} judgements of {source}")
    else:
        assert feedback_id is not None
        if log is None or not log.delete(feedback_id):
            raise NotFoundError(f"no judgement {feedback_id} at site {site}")
        deleted = 1
        _say(f"deleted judgement {feedback_id}")
    if deleted and discard_mined_pairs(_site_root(site)):
        _say(f"removed the mined pairs of {site}; run `ragfed mine-pairs --site {site}` before its next training")
