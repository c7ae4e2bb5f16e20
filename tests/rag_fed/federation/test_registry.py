"""The site registry: persisted CRUD, key rotation with history, and validation of ids, URLs and keys."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.errors import ForgedEnvelopeError, InputError, UnknownSiteError
from rag_fed.federation import SiteRegistry

pytestmark = pytest.mark.unit


@pytest.fixture
def registry(tmp_path: Path) -> SiteRegistry:
    ticks = itertools.count(1000)
    return SiteRegistry(tmp_path / "gateway" / "sites.sqlite3", clock=lambda: float(next(ticks)))


def test_register_get_list_remove_and_persistence(registry: SiteRegistry, tmp_path: Path) -> None:
    north, south = KeyPair.generate(), KeyPair.generate()
    site = registry.register("north-1", "https://north.example:8443/", north.public_key_text)
    assert (site.site_id, site.url, site.public_key) == (
        "north-1",
        "https://north.example:8443",
        north.public_key_text,
    )
    assert site.key == north.public_key
    assert site.fingerprint == north.fingerprint
    registry.register("south-2", "http://10.0.0.7:9000", south.public_key_text)
    assert [s.site_id for s in registry.list()] == ["north-1", "south-2"]

    reopened = SiteRegistry(tmp_path / "gateway" / "sites.sqlite3")
    assert reopened.get("south-2").url == "http://10.0.0.7:9000"

    registry.remove("north-1")
    assert [s.site_id for s in reopened.list()] == ["south-2"]
    with pytest.raises(UnknownSiteError, match="north-1"):
        registry.get("north-1")
    with pytest.raises(UnknownSiteError):
        registry.remove("north-1")


def test_a_site_id_is_registered_once(registry: SiteRegistry) -> None:
    registry.register("north-1", "http://north", KeyPair.generate().public_key_text)
    with pytest.raises(InputError, match="already registered"):
        registry.register("north-1", "http://elsewhere", KeyPair.generate().public_key_text)


@pytest.mark.parametrize("site_id", ["North", "-north", "north_1", "", "a" * 64, "north\n", "nörth"])
def test_bad_site_ids_are_refused(registry: SiteRegistry, site_id: str) -> None:
    with pytest.raises(InputError, match="invalid site id"):
        registry.register(site_id, "http://north", KeyPair.generate().public_key_text)
    assert registry.list() == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://north", "invalid site URL"),
        ("north.example", "invalid site URL"),
        ("http://", "invalid site URL"),
        ("https://admin:secret@north", "credentials"),
        ("https://north/?token=1", "query or fragment"),
        ("https://north:99999", "invalid port"),
    ],
)
def test_bad_urls_are_refused(registry: SiteRegistry, url: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        registry.register("north-1", url, KeyPair.generate().public_key_text)


def test_bad_or_reused_keys_are_refused(registry: SiteRegistry) -> None:
    with pytest.raises(InputError, match="malformed public key"):
        registry.register("north-1", "http://north", "not-a-key")
    shared = KeyPair.generate().public_key_text
    registry.register("north-1", "http://north", shared)
    with pytest.raises(InputError, match="already used"):
        registry.register("south-2", "http://south", shared)


def test_rotation_keeps_history_and_accepts_only_the_new_key(registry: SiteRegistry) -> None:
    old, new = KeyPair.generate(), KeyPair.generate()
    registry.register("north-1", "http://north", old.public_key_text)
    rotated = registry.rotate_key("north-1", new.public_key_text)
    assert rotated.key == new.public_key
    assert rotated.key_added_at > rotated.registered_at

    history = registry.key_history("north-1")
    assert [k.public_key for k in history] == [old.public_key_text, new.public_key_text]
    assert history[0].retired_at == rotated.key_added_at
    assert history[1].retired_at is None

    with pytest.raises(InputError, match="already used"):
        registry.rotate_key("north-1", old.public_key_text)  # no return to a retired key
    with pytest.raises(UnknownSiteError):
        registry.rotate_key("south-2", KeyPair.generate().public_key_text)


def test_the_live_key_view_follows_rotation_and_removal(registry: SiteRegistry) -> None:
    gateway, old, new = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    registry.register("north-1", "http://north", old.public_key_text)
    keys = registry.sender_keys()
    opener = EnvelopeOpener(gateway, "gateway", keys)

    def reply_from(site_keys: KeyPair) -> bytes:
        return seal(
            b"reply",
            sender=site_keys,
            sender_id="north-1",
            recipient_id="gateway",
            recipient_key=gateway.public_key,
        ).to_bytes()

    assert dict(keys) == {"north-1": old.public_key}
    assert opener.open_bytes(reply_from(old)) == b"reply"

    registry.rotate_key("north-1", new.public_key_text)
    with pytest.raises(ForgedEnvelopeError, match="not its registered key"):
        opener.open_bytes(reply_from(old))
    assert opener.open_bytes(reply_from(new)) == b"reply"

    registry.remove("north-1")
    assert len(keys) == 0
    assert keys.get("north-1") is None
    with pytest.raises(ForgedEnvelopeError, match="unknown sender"):
        opener.open_bytes(reply_from(new))
