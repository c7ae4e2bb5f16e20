"""TLS as a config option: sites and gateway serve HTTPS when given a certificate and key, and the
gateway verifies https:// sites against its CA bundle, naming a site whose certificate does not verify.

The integration part starts its own small federation over TLS (two sites, one gateway) with a throwaway
PKI: CA "A" signs the gateway's and north's certificates and is the gateway's ``tls_ca_file``; CA "B"
signs south's, so south must fail verification while north answers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from api.cli import service_commands
from api.gateway.__main__ import main as gateway_main
from api.gateway.keystore import KeyStore, Role
from api.serving import check_server_tls
from api.site_service.__main__ import main as site_main
from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ConfigError
from rag_fed.federation import SiteRegistry
from rag_fed.federation.rollout import Coordinator
from rag_fed.router.clients import site_tls_context
from tests.api.conftest import (
    HttpsService,
    as_https,
    ingest_site,
    start_gateway,
    start_site,
    write_gateway_config,
)
from tests.api.corpus import write_corpus
from tests.api.procs import wait_healthy

TLS_MESSAGE = "TLS verification failed"


# -- a throwaway PKI --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))


def make_ca(folder: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rag-fed test CA {name}")])
    public = key.public_key()
    cert = (
        _validity(x509.CertificateBuilder())
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = folder / f"ca-{name}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(key, cert, pem)


def issue_server_cert(ca: Authority, folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost signed by ``ca``: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _validity(x509.CertificateBuilder())
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


# -- settings and flags (unit) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    trusted, other = make_ca(folder, "a"), make_ca(folder, "b")
    paths = {"ca_a": trusted.pem, "ca_b": other.pem}
    for name, ca in (("gateway", trusted), ("north", trusted), ("south", other)):
        paths[f"{name}_cert"], paths[f"{name}_key"] = issue_server_cert(ca, folder, name)
    return paths


@pytest.mark.unit
@pytest.mark.parametrize("given", ["tls_cert_file", "tls_key_file"])
def test_a_certificate_without_its_key_or_back_is_an_error_naming_both(given: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as site_error:
        SiteServiceSettings.load(None, site_id="north", **{given: tmp_path / "x.pem"})
    with pytest.raises(ConfigError) as gateway_error:
        GatewaySettings.load(None, **{given: tmp_path / "x.pem"})
    for error in (site_error.value, gateway_error.value):
        assert "tls_cert_file (--tls-cert) and tls_key_file (--tls-key) go together" in str(error)


@pytest.mark.unit
def test_both_or_neither_are_accepted(tmp_path: Path) -> None:
    assert not SiteServiceSettings(site_id="north").serves_tls
    both = {"tls_cert_file": tmp_path / "c.pem", "tls_key_file": tmp_path / "k.pem"}
    assert SiteServiceSettings.load(None, site_id="north", **both).serves_tls
    gateway = GatewaySettings.load(None, **both, tls_ca_file=tmp_path / "ca.pem")
    assert gateway.serves_tls
    assert gateway.tls_ca_file == tmp_path / "ca.pem"
    assert GatewaySettings().tls_ca_file is None


@pytest.mark.unit
def test_the_flags_alone_fail_fast_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "c.pem"
    assert site_main(["--site", "north", "--tls-cert", str(cert)]) == 1
    assert gateway_main(["--home", str(tmp_path / "gw"), "--tls-key", str(cert)]) == 1
    reports = capsys.readouterr().err.split("error: ")[1:]
    assert len(reports) == 2
    assert all("--tls-cert" in report and "--tls-key" in report for report in reports), reports
    assert not (tmp_path / "gw").exists(), "the gateway must fail before it creates anything"


@pytest.mark.unit
def test_ragfed_serve_passes_the_tls_flags_on(tmp_path: Path) -> None:
    app = typer.Typer()
    service_commands.register(app)
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("")  # had the flags been dropped, the gateway would stop here instead
    runs = [
        ["serve", "site", "--site", "north", "--data-dir", str(tmp_path), "--tls-key", str(tmp_path / "k.pem")],
        ["serve", "gateway", "--home", str(not_a_folder), "--tls-cert", str(tmp_path / "c.pem")],
    ]
    for args in runs:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "tls_cert_file (--tls-cert) and tls_key_file (--tls-key) go together" in result.output


@pytest.mark.unit
def test_unusable_certificate_files_are_config_errors(pki: dict[str, Path], tmp_path: Path) -> None:
    good = SiteServiceSettings(site_id="north", tls_cert_file=pki["north_cert"], tls_key_file=pki["north_key"])
    check_server_tls(good)
    wrong_key = SiteServiceSettings(site_id="north", tls_cert_file=pki["north_cert"], tls_key_file=pki["south_key"])
    with pytest.raises(ConfigError, match="tls_key_file"):
        check_server_tls(wrong_key)
    missing = SiteServiceSettings(site_id="north", tls_cert_file=tmp_path / "no.crt", tls_key_file=pki["north_key"])
    with pytest.raises(ConfigError, match=r"no\.crt"):
        check_server_tls(missing)
    with pytest.raises(ConfigError, match="tls_ca_file"):
        site_tls_context(tmp_path / "no-ca.pem")


@pytest.mark.unit
def test_the_site_client_always_verifies(pki: dict[str, Path]) -> None:
    for context in (site_tls_context(pki["ca_a"]), site_tls_context(None)):
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname


# -- a federation over TLS (integration) -----------------------------------------------------------


@dataclass
class TlsFederation:
    pki: dict[str, Path]
    sites: dict[str, HttpsService]
    gateway: HttpsService
    gateway_keys: KeyPair
    registry: SiteRegistry
    engineer_key: str


@pytest.fixture(scope="module")
def tls_federation(
    tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path], packaged_embedder: Embedder
) -> Iterator[TlsFederation]:
    root = tmp_path_factory.mktemp("tls-federation")
    data_dir = root / "data"
    for site_id in ("north", "south"):
        ingest_site(Settings(data_dir=data_dir), site_id, packaged_embedder, write_corpus(root, site_id))
    settings = GatewaySettings(home=root / "gateway")
    gateway_keys = KeyPair.generate()
    gateway_keys.save(settings.keys_dir)
    config = write_gateway_config(root / "gateway.toml", settings.home, deadline_s=30)
    # Top-level keys must come before the file's [routing] table.
    tls_lines = "".join(f'{key} = "{pki[name]}"\n' for key, name in _GATEWAY_TLS.items())
    config.write_text(tls_lines + config.read_text())
    services: list[HttpsService] = []
    try:
        for site_id in ("north", "south"):
            tls = ["--tls-cert", str(pki[f"{site_id}_cert"]), "--tls-key", str(pki[f"{site_id}_key"])]
            services.append(as_https(start_site(root, data_dir, site_id, settings.public_key_file, *tls)))
        services.append(as_https(start_gateway(root, config)))
        north, south, gateway = services
        registry = SiteRegistry(settings.registry_path)
        for site in (north, south):
            site_id = site.name.removeprefix("site-")
            registry.register(site_id, site.url, KeyPair.load(data_dir / site_id / "keys").public_key_text)
        engineer_key = KeyStore(settings.database).create(Role.ENGINEER, None).key
        both_cas = root / "both-cas.pem"
        both_cas.write_text(pki["ca_a"].read_text() + pki["ca_b"].read_text())
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SSL_CERT_FILE", str(both_cas))  # only this process's health polls trust both CAs
            wait_healthy(list(services))
        yield TlsFederation(pki, {"north": north, "south": south}, gateway, gateway_keys, registry, engineer_key)
    finally:
        # Gateway first: it closes its pooled TLS connections, so the sites need not wait out the TLS
        # shutdown of connections the gateway still holds.
        for service in reversed(services):
            service.stop()


_GATEWAY_TLS = {"tls_cert_file": "gateway_cert", "tls_key_file": "gateway_key", "tls_ca_file": "ca_a"}


@pytest.mark.integration
def test_a_query_over_https_is_answered_and_an_untrusted_site_is_named(tls_federation: TlsFederation) -> None:
    fed = tls_federation
    response = httpx.post(
        f"{fed.gateway.url}/v1/query",
        json={"question": "How do I replace the mechanical seal on the slurry pump?", "k": 3, "strategy": "extractive"},
        headers={"Authorization": f"Bearer {fed.engineer_key}"},
        verify=ssl.create_default_context(cafile=fed.pki["ca_a"]),
        timeout=240,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    sites = {site["site_id"]: site for site in body["sites"]}
    assert sites["north"]["status"] == "answered", sites["north"]
    assert body["passages"] and {p["citation"]["site_id"] for p in body["passages"]} == {"north"}
    assert "MS-4471" in " ".join(p["text"] for p in body["passages"])
    assert {item["citation"]["site_id"] for item in body["evidence"]} == {"north"}
    assert not body["answer"]["refused"] and "MS-4471" in body["answer"]["text"]
    assert sites["south"]["status"] == "failed"
    assert TLS_MESSAGE in sites["south"]["error"], sites["south"]
    assert fed.sites["south"].url in sites["south"]["error"]


@pytest.mark.integration
def test_plain_http_to_an_https_port_fails(tls_federation: TlsFederation) -> None:
    for service in (tls_federation.sites["north"], tls_federation.gateway):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{service.port}/health", timeout=10)
        # The same port over https, trusting the CA that signed it, answers.
        trusted = ssl.create_default_context(cafile=tls_federation.pki["ca_a"])
        assert httpx.get(f"{service.url}/health", verify=trusted, timeout=10).status_code == 200


@pytest.mark.integration
def test_model_controls_verify_sites_with_the_same_ca(tls_federation: TlsFederation) -> None:
    fed = tls_federation
    statuses = {
        result.site_id: result
        for result in Coordinator(fed.registry, fed.gateway_keys, ca_file=fed.pki["ca_a"]).status()
    }
    assert statuses["north"].outcome == "ok", statuses["north"]
    assert statuses["north"].serving_version
    assert statuses["south"].outcome == "failed"
    assert TLS_MESSAGE in (statuses["south"].reason or "")
