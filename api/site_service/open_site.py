"""Opening the served site and its responder from the site service's settings (the responder itself is
``rag_fed.site.responder``: the site's side of the federation, without HTTP)."""

from __future__ import annotations

from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.errors import RagFedError
from rag_fed.files import private_dir
from rag_fed.generators.base import Generator
from rag_fed.site import Site, apply_search_threads
from rag_fed.site.responder import SiteResponder

__all__ = ["ServiceResponder", "open_responder"]

ServiceResponder = SiteResponder[SiteServiceSettings]
"""The responder of a site service: its settings carry the service's own fields (uploads, admin keys)."""


def open_responder(
    settings: SiteServiceSettings,
    core: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> ServiceResponder:
    """Open the site named in ``settings`` under ``core.data_dir`` with its own key pair."""
    gateway_key = settings.gateway_key()
    apply_search_threads(core.search)
    site = Site.open(settings.site_id, core, embedder=embedder, generator=generator)
    try:
        private_dir(site.layout.root)  # a site made before its folders were private is made so here
        site.start_keyword_index()
        keys = KeyPair.load(site.layout.keys_dir)
    except RagFedError:
        site.close()
        raise
    return SiteResponder(site, settings, keys, gateway_key)
