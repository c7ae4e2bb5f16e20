"""Fixtures of the browser tests: the sample federation served by real processes on loopback, and a
headless Chromium driven by Playwright.

The sites hold the sample manuals (not the work-order logs: they take most of the ingest time).
plant-east serves with egress ``answer`` (no passage text leaves it) and a model that phrases its
evidence (``copy_model``, which is the gateway's model too); the other two serve ``passages``.
plant-north also holds a manual whose text contains markup (``<script>``, an ``onerror`` image), which
the pages must show as text. Without a Chromium the browser tests are skipped with a message saying so
(``apt-get install chromium``, or ``RAGFED_CHROMIUM=/path/to/chrome``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.apikeys import issue_key
from api.gateway.keystore import KeyStore, Role
from api.site_service.settings import ADMIN_KEYS_FILE
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.federation import SiteRegistry
from rag_fed.samples import load_sites
from rag_fed.site import Site
from tests.api.conftest import start_gateway, start_site, write_gateway_config
from tests.api.procs import Service, free_port, service_env, start_service, wait_healthy
from tests.web.copy_model import copying_model

PRIVATE_SITE = "plant-east"

MARKUP_MANUAL = """V-77 purge valve

Purging
To purge valve V-77, hold the button labelled <script>alert('V-77')</script> for 8 s until the
lamp <img src=x onerror=alert(2)> turns green.
"""
MARKUP_TEXT = "<script>alert('V-77')</script>"
LEAD_BUDGET_S = 15.0  # per lead sentence, at the gateway and the private site (the default is 1 s)


def find_chromium() -> str | None:
    """``RAGFED_CHROMIUM``, else a Chromium or Chrome on the PATH or in /usr/bin."""
    candidates = [
        os.environ.get("RAGFED_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
        "/usr/bin/chromium",
    ]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def why_no_browser() -> str | None:
    """Why the browser tests cannot run here (no Chromium, no Playwright), else ``None``."""
    if find_chromium() is None:
        return "browser tests not run: no Chromium found (apt-get install chromium, or set RAGFED_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "browser tests not run: playwright is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = why_no_browser()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=find_chromium(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class WebFederation:
    root: Path
    sites: dict[str, Service]
    gateway: Service
    api_keys: dict[Role, str]
    admin_keys: dict[str, str]  # site -> key of that site's admin API


def _start_private_site(root: Path, data_dir: Path, site_id: str, gateway_key: Path, model_url: str) -> Service:
    """A site under ``answer`` egress whose own model (the copying one) phrases its evidence."""
    port = free_port()
    args = ["api.site_service", "--site", site_id, "--port", str(port), "--data-dir", str(data_dir)]
    args += ["--gateway-key", str(gateway_key), "--egress", "answer"]
    env = service_env(
        RAGFED_GENERATOR__BACKEND="openai",
        RAGFED_GENERATOR__BASE_URL=model_url,
        RAGFED_ANSWERS__LEAD_BUDGET_S=str(LEAD_BUDGET_S),
    )
    return start_service(f"site-{site_id}", args, port, root, env)


@pytest.fixture(scope="module")
def web_federation(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[WebFederation]:
    root = tmp_path_factory.mktemp("web")
    data_dir = root / "data"
    settings = Settings(data_dir=data_dir)
    home = root / "gateway"
    gateway_settings = GatewaySettings(home=home)
    KeyPair.generate().save(gateway_settings.keys_dir)
    services: list[Service] = []
    with copying_model() as model_url:
        try:
            # The gateway's model copies evidence too, so a grounded answer streams a lead, then its evidence.
            config = write_gateway_config(root / "gateway.toml", home, deadline_s=30)
            # The page is tested on how it renders a stream, not on the model's timing on a loaded machine: a
            # lead that missed the default 1 s budget arrived as the evidence alone, in one piece (a CI failure).
            text = config.read_text().replace("[answers]\n", f"[answers]\nlead_budget_s = {LEAD_BUDGET_S}\n", 1)
            config.write_text(text + f'[generator]\nbackend = "openai"\nbase_url = "{model_url}"\n')
            # The gateway needs no site data to start: it loads its models while the sites are ingested.
            gateway = start_gateway(root, config)
            services.append(gateway)
            admin_keys: dict[str, str] = {}
            samples = load_sites()
            for sample in samples:
                manuals = root / "corpus" / sample.id
                shutil.copytree(sample.root / "manuals", manuals / "manuals")
                if sample.id == "plant-north":
                    (manuals / "manuals" / "v77-purge-valve.txt").write_text(MARKUP_MANUAL)
                Site.init(sample.id, settings)
                with Site.open(sample.id, settings, embedder=packaged_embedder) as site:
                    report = site.ingest([manuals])
                    assert not report.failed, report.failed
                admin = issue_key()
                (data_dir / sample.id / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
                admin_keys[sample.id] = admin.key
            key_file = gateway_settings.public_key_file
            sites = {
                sample.id: (
                    _start_private_site(root, data_dir, sample.id, key_file, model_url)
                    if sample.id == PRIVATE_SITE
                    else start_site(root, data_dir, sample.id, key_file)
                )
                for sample in samples
            }
            services.extend(sites.values())
            registry = SiteRegistry(gateway_settings.registry_path)
            for site_id, service in sites.items():
                registry.register(site_id, service.url, KeyPair.load(data_dir / site_id / "keys").public_key_text)
            keystore = KeyStore(gateway_settings.database)
            api_keys = {role: keystore.create(role).key for role in (Role.ENGINEER, Role.OPERATOR)}
            wait_healthy(services)
            yield WebFederation(root, sites, gateway, api_keys, admin_keys)
        finally:
            for service in services:
                service.stop()


class Watched:
    """A page with what it did that a test must see: dialogs (alert from injected markup), script
    errors, Content-Security-Policy violations, and the requests it made."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        page.on("console", self._console)
        page.on("request", lambda request: self.urls.append(request.url))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        # A refused key shows in the console as a failed resource (401): expected, not a page fault.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], self.errors


@pytest.fixture()
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def sign_in(page: Any, key: str) -> None:
    """Sign in on any of the pages with ``key``."""
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
