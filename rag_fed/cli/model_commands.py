"""Operator commands for embedder versions: the model registry, rollout to the sites, rollback, status.

They act from the gateway's home (``--home``, or ``home`` in ``--config``, or ``<RAGFED_DATA_DIR>/gateway``): its key
pair seals the controls, its site registry says where the sites are, its model registry holds the
versions (``<home>/models``). A model folder must be readable by the sites (same machine or shared
storage): a rollout sends the folder's path, never the weights.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings
from rag_fed.coordinator.controls import coordinator_of

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `ragfed --help` must not load it
    from rag_fed.coordinator.settings import GatewaySettings
    from rag_fed.federation.rollout import Coordinator, SiteControlResult

__all__ = ["model_app", "register"]

model_app = typer.Typer(
    help="Embedder versions: register, roll out to the sites, roll back, watch.", no_args_is_help=True
)

SitesOption = Annotated[
    list[str] | None, typer.Option("--site", "-s", help="Only this site (repeat for several; default: all).")
]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds each site gets to reply.")]
_POLL_S = 1.0


def _coordinator(config: Path | None, home: Path | None) -> tuple[GatewaySettings, Coordinator]:
    settings = gateway_settings(config, home)
    return settings, coordinator_of(settings)


@model_app.command("register")
@reports_errors
def model_register(
    path: Annotated[Path, typer.Argument(help="A sentence-transformers model folder.")],
    note: Annotated[str, typer.Option("--note", help="What this version is.")] = "",
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a model folder to the registry (copied under <home>/models); prints its version."""
    from rag_fed.federation.models import ModelRegistry

    entry = ModelRegistry(gateway_settings(config, home).models_dir).register(
        path, source="registered by hand", note=note
    )
    console.print(f"registered [bold]{escape(entry.version)}[/] at {escape(str(entry.path))}")


@model_app.command("list")
@reports_errors
def model_list(home: HomeOption = None, config: ConfigOption = None, timeout: TimeoutOption = 10.0) -> None:
    """Registered versions, and which registered sites serve which (asked live)."""
    from rag_fed.federation.models import ModelRegistry

    settings, coordinator = _coordinator(config, home)
    statuses = coordinator.status(timeout_s=timeout)
    serving: dict[str, list[str]] = {}
    for status in statuses:
        if status.serving_version is not None:
            serving.setdefault(status.serving_version, []).append(status.site_id)
    table = Table("version", "source", "created (UTC)", "served by", "note")
    entries = ModelRegistry(settings.models_dir).entries()
    for entry in entries:
        served_by = ", ".join(serving.pop(entry.version, []))
        table.add_row(escape(entry.version), entry.source, entry.created_at[:16], served_by, escape(entry.note))
    for version, site_ids in sorted(serving.items()):
        table.add_row(escape(version), "[red]not registered[/]", "", ", ".join(site_ids), "")
    console.print(table)
    unreachable = [status for status in statuses if status.outcome != "ok"]
    for status in unreachable:
        console.print(f"[yellow]{status.site_id}[/]: {escape(status.reason or status.outcome)}", highlight=False)


@model_app.command("rollout")
@reports_errors
def model_rollout(
    version: Annotated[str, typer.Argument(help="A registered version (see `ragfed model list`).")],
    site: SitesOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every site has switched (or failed).")] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
    timeout: TimeoutOption = 120.0,
) -> None:
    """Make the sites re-embed for VERSION in the background and switch to it; they keep answering."""
    from rag_fed.federation.models import ModelRegistry

    settings, coordinator = _coordinator(config, home)
    results = coordinator.rollout(version, ModelRegistry(settings.models_dir), sites=site, timeout_s=timeout)
    _report(coordinator, results, wait, timeout)


@model_app.command("rollback")
@reports_errors
def model_rollback(
    site: SitesOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every site has switched back.")] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
    timeout: TimeoutOption = 120.0,
) -> None:
    """Send the sites back to their previous store (a rollout still re-embedding is cancelled)."""
    _, coordinator = _coordinator(config, home)
    _report(coordinator, coordinator.rollback(sites=site, timeout_s=timeout), wait, timeout)


@model_app.command("status")
@reports_errors
def model_status(
    site: SitesOption = None, home: HomeOption = None, config: ConfigOption = None, timeout: TimeoutOption = 10.0
) -> None:
    """What each site serves, what it can roll back to, and its re-embed's progress."""
    _, coordinator = _coordinator(config, home)
    _show(coordinator.status(sites=site, timeout_s=timeout))


def _report(coordinator: Coordinator, results: list[SiteControlResult], wait: bool, timeout: float) -> None:
    """Show a rollout's or rollback's first replies, optionally wait for the sites that took it, and exit
    non-zero when a site failed."""
    _show(results)
    if wait:
        results = _wait(coordinator, [r.site_id for r in results if r.outcome == "ok"], timeout)
    _exit_code(results)


def _wait(coordinator: Coordinator, sites: list[str], timeout: float) -> list[SiteControlResult]:
    if not sites:
        return []
    with console.status("waiting for the sites to switch ..."):
        while True:
            results = coordinator.status(sites=sites, timeout_s=timeout)
            if not any(r.reembed is not None and r.reembed.state == "running" for r in results):
                break
            time.sleep(_POLL_S)
    _show(results)
    return results


def _show(results: list[SiteControlResult]) -> None:
    table = Table("site", "outcome", "serves", "previous", "re-embed", "reason")
    for result in results:
        colour = {"ok": "green", "refused": "yellow", "failed": "red"}[result.outcome]
        table.add_row(
            result.site_id,
            f"[{colour}]{result.outcome}[/]",
            escape(result.serving_version or ""),
            escape(result.previous_version or ""),
            escape(_progress(result)),
            escape(result.reason or ""),
        )
    console.print(table)


def _progress(result: SiteControlResult) -> str:
    job = result.reembed
    if job is None:
        return ""
    text = f"{job.job} to {job.target_version}: {job.state} {job.chunks_done}/{job.chunks_total} chunks"
    if job.finished_at is not None:
        text += f" ({datetime.fromtimestamp(job.finished_at, UTC):%Y-%m-%d %H:%M} UTC)"
    return text + (f"; {job.error}" if job.error else "")


def _exit_code(results: list[SiteControlResult]) -> None:
    failed = [r for r in results if r.outcome != "ok" or (r.reembed is not None and r.reembed.state == "failed")]
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
