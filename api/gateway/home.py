"""The gateway's home folder: created once (``ragfed gateway init`` or the first start), then reused.

Creating it needs no model and no network, so an operator can make the gateway's key pair first and hand
``keys/public.key`` to the sites before anything is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.gateway.keystore import KeyStore
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.errors import ConfigError
from rag_fed.federation import SiteRegistry
from rag_fed.files import private_dir
from rag_fed.term_stats import load_or_create_term_key

__all__ = ["GatewayHome", "init_home", "load_or_create_keys"]


@dataclass(frozen=True)
class GatewayHome:
    """What ``init_home`` made or found: the folder, the key pair, and whether the keys are new."""

    root: Path
    keys: KeyPair
    public_key_file: Path
    created_keys: bool


def load_or_create_keys(settings: GatewaySettings) -> KeyPair:
    """The gateway's key pair, generated on first use (sites need its ``public.key``)."""
    return init_home(settings).keys


def init_home(settings: GatewaySettings) -> GatewayHome:
    """Create the home folder, the key pair and the federation term key (existing ones are kept) and the
    empty databases."""
    try:
        private_dir(settings.home)  # 0700: keys, key hashes, audit log, registry
        created = not (settings.keys_dir / "private.key").exists()
        if created:
            KeyPair.generate().save(settings.keys_dir)
    except OSError as error:
        raise ConfigError(f"cannot create the gateway home {settings.home}: {error}") from None
    keys = KeyPair.load(settings.keys_dir)
    if settings.routing.term_stats:
        load_or_create_term_key(settings.term_key_file)
    KeyStore(settings.database)
    SiteRegistry(settings.registry_path)
    return GatewayHome(settings.home, keys, settings.public_key_file, created)
