"""A real federation for the API tests: three site services and a gateway, as processes on loopback.

Built once per session (each process loads the embedder, which takes a while on two cores) and always
stopped. Tests that need a site to misbehave start their own extra site instead of hurting these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
from rag_fed.types import Citation
from tests.api.corpus import SITES, write_corpus
from tests.api.procs import Service, free_port, service_env, start_service, wait_healthy

GATEWAY_CONFIG = """
home = "{home}"
[answers]
lead_max_tokens = 48
[routing]
deadline_s = {deadline}
"""


# A [site:doc#section] tag as answers print it: the section may hold spaces ("#Mechanical seal replacement"),
# which rag_fed.types.CITATION_TAG does not match (reported; see tests/rag_fed/test_types.py).
ANSWER_TAG = re.compile(r"\[([a-z0-9][a-z0-9-]{0,62}):([^\[\]\s#]+)(?:#[^\[\]]*)?\]")


def answer_tags(text: str) -> list[str]:
    """The ``[site:doc#section]`` tags of an answer, in order."""
    return [match.group(0) for match in ANSWER_TAG.finditer(text)]


def tags_resolve(text: str, extras: Mapping[str, object]) -> list[str]:
    """The tags of ``text``, after checking that there are some and each is the label of a citation the
    ``rag_fed`` extras list."""
    citations = extras["citations"]
    assert isinstance(citations, list) and citations, f"no citations in {extras}"
    labels = {Citation.model_validate(citation).label for citation in citations}
    tags = answer_tags(text)
    assert tags, f"the answer cites nothing: {text!r}"
    assert set(tags) <= labels, f"tags {set(tags) - labels} are not among the citations {labels}"
    return tags


@dataclass
class Federation:
    root: Path
    data_dir: Path
    gateway_home: Path
    gateway_keys: KeyPair
    site_keys: dict[str, KeyPair]
    sites: dict[str, Service]
    gateway: Service
    api_keys: dict[str, str]  # role (and "site-admin") -> key
    admin_keys: dict[str, str]  # site -> key of the site's own admin API
    registry: SiteRegistry
    keystore: KeyStore


def ingest_site(settings: Settings, site_id: str, embedder: Embedder, corpus: Path) -> None:
    Site.init(site_id, settings)
    with Site.open(site_id, settings, embedder=embedder) as site:
        report = site.ingest([corpus])
        assert not report.failed, report.failed


def write_gateway_config(path: Path, home: Path, deadline_s: float) -> Path:
    path.write_text(GATEWAY_CONFIG.format(home=home, deadline=deadline_s))
    return path


def start_site(fed_root: Path, data_dir: Path, site_id: str, gateway_key: Path, *extra: str) -> Service:
    port = free_port()
    args = ["api.site_service", "--site", site_id, "--port", str(port), "--data-dir", str(data_dir)]
    args += ["--gateway-key", str(gateway_key), "--egress", "passages", *extra]
    return start_service(f"site-{site_id}", args, port, fed_root, service_env())


@dataclass
class HttpsService(Service):
    """A service started with a certificate (``--tls-cert``/``tls_cert_file``): it answers https only."""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def as_https(service: Service) -> HttpsService:
    """The same process, addressed by https (for services given ``--tls-cert``/``--tls-key``)."""
    return HttpsService(service.name, service.process, service.port, service.log)


@contextmanager
def extra_site(federation: Federation, embedder: Embedder, site_id: str, manual: str) -> Iterator[Service]:
    """One more site beside the shared federation's, serving ``manual`` (Markdown), registered at the
    gateway while the block runs, so a test may stop or kill it without harming the others."""
    corpus = federation.root / "corpus" / site_id
    corpus.mkdir(parents=True)
    (corpus / f"{site_id}-manual.md").write_text(manual)
    ingest_site(Settings(data_dir=federation.data_dir), site_id, embedder, corpus)
    service = start_site(federation.root, federation.data_dir, site_id, federation.gateway_home / "keys" / "public.key")
    try:
        wait_healthy([service])
        key = KeyPair.load(federation.data_dir / site_id / "keys").public_key_text
        federation.registry.register(site_id, service.url, key)
        yield service
    finally:
        service.stop()
        federation.registry.remove(site_id)


def start_gateway(fed_root: Path, config: Path, name: str = "gateway") -> Service:
    port = free_port()
    args = ["api.gateway", "--port", str(port), "--config", str(config)]
    return start_service(name, args, port, fed_root, service_env())


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    data_dir = root / "data"
    settings = Settings(data_dir=data_dir)
    admin_keys: dict[str, str] = {}
    for site_id in SITES:
        ingest_site(settings, site_id, packaged_embedder, write_corpus(root, site_id))
        admin = issue_key()
        (data_dir / site_id / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
        admin_keys[site_id] = admin.key
    home = root / "gateway"
    gateway_settings = GatewaySettings(home=home)
    gateway_keys = KeyPair.generate()
    gateway_keys.save(gateway_settings.keys_dir)
    services: list[Service] = []
    try:
        sites = {site_id: start_site(root, data_dir, site_id, gateway_settings.public_key_file) for site_id in SITES}
        services.extend(sites.values())
        # Registered before the gateway starts, as an operator does: the gateway fetches the sites' term
        # statistics (and sketches) at start, and a site registered after that waits for the next refresh.
        registry = SiteRegistry(gateway_settings.registry_path)
        site_keys = {site_id: KeyPair.load(data_dir / site_id / "keys") for site_id in SITES}
        for site_id, service in sites.items():
            registry.register(site_id, service.url, site_keys[site_id].public_key_text)
        config = write_gateway_config(root / "gateway.toml", home, deadline_s=30)
        gateway = start_gateway(root, config)
        services.append(gateway)
        keystore = KeyStore(gateway_settings.database)
        api_keys = {
            role.value: keystore.create(role, "north" if role is Role.SITE_ADMIN else None).key for role in Role
        }
        wait_healthy(services)
        yield Federation(
            root, data_dir, home, gateway_keys, site_keys, sites, gateway, api_keys, admin_keys, registry, keystore
        )
    finally:
        for service in services:
            service.stop()


@dataclass
class SampleFederation:
    """Site services (one per folder; the shipped sample federation's by default) and a gateway on
    loopback, with one engineer key. The sites' data is under ``root / "data"``, the gateway's home is
    ``root / "gateway"``."""

    root: Path
    sites: dict[str, Service]
    gateway: Service
    engineer_key: str


@contextmanager
def sample_federation_services(root: Path, embedder: Embedder, deadline_s: float = 30) -> Iterator[SampleFederation]:
    """Ingest the sample plants under ``root`` and serve them; every process is stopped on exit."""
    with folder_federation_services(root, {s.id: s.root for s in load_sites()}, embedder, deadline_s) as federation:
        yield federation


@contextmanager
def folder_federation_services(
    root: Path, folders: Mapping[str, Path], embedder: Embedder, deadline_s: float = 30
) -> Iterator[SampleFederation]:
    """One site per ``folders`` entry (site id -> the folder it ingests) under ``root``, served by a site
    service each and a gateway; every process is stopped on exit."""
    data_dir = root / "data"
    settings = Settings(data_dir=data_dir)
    for site_id, folder in folders.items():
        ingest_site(settings, site_id, embedder, folder)
    home = root / "gateway"
    gateway_settings = GatewaySettings(home=home)
    KeyPair.generate().save(gateway_settings.keys_dir)
    services: list[Service] = []
    try:
        sites = {site_id: start_site(root, data_dir, site_id, gateway_settings.public_key_file) for site_id in folders}
        services.extend(sites.values())
        registry = SiteRegistry(gateway_settings.registry_path)  # before the gateway starts, as above
        for site_id, service in sites.items():
            registry.register(site_id, service.url, KeyPair.load(data_dir / site_id / "keys").public_key_text)
        gateway = start_gateway(root, write_gateway_config(root / "gateway.toml", home, deadline_s))
        services.append(gateway)
        engineer_key = KeyStore(gateway_settings.database).create(Role.ENGINEER, None).key
        wait_healthy(services)
        yield SampleFederation(root, sites, gateway, engineer_key)
    finally:
        for service in services:
            service.stop()
