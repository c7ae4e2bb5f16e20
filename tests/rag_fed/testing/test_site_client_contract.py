"""``SiteClientContract`` catches what it is for: run against clients of fake sites (real envelopes, canned
passages) that break one rule each, the test of that rule fails; the real clients pass it in
tests/api/test_site_client_contract.py."""

from __future__ import annotations

import pytest

from rag_fed.crypto import KeyPair
from rag_fed.errors import RagFedError
from rag_fed.router import InProcessSiteClient
from rag_fed.testing.site_client import SiteClientContract, SiteUnderTest
from tests.rag_fed.router.fakes import GATEWAY, FakeSite, passage

pytestmark = pytest.mark.unit


class _Forgiving:
    """Turns every refusal of the site into an empty reply: the router would never count the failure."""

    def __init__(self, inner: InProcessSiteClient) -> None:
        self._inner = inner
        self.site_id = inner.site_id

    async def search(self, sealed: bytes, timeout_s: float) -> bytes:
        try:
            return await self._inner.search(sealed, timeout_s)
        except RagFedError:
            return b""


def _site(fake: FakeSite, gateway: KeyPair, client: object) -> SiteUnderTest:
    return SiteUnderTest(client, fake.site_id, fake.keys.public_key, gateway, GATEWAY, "pump", "doc-1")  # type: ignore[arg-type]


def test_a_site_that_answers_replays_fails_the_replay_rule_only() -> None:
    gateway = KeyPair.generate()
    fake = FakeSite("north", gateway, passages=[passage("north", 1, 0.9, 1)])  # opens without a replay guard
    site = _site(fake, gateway, fake.client())
    contract = SiteClientContract()
    contract.test_is_a_site_client_of_its_site(site)
    contract.test_a_sealed_query_gets_the_sites_sealed_reply(site)
    contract.test_a_query_sealed_to_another_site_is_refused(site)
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        contract.test_a_replayed_query_is_refused(site)


def test_a_client_that_hides_refusals_fails_the_refusal_rules() -> None:
    gateway = KeyPair.generate()
    fake = FakeSite("north", gateway, passages=[passage("north", 1, 0.9, 1)])
    site = _site(fake, gateway, _Forgiving(fake.client()))
    contract = SiteClientContract()
    for rule in (
        contract.test_a_query_sealed_to_another_site_is_refused,
        contract.test_bytes_that_are_no_envelope_are_refused,
    ):
        with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
            rule(site)


def test_a_site_answering_with_another_document_fails() -> None:
    gateway = KeyPair.generate()
    fake = FakeSite("north", gateway, passages=[passage("north", 2, 0.9, 1)])  # doc-2, not the expected doc-1
    with pytest.raises(AssertionError):
        SiteClientContract().test_a_sealed_query_gets_the_sites_sealed_reply(_site(fake, gateway, fake.client()))
