"""How the site commands open a site: read-only beside a running site service, or for writing.

Reading commands (``search``, ``ask``, ``docs list``) open the site read-only, so they work while a site
service holds it. Writing commands need the store's writer lock; when a service holds it, the error says
how to do the same through the service's admin API, or to stop the service first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rag_fed.errors import RagFedError

if TYPE_CHECKING:
    from rag_fed.site import Site

__all__ = ["SERVICE_URL", "WriteAction", "open_for_reading", "open_for_writing"]

WriteAction = Literal["ingest", "delete", "index"]

SERVICE_URL = "http://127.0.0.1:8101"
"""Where ``ragfed serve site`` listens unless given ``--host``/``--port``."""


def open_for_reading(site_id: str) -> Site:
    """The site, read-only: no lock, nothing written; the model loads only if a query is embedded."""
    from rag_fed.config import get_settings
    from rag_fed.site import Site

    return Site.open(site_id, get_settings(), read_only=True)


def open_for_writing(site_id: str, action: WriteAction, *, rebuild: bool = False) -> Site:
    """The site with its writer lock; a running service holding it gets a message saying what to do."""
    from indexes import StoreLockedError
    from rag_fed.config import get_settings
    from rag_fed.site import Site

    try:
        return Site.open(site_id, get_settings(), rebuild=rebuild)
    except RagFedError as error:
        if isinstance(error.__cause__, StoreLockedError):
            raise RagFedError(busy_message(site_id, error.__cause__.holder, action)) from error
        raise


def busy_message(site_id: str, holder: str, action: WriteAction) -> str:
    """What to do when process ``holder`` (a site service, usually) has the site open for writing."""
    head = f"site {site_id} is open for writing by process {holder} (a running site service, `ragfed serve site`)"
    stop = f"stop that process (Ctrl-C where it runs, or `kill {holder}`) and run this command again"
    if action == "index":
        return f"{head}; {stop}. `ragfed search`, `ask` and `docs list` work while it runs."
    key = (
        f"a site-admin key of {site_id} (`ragfed keys create --role site-admin --site {site_id}` makes one and "
        "adds it to the site's admin keys)"
    )
    if action == "ingest":
        call = f"curl -H 'Authorization: Bearer <key>' -F file=@<file> {SERVICE_URL}/v1/admin/documents"
        how = f"upload each file to its admin API (POST /v1/admin/documents) with {key}, one request per file"
        note = "; uploaded documents are named by their file name"
    else:
        call = f"curl -X DELETE -H 'Authorization: Bearer <key>' {SERVICE_URL}/v1/admin/documents/<document id>"
        how = f"delete through its admin API (DELETE /v1/admin/documents/<document id>) with {key}"
        note = ""
    return (
        f"{head}, so this command cannot write to it. Either {how}:\n  {call}\n"
        f"(the service's address: {SERVICE_URL} unless it was started with --host/--port{note}), or {stop}."
    )
