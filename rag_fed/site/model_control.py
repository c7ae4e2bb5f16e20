"""What a site does with the coordinator's model controls: nothing for ``status``; roll back; or load the
announced embedder version from the coordinator's model folder and start re-embedding with it."""

from __future__ import annotations

from pathlib import Path

from rag_fed.embedders import load_embedder
from rag_fed.errors import InputError
from rag_fed.protocol import ModelControl
from rag_fed.site.node import Site
from rag_fed.site.serving import embedder_settings

__all__ = ["apply_model_control"]


def apply_model_control(site: Site, control: ModelControl, *, accept_rollouts: bool) -> None:
    """Carry out ``control`` at ``site``; ``InputError`` (refused) or another ``RagFedError`` (failed)."""
    if control.action == "status":
        return
    if not accept_rollouts:
        raise InputError(
            f"site {site.site_id} does not accept model rollouts (accept_model_rollouts = false in its "
            "site service settings); its admin re-embeds it locally or changes that setting"
        )
    if control.action == "rollback":
        site.rollback()
        return
    assert control.version is not None and control.model_path is not None  # the message validated it
    folder = Path(control.model_path)
    if not folder.is_dir():
        raise InputError(
            f"model folder {folder} is not readable at site {site.site_id}: the coordinator's model "
            "folders must be on storage the site can read (same machine or a shared mount)"
        )
    embedder = load_embedder(embedder_settings(site.settings, str(folder.resolve())))
    if embedder.model_version != control.version:
        raise InputError(
            f"{folder} holds embedder version {embedder.model_version!r}, not {control.version!r} as announced"
        )
    site.start_reembed(embedder)
