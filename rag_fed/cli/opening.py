"""How the site commands open a site: read-only beside a running site service, or for writing.

Reading commands (``search``, ``ask``, ``docs list``) open the site read-only, so they work while a site
service holds it. Writing commands need the store's writer lock; when a service holds it, the error says
how to do the same through the service's admin API, or to stop the service first.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag_fed.errors import RagFedError

if TYPE_CHECKING:
    from rag_fed.site import Site

__all__ = ["SERVICE_URL", "WriteAction", "busy_message", "open_for_reading", "open_for_writing", "service_url"]

WriteAction = Literal["ingest", "delete", "index"]

SERVICE_PORT = 8101
SERVICE_URL = f"http://127.0.0.1:{SERVICE_PORT}"
"""Where ``ragfed serve site`` listens unless given ``--host``/``--port``."""


def open_for_reading(site_id: str) -> Site:
    """The site, read-only: no lock, nothing written; the model loads only if a query is embedded."""
    from rag_fed.config import get_settings
    from rag_fed.site import Site

    return Site.open(site_id, get_settings(), read_only=True)


def open_for_writing(site_id: str, action: WriteAction, *, rebuild: bool = False, target: str = "") -> Site:
    """The site with its writer lock; a running service holding it gets a message saying what to do
    (with ``target``, the file or document id, in the command it gives)."""
    from indexes import StoreLockedError, writer_holder
    from rag_fed.config import get_settings
    from rag_fed.site import Site, SiteLayout
    from rag_fed.site.versions import active_store_dir

    settings = get_settings()
    # Asked first, so the refusal comes before the embedder has loaded (seconds) rather than after.
    holder = writer_holder(active_store_dir(SiteLayout.for_site(settings.data_dir, site_id).require()))
    if holder is not None:
        raise RagFedError(busy_message(site_id, holder, action, target))
    try:
        return Site.open(site_id, settings, rebuild=rebuild)
    except RagFedError as error:
        if isinstance(error.__cause__, StoreLockedError):
            raise RagFedError(busy_message(site_id, error.__cause__.holder, action, target)) from error
        raise


def busy_message(site_id: str, holder: str, action: WriteAction, target: str = "") -> str:
    """What to do when process ``holder`` (a site service, usually) has the site open for writing."""
    from urllib.parse import quote

    head = f"site {site_id} is open for writing by process {holder} (a running site service, `ragfed serve site`)"
    stop = f"stop that process (Ctrl-C where it runs, or `kill {holder}`) and run this command again"
    if action == "index":
        return f"{head}; {stop}. `ragfed search`, `ask` and `docs list` work while it runs."
    url = service_url(holder)
    where = "" if url is not None else f" (its address: {SERVICE_URL} unless it was started with --host/--port)"
    url = url or SERVICE_URL
    key = (
        f"a site-admin key of {site_id} (`ragfed keys create --role site-admin --site {site_id}` makes one and "
        "adds it to the site's admin keys)"
    )
    if action == "ingest":
        file = shlex.quote(target) if target else "<file>"
        call = f"curl -H 'Authorization: Bearer <key>' -F file=@{file} {url}/v1/admin/documents"
        how = f"upload each file to its admin API (POST /v1/admin/documents{where}) with {key}, one request per file"
        note = " Uploaded documents are named by their file name."
    else:
        doc = quote(target, safe="/") if target else "<document id>"
        call = f"curl -X DELETE -H 'Authorization: Bearer <key>' {url}/v1/admin/documents/{doc}"
        how = f"delete through its admin API (DELETE /v1/admin/documents/<document id>{where}) with {key}"
        note = ""
    return f"{head}, so this command cannot write to it. Either {how}:\n  {call}\nor {stop}.{note}"


def service_url(pid: str) -> str | None:
    """The address the site service with this pid listens on, from its command line (``--host``,
    ``--port``, ``--tls-cert``), or ``None`` when it cannot be told (no /proc, a ``--config`` file, not
    a site service)."""
    try:
        argv = [part.decode(errors="replace") for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except (OSError, ValueError):
        return None
    is_service = "api.site_service" in argv or ("serve" in argv and "site" in argv)
    if not is_service or "--config" in argv:
        return None
    host, port = _flag(argv, "--host") or "127.0.0.1", _flag(argv, "--port") or str(SERVICE_PORT)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # it listens everywhere: this machine reaches it on loopback
    scheme = "https" if "--tls-cert" in argv else "http"
    return f"{scheme}://{host}:{port}"


def _flag(argv: list[str], name: str) -> str | None:
    for index, part in enumerate(argv):
        if part == name and index + 1 < len(argv):
            return argv[index + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    return None
