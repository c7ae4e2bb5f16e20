"""Key pairs shared by the crypto tests (generated once: the tests never modify them)."""

from __future__ import annotations

import pytest

from rag_fed.crypto import KeyPair


@pytest.fixture(scope="session")
def gateway_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def site_keys() -> KeyPair:
    return KeyPair.generate()
