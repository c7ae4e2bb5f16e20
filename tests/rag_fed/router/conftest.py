"""Fixtures of the router tests: the gateway's keys and a router over fake sites."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rag_fed.crypto import KeyPair
from rag_fed.router import Router, RoutingPolicy
from tests.rag_fed.router.fakes import GATEWAY, FakeSite


@pytest.fixture(scope="session")
def gateway_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def make_router(gateway_keys: KeyPair) -> Callable[..., Router]:
    def build(sites: list[FakeSite], **policy: object) -> Router:
        return Router(
            keys=gateway_keys,
            gateway_id=GATEWAY,
            site_keys={site.site_id: site.keys.public_key for site in sites},
            clients=[site.client() for site in sites],
            policy=RoutingPolicy.model_validate(policy),
        )

    return build
