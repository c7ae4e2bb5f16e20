"""Sealed model controls at a site, in process: status, refusals by setting or by circumstance, and the
same envelope checks as queries (replays and foreign keys refused). The happy path with real services
and a real new model is tests/api/test_model_rollout.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.errors import ForgedEnvelopeError, InputError, ReplayedEnvelopeError
from rag_fed.protocol import ModelControl, ModelControlReply
from rag_fed.site import Site
from rag_fed.site.responder import SiteResponder
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.unit

GATEWAY = KeyPair.generate()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path / "data")
    Site.init("north", settings)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pump.md").write_text("# Pump\n\n## Seal\nReplace the mechanical seal when the gland leaks.\n")
    with Site.open("north", settings, embedder=HashEmbedder("fake-a@1")) as opened:
        assert not opened.ingest([docs]).failed
        yield opened


def _responder(site: Site, **settings: object) -> SiteResponder:
    service = SiteServiceSettings.model_validate(
        {"site_id": "north", "gateway_public_key": GATEWAY.public_key_text, **settings}
    )
    return SiteResponder(site, service, KeyPair.load(site.layout.keys_dir), GATEWAY.public_key)


def _seal(site: Site, control: ModelControl, sender: KeyPair = GATEWAY) -> bytes:
    site_key = KeyPair.load(site.layout.keys_dir).public_key
    return seal(
        control.to_bytes(), sender=sender, sender_id="gateway", recipient_id="north", recipient_key=site_key
    ).to_bytes()


def _ask(responder: SiteResponder, site: Site, control: ModelControl) -> ModelControlReply:
    sealed_reply = responder.handle_control(_seal(site, control))
    assert b"fake-a" not in sealed_reply, "the reply travels sealed"
    site_key = KeyPair.load(site.layout.keys_dir).public_key
    opener = EnvelopeOpener(GATEWAY, "gateway", {"north": site_key})
    reply = ModelControlReply.from_bytes(opener.open_bytes(sealed_reply))
    assert reply.request_id == control.request_id and reply.site_id == "north"
    return reply


def test_status_names_the_served_version(site: Site) -> None:
    reply = _ask(_responder(site), site, ModelControl(action="status"))
    assert (reply.status, reply.serving_version) == ("ok", "fake-a@1")
    assert reply.previous_version is None and reply.reembed is None


def test_a_site_that_does_not_accept_rollouts_refuses_them_but_answers_status(site: Site) -> None:
    responder = _responder(site, accept_model_rollouts=False)
    rollout = ModelControl(action="rollout", version="minilm-fed@abc", model_path=str(site.layout.root))
    for control in (rollout, ModelControl(action="rollback")):
        reply = _ask(responder, site, control)
        assert reply.status == "refused" and reply.error is not None and "accept_model_rollouts" in reply.error
    assert _ask(responder, site, ModelControl(action="status")).status == "ok"
    assert site.serving_version == "fake-a@1"


def test_requests_that_cannot_apply_are_refused_with_the_reason(site: Site, tmp_path: Path) -> None:
    responder = _responder(site)
    missing = ModelControl(action="rollout", version="minilm-fed@abc", model_path=str(tmp_path / "not-here"))
    reply = _ask(responder, site, missing)
    assert reply.status == "refused" and reply.error is not None and "not readable at site north" in reply.error
    reply = _ask(responder, site, ModelControl(action="rollback"))
    assert reply.status == "refused" and reply.error is not None and "no previous store" in reply.error


def test_controls_pass_the_same_envelope_checks_as_queries(site: Site) -> None:
    responder = _responder(site)
    sealed = _seal(site, ModelControl(action="status"))
    responder.handle_control(sealed)
    with pytest.raises(ReplayedEnvelopeError):
        responder.handle_control(sealed)
    with pytest.raises(ForgedEnvelopeError):
        responder.handle_control(_seal(site, ModelControl(action="status"), sender=KeyPair.generate()))
    site_key = KeyPair.load(site.layout.keys_dir).public_key
    garbage = seal(
        b'{"kind":"model_control","action":"explode"}',
        sender=GATEWAY,
        sender_id="gateway",
        recipient_id="north",
        recipient_key=site_key,
    ).to_bytes()
    with pytest.raises(InputError, match="invalid ModelControl"):
        responder.handle_control(garbage)


def test_control_messages_say_what_each_action_carries() -> None:
    with pytest.raises(ValueError, match="names the version and the model_path"):
        ModelControl(action="rollout", version="v@1")
    with pytest.raises(ValueError, match="carries no version"):
        ModelControl(action="status", version="v@1")
    control = ModelControl(action="rollout", version="v@1", model_path="/models/v")
    assert ModelControl.from_bytes(control.to_bytes()) == control
    with pytest.raises(ValueError, match="must say why"):
        ModelControlReply(request_id="r1", site_id="north", status="refused", serving_version="v@1")
