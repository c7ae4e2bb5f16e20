"""rag-fed: federated retrieval-augmented answers over factories' private documents.

The names a user starts from are importable from here; each is loaded on first use, so
``import rag_fed`` stays cheap and pulls in neither FAISS nor torch:

    from pathlib import Path
    from rag_fed import Site, get_settings

    settings = get_settings()               # rag-fed.toml, RAGFED_* variables, defaults
    Site.init("plant-north", settings)      # a site's folder, keys and empty index
    site = Site.open("plant-north", settings)
    site.ingest([Path("manuals")])        # files and folders: PDF, HTML, Markdown, text, CSV/JSON logs

Everything a site admin, operator or evaluator runs is also a command (``ragfed --help``). A LangChain
app reads a federation through ``rag_fed.integrations.langchain.RagFedRetriever`` (the gateway's
``POST /v1/query`` over HTTP; it needs langchain-core). docs/architecture.md has the module map.
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("rag-fed")
except metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0+unknown"

# name -> the module that defines it
_EXPORTS = {
    "Site": "rag_fed.site",
    "IngestReport": "rag_fed.site",
    "Settings": "rag_fed.config",
    "get_settings": "rag_fed.config",
    "RagFedError": "rag_fed.errors",
    "ConfigError": "rag_fed.errors",
    "InputError": "rag_fed.errors",
    "NotFoundError": "rag_fed.errors",
    "Citation": "rag_fed.types",
    "Passage": "rag_fed.types",
    "Evidence": "rag_fed.types",
}

__all__ = [
    "Citation",
    "ConfigError",
    "Evidence",
    "IngestReport",
    "InputError",
    "NotFoundError",
    "Passage",
    "RagFedError",
    "Settings",
    "Site",
    "__version__",
    "get_settings",
]

if TYPE_CHECKING:
    from rag_fed.config import Settings, get_settings
    from rag_fed.errors import ConfigError, InputError, NotFoundError, RagFedError
    from rag_fed.site import IngestReport, Site
    from rag_fed.types import Citation, Evidence, Passage


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag_fed' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
