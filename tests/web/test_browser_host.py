"""The site admin's page of a site on a site host (one site-service process serving two sites, each at
``/sites/<id>``), in a real Chromium: the page, its files and every API call are that site's, never the
host's root or the other site's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.apikeys import issue_key
from api.site_service.settings import ADMIN_KEYS_FILE
from api.web.pages import CONTENT_SECURITY_POLICY
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from tests.api.conftest import ingest_site
from tests.api.corpus import write_corpus
from tests.api.procs import Service, free_port, service_env, start_service, wait_healthy
from tests.api.test_site_host import HOST_CONFIG, HOSTED
from tests.web.conftest import Watched, sign_in, why_no_browser

NO_BROWSER = why_no_browser()
pytestmark = [pytest.mark.integration, pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")]


@dataclass
class Host:
    service: Service
    admin_keys: dict[str, str]

    def site_url(self, site_id: str) -> str:
        return f"{self.service.url}/sites/{site_id}"

    def documents(self, site_id: str) -> set[str]:
        headers = {"Authorization": f"Bearer {self.admin_keys[site_id]}"}
        response = httpx.get(f"{self.site_url(site_id)}/v1/admin/documents", headers=headers, timeout=30)
        response.raise_for_status()
        return {document["doc_id"] for document in response.json()}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("admin-host")
    data_dir = root / "data"
    admin_keys: dict[str, str] = {}
    for site_id in HOSTED:
        ingest_site(Settings(data_dir=data_dir), site_id, packaged_embedder, write_corpus(root, site_id))
        admin = issue_key()
        (data_dir / site_id / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
        admin_keys[site_id] = admin.key
    gateway_keys = root / "gateway-keys"
    KeyPair.generate().save(gateway_keys)
    config = root / "host.toml"
    config.write_text(HOST_CONFIG.format(gateway_key=gateway_keys / "public.key"))
    port = free_port()
    args = ["api.site_service", "--config", str(config), "--data-dir", str(data_dir), "--port", str(port)]
    service = start_service("site-host", args, port, root, service_env())
    try:
        wait_healthy([service])
        yield Host(service, admin_keys)
    finally:
        service.stop()


def test_the_admin_page_of_a_hosted_site_lists_and_ingests_at_that_site(
    host: Host, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    south = host.site_url("south")
    response = page.goto(f"{south}/admin")
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.locator("#model-version").wait_for()
    assert "Site south" in page.locator("#site-summary").inner_text()
    sign_in(page, host.admin_keys["north"])  # the other hosted site's key: not this site's admin
    page.locator("#sign-in-error").filter(has_text="was not accepted").wait_for()
    sign_in(page, host.admin_keys["south"])
    page.locator("#egress").wait_for()
    assert page.locator("#egress").inner_text() == "answer", "south's own policy, not the host's default"
    page.locator("#documents tbody tr").first.wait_for()
    listed = set(page.locator("#documents tbody tr").evaluate_all("rows => rows.map(row => row.dataset.doc)"))
    assert listed == host.documents("south") and listed != host.documents("north")

    notes = tmp_path / "south-pump-notes.txt"
    notes.write_text("Pump P-12 field notes\n\nThe P-12 seal is replaced every 4000 hours on the south plant.\n")
    page.set_input_files("#files", [str(notes)])
    page.click("#upload")
    page.locator("#uploads li[data-outcome='ok']").wait_for(timeout=60_000)
    page.locator("#documents tbody tr[data-doc='south-pump-notes.txt']").wait_for()
    assert "south-pump-notes.txt" in host.documents("south")
    assert "south-pump-notes.txt" not in host.documents("north")
    stored = page.evaluate("() => Object.keys(sessionStorage)")
    assert stored == ["ragfed.key.admin/sites/south/"], "each hosted site keeps its own key"

    calls = [url for url in watched.urls if not url.startswith("data:")]
    assert any(url == f"{south}/v1/admin/documents" for url in calls), calls
    assert any(url.startswith(f"{south}/web/admin/") for url in calls), calls
    assert all(url.startswith(f"{south}/") for url in calls), [url for url in calls if not url.startswith(south)]
    watched.assert_clean()


def test_a_hosted_sites_page_names_its_files_under_its_prefix(host: Host) -> None:
    """The host serves no page of its own; a site's page names its files under the site's prefix."""
    assert httpx.get(f"{host.service.url}/admin", timeout=30).status_code == 404
    text = httpx.get(f"{host.site_url('north')}/admin", timeout=30).text
    assert 'src="/sites/north/web/admin/admin.js"' in text and 'href="/web/' not in text
