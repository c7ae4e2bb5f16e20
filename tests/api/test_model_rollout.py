"""A rollout over real services: two site service processes and a gateway (uvicorn in this process, so
it shares the test's loaded models) on loopback, and a new embedder version.

Queries are answered correctly before, during and after each switch: while the sites serve different
versions each gets the question embedded with its own and the passages are fused by rank; once all
serve one version they merge by score again; a rollback brings back exactly the first answers. The
expected passages come from reference sites ingested here with each version (a re-embedded store holds
what a fresh ingest with the new model holds: tests/rag_fed/site/test_reembed.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from api.gateway import GatewayService, create_gateway_app
from api.gateway.keystore import KeyStore, Role
from rag_fed.cli.main import app as ragfed
from rag_fed.config import EmbedderSettings, Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.federation import SiteRegistry
from rag_fed.federation.models import ModelRegistry
from rag_fed.federation.rollout import Coordinator, SiteControlResult
from rag_fed.router import merge_passages
from rag_fed.site import Site
from tests.api.conftest import ingest_site, start_site
from tests.api.corpus import write_corpus
from tests.api.procs import Service, free_port, wait_healthy, wait_up
from tests.rag_fed.federation.perturbed_model import write_perturbed_minilm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE_IDS = ("north", "south")
QUESTIONS = {"How do I replace the mechanical seal?": "north", "head pulley bearing overtemperature": "south"}
K = 4
TIE = 1e-4
Passage = tuple[str, str, str]  # site, document, text


@dataclass
class Rollout:
    home: Path
    gateway: str
    sites: dict[str, Service]
    registry: SiteRegistry
    models: ModelRegistry
    keys: KeyPair
    api_key: str
    old: str
    new: str
    references: dict[str, dict[str, Site]] = field(default_factory=dict)  # version -> site -> reference


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[Rollout]:
    root = tmp_path_factory.mktemp("rollout")
    settings = Settings(data_dir=root / "data")
    for site_id in SITE_IDS:
        ingest_site(settings, site_id, packaged_embedder, write_corpus(root, site_id))
    gateway_settings = GatewaySettings.model_validate({"home": root / "gateway", "routing": {"deadline_s": 90}})
    keys = KeyPair.generate()
    keys.save(gateway_settings.keys_dir)
    models = ModelRegistry(gateway_settings.models_dir)
    new = models.register(write_perturbed_minilm(root / "training"), source="test run").version
    services: list[Service] = []
    references: dict[str, dict[str, Site]] = {}
    gateway: uvicorn.Server | None = None
    gateway_thread: threading.Thread | None = None
    try:
        sites = {sid: start_site(root, settings.data_dir, sid, gateway_settings.public_key_file) for sid in SITE_IDS}
        services.extend(sites.values())
        registry = SiteRegistry(gateway_settings.registry_path)
        for site_id, service in sites.items():
            registry.register(site_id, service.url, KeyPair.load(settings.data_dir / site_id / "keys").public_key_text)
        keystore = KeyStore(gateway_settings.database)
        api_key = keystore.create(Role.EVALUATOR).key
        # The gateway loads the new version through the process-wide cache, as the references do below.
        gateway_service = GatewayService(
            gateway_settings, keys=keys, registry=registry, keystore=keystore, embedder=packaged_embedder
        )
        port = free_port()
        config = uvicorn.Config(create_gateway_app(gateway_service), host="127.0.0.1", port=port, log_level="warning")
        gateway = uvicorn.Server(config)
        gateway_thread = threading.Thread(target=gateway.run, daemon=True)
        gateway_thread.start()
        # While the sites start: the same corpora ingested here under each version, for the expectations.
        new_embedder = load_embedder(EmbedderSettings(model=str(models.get(new).path)))
        for version, embedder in ((packaged_embedder.model_version, packaged_embedder), (new, new_embedder)):
            reference = Settings(data_dir=root / "reference" / version.replace("@", "-"))
            references[version] = {}
            for site_id in SITE_IDS:
                ingest_site(reference, site_id, embedder, root / "corpus" / site_id)
                references[version][site_id] = Site.open(site_id, reference, embedder=embedder)
        wait_healthy(services)
        wait_up(f"http://127.0.0.1:{port}/health")
        yield Rollout(
            gateway_settings.home,
            f"http://127.0.0.1:{port}",
            sites,
            registry,
            models,
            keys,
            api_key,
            packaged_embedder.model_version,
            new,
            references,
        )
    finally:
        if gateway is not None and gateway_thread is not None:
            gateway.should_exit = True
            gateway_thread.join(30)
        for site_service in services:
            site_service.stop()
        for by_site in references.values():
            for site in by_site.values():
                site.close()


def _ask(fed: Rollout, question: str) -> dict[str, object]:
    body = {"question": question, "k": K, "mode": "dense", "want_answer": False}
    headers = {"Authorization": f"Bearer {fed.api_key}"}
    response = httpx.post(f"{fed.gateway}/v1/query", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    reply: dict[str, object] = response.json()
    return reply


def _versions(reply: dict[str, object]) -> dict[str, str]:
    sites = reply["sites"]
    assert isinstance(sites, list)
    assert {site["site_id"]: site["status"] for site in sites} == dict.fromkeys(SITE_IDS, "answered"), sites
    return {site["site_id"]: site["embedder_version"] for site in sites}


def _passages(reply: dict[str, object]) -> list[tuple[Passage, float]]:
    passages = reply["passages"]
    assert isinstance(passages, list)
    return [((p["citation"]["site_id"], p["citation"]["doc_id"], p["text"]), p["score"]) for p in passages]


def _expected(fed: Rollout, question: str, versions: dict[str, str]) -> list[tuple[Passage, float]]:
    rankings = {site: fed.references[version][site].search(question, K, "dense") for site, version in versions.items()}
    merged = merge_passages(rankings, K, "dense", versions)
    return [((p.citation.site_id, p.citation.doc_id, p.text), p.score) for p in merged]


def _check(fed: Rollout, question: str, reply: dict[str, object]) -> dict[str, str]:
    """The fused passages are those of each site's own ranking under the version it reported serving
    (merged by score for one version, by rank for two); returns those versions."""
    versions = _versions(reply)
    got, expected = _passages(reply), _expected(fed, question, versions)
    assert len(got) == len(expected) == K
    for (passage, score), (want, want_score) in zip(got, expected, strict=True):
        assert score == pytest.approx(want_score, abs=TIE), (question, passage, want)
        assert passage == want or abs(score - want_score) < TIE, (question, passage, want)
    assert {p for p, _ in got} == {p for p, _ in expected}, question
    # The site that knows the answer leads (under rank fusion, tied with the other site's first).
    leaders = 1 if len(set(versions.values())) == 1 else len(versions)
    assert QUESTIONS[question] in {passage[0] for passage, _ in got[:leaders]}, (question, got)
    return versions


def _assert_answers(fed: Rollout, versions: dict[str, str]) -> None:
    for question in QUESTIONS:
        assert _check(fed, question, _ask(fed, question)) == versions, question


def _wait_switched(fed: Rollout, sites: list[str], timeout_s: float = 180) -> list[SiteControlResult]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = Coordinator(fed.registry, fed.keys).status(sites=sites)
        if all(s.reembed is not None and s.reembed.state != "running" for s in statuses):
            assert all(s.reembed is not None and s.reembed.state == "done" for s in statuses), statuses
            return statuses
        time.sleep(0.5)
    raise AssertionError(f"the sites did not switch in {timeout_s} s: {statuses}")


class _Asker(threading.Thread):
    """Asks the gateway again and again (during a switch) and keeps what went wrong."""

    def __init__(self, fed: Rollout) -> None:
        super().__init__(daemon=True)
        self.fed, self.stop, self.asked, self.problems = fed, threading.Event(), 0, list[str]()

    def run(self) -> None:
        while not self.stop.is_set():
            for question in QUESTIONS:
                try:
                    _check(self.fed, question, _ask(self.fed, question))
                except AssertionError as error:
                    self.problems.append(str(error)[:500])
                self.asked += 1


def test_queries_are_answered_correctly_before_during_and_after_a_rollout_and_a_rollback(rollout: Rollout) -> None:
    fed, old, new = rollout, rollout.old, rollout.new
    _assert_answers(fed, {"north": old, "south": old})

    # North alone switches, while questions keep coming.
    asker = _Asker(fed)
    asker.start()
    started = Coordinator(fed.registry, fed.keys).rollout(new, fed.models, sites=["north"])
    assert [(r.site_id, r.outcome) for r in started] == [("north", "ok")], started
    north = _wait_switched(fed, ["north"])[0]
    time.sleep(1.0)  # a few questions after the switch too
    asker.stop.set()
    asker.join(120)
    assert asker.asked >= 2 and asker.problems == [], asker.problems
    assert (north.serving_version, north.previous_version) == (new, old)
    assert north.reembed is not None and north.reembed.chunks_done == north.reembed.chunks_total > 0
    health = httpx.get(f"{fed.sites['north'].url}/health").json()
    assert health["serving_version"] == new and "reembed" not in health, "health is liveness only (docs/security.md)"
    [status] = Coordinator(fed.registry, fed.keys).status(sites=["north"])  # the re-embed, sealed
    assert status.reembed is not None and status.reembed.state == "done"

    # Mixed versions: each site is asked with its own version, passages fused by rank.
    _assert_answers(fed, {"north": new, "south": old})

    # Everyone on the new version: the site already there has nothing to do, the other switches.
    started = Coordinator(fed.registry, fed.keys).rollout(new, fed.models)
    assert {r.site_id: r.outcome for r in started} == {"north": "ok", "south": "ok"}, started
    _wait_switched(fed, list(SITE_IDS))
    _assert_answers(fed, {"north": new, "south": new})

    status = CliRunner().invoke(ragfed, ["model", "list", "--home", str(fed.home)], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert new in status.output and "north, south" in status.output

    # Back: both return to their kept stores.
    rolled = Coordinator(fed.registry, fed.keys).rollback()
    assert {r.site_id: r.outcome for r in rolled} == {"north": "ok", "south": "ok"}, rolled
    statuses = _wait_switched(fed, list(SITE_IDS))
    assert {s.site_id: s.serving_version for s in statuses} == {"north": old, "south": old}
    _assert_answers(fed, {"north": old, "south": old})
