"""Where a site's files live under the data directory, and how site ids are validated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_fed.crypto.ids import validate_node_id
from rag_fed.errors import UnknownSiteError

__all__ = ["SiteLayout", "validate_site_id"]


def validate_site_id(site_id: str) -> str:
    """Site ids appear in paths, URLs, envelopes and citations: one rule for all (``rag_fed.crypto.ids``)."""
    return validate_node_id(site_id, what="site id")


@dataclass(frozen=True)
class SiteLayout:
    """The files of one site: ``<data_dir>/<site_id>/{store/, keys/, site.json}``."""

    root: Path

    @classmethod
    def for_site(cls, data_dir: Path, site_id: str) -> SiteLayout:
        return cls(root=data_dir / validate_site_id(site_id))

    @property
    def site_id(self) -> str:
        return self.root.name

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def marker(self) -> Path:
        return self.root / "site.json"

    def exists(self) -> bool:
        return self.marker.is_file()

    def require(self) -> SiteLayout:
        if not self.exists():
            raise UnknownSiteError(
                f"no site {self.site_id!r} under {self.root.parent}: create it with "
                f"`ragfed site init {self.site_id}` (or set RAGFED_DATA_DIR to where it lives)"
            )
        return self
