"""``ragfed ingest``: one line per file as it is done, a summary line, and exit status 1 if any file failed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rag_fed.cli.common import console
from rag_fed.cli.opening import open_for_writing
from rag_fed.errors import InputError

if TYPE_CHECKING:
    from rag_fed.site import FileResult, IngestReport

__all__ = ["file_line", "ingest", "summary_line"]

_STATUS_STYLE = {"added": "green", "updated": "cyan", "unchanged": "dim", "failed": "red"}
_STATUS_WIDTH = max(len(status) for status in _STATUS_STYLE)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    site: Annotated[str, typer.Option("--site", "-s", help="Site id, e.g. acme-plant-1.")],
) -> None:
    """Ingest manuals (PDF, HTML, Markdown, text) and work-order logs (CSV, JSON, JSONL).

    Each file is reported on its own line; a bad file is reported and the rest carry on, and the exit
    status is 1 when any file failed.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from connectors import SUPPORTED_SUFFIXES
    from rag_fed.site.ingest import expand_paths

    total = sum(1 for _ in expand_paths(paths))
    if total == 0:
        raise InputError(f"nothing to ingest: no supported files ({', '.join(SUPPORTED_SUFFIXES)}) in the paths given")
    single = str(paths[0]) if len(paths) == 1 and paths[0].is_file() else ""
    with open_for_writing(site, "ingest", target=single) as node:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"ingesting into {site}", total=total)

            def on_file(result: FileResult) -> None:
                # One line per file, however long: the terminal wraps it, rich must not break it up.
                progress.console.print(file_line(result), highlight=False, soft_wrap=True)
                progress.advance(task)

            report = node.ingest(paths, on_file)
        console.print(summary_line(report, node.chunk_count), highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(code=1)


def _shown(result: FileResult) -> str:
    """The file as the user named it: relative to the working directory when it lies below it."""
    if result.source.startswith("upload:") or not os.path.isabs(result.source):
        return result.source
    relative = os.path.relpath(result.source)
    return result.source if relative.startswith("..") else relative


def file_line(result: FileResult) -> str:
    """One file's outcome, as rich markup: ``added  manuals/pump.md  1 document, 3 chunks``."""
    status = f"[{_STATUS_STYLE[result.status]}]{result.status.ljust(_STATUS_WIDTH)}[/]"
    if result.status == "failed":
        reason = result.reason or result.error or "failed"
        return f"{status}  {escape(_shown(result))}: {escape(reason)}"
    details = []
    if result.documents:
        details.append(f"{_count(result.documents, 'document')}, {_count(result.chunks, 'chunk')}")
    if result.unchanged and result.status != "unchanged":
        details.append(f"{result.unchanged} unchanged")
    if result.removed:
        details.append(f"{result.removed} removed")
    return f"{status}  {escape(_shown(result))}" + (f"  {escape('; '.join(details))}" if details else "")


def summary_line(report: IngestReport, total_chunks: int) -> str:
    """``3 ingested (2 new, 1 updated), 1 unchanged, 1 failed of 5 files; ...``."""
    counts = report.counts
    ingested = counts["added"] + counts["updated"]
    failed = f"[red]{counts['failed']} failed[/]" if counts["failed"] else "0 failed"
    return (
        f"{ingested} ingested ({counts['added']} new, {counts['updated']} updated), {counts['unchanged']} unchanged, "
        f"{failed} of {_count(len(report.files), 'file')}; {_count(report.chunks, 'chunk')} written, "
        f"{_count(report.removed, 'document')} removed in {report.seconds:.1f} s; the site now holds "
        f"{_count(total_chunks, 'chunk')}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
