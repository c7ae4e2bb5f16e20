"""The gateway as the coordinator of its sites' models: the sender of sealed model controls, and the
model registry that trained versions join."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_fed.coordinator.settings import GatewaySettings
    from rag_fed.federation.rollout import Coordinator

__all__ = ["coordinator_of", "register_model"]


def coordinator_of(settings: GatewaySettings) -> Coordinator:
    """The gateway as the sender of model controls: its registry, key pair, id and CA for https:// sites."""
    from rag_fed.crypto import KeyPair
    from rag_fed.federation import SiteRegistry
    from rag_fed.federation.rollout import Coordinator

    return Coordinator(
        SiteRegistry(settings.registry_path), KeyPair.load(settings.keys_dir), settings.gateway_id, settings.tls_ca_file
    )


def register_model(gateway: GatewaySettings, model_dir: Path, source: str, note: str) -> str:
    """Add a trained model folder to the gateway's model registry; its version."""
    from rag_fed.federation.models import ModelRegistry

    entry = ModelRegistry(gateway.models_dir).register(model_dir, source=source, note=note)
    return entry.version
