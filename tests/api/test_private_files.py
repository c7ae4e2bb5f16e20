"""Every file the gateway and the sites write is readable by their owner only: 0600 in 0700 folders
(docs/security.md). Checked on the folders of the real federation after its services ran."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from api.site_service.settings import ADMIN_KEYS_FILE
from tests.api.conftest import Federation

pytestmark = pytest.mark.integration

PUBLIC = {"public.key"}  # a public key is public; its folder (keys/, 0700) is not
WRITTEN_BY_THE_ADMIN = {ADMIN_KEYS_FILE}  # the site admin's own file of local keys (hashes only)


def _readable_by_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir() and mode != 0o700:
            found.append(f"{mode:04o} {path}/")
        elif path.is_file() and path.name not in PUBLIC | WRITTEN_BY_THE_ADMIN and mode != 0o600:
            found.append(f"{mode:04o} {path}")
    return found


def test_the_gateway_home_and_every_site_folder_are_private(federation: Federation) -> None:
    # Let every kind of file exist: a query (replay journal), an admin call (audit log), a sealed key list.
    key = {"Authorization": f"Bearer {federation.admin_keys['north']}"}
    assert httpx.get(f"{federation.sites['north'].url}/v1/admin/documents", headers=key, timeout=30).status_code == 200
    chat = httpx.post(
        f"{federation.gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {federation.api_keys['engineer']}"},
        json={"model": "rag-fed", "messages": [{"role": "user", "content": "slurry pump seal?"}]},
        timeout=120,
    )
    assert chat.status_code == 200, chat.text
    home = federation.gateway_home
    assert {"gateway.db", "registry.db", "audit.key"} <= {p.name for p in home.iterdir()}
    sites = [federation.data_dir / site_id for site_id in federation.sites]
    assert all((site / "replay.db").is_file() and (site / "admin-audit.db").is_file() for site in sites)
    leaks = [line for root in (home, *sites) for line in _readable_by_others(root)]
    assert not leaks, "\n".join(leaks)
