"""Key pairs on disk: saved with safe permissions, loaded with clear errors when anything is off."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from rag_fed.crypto import KeyPair, fingerprint, load_public_key, public_key_from_text, public_key_to_text
from rag_fed.crypto.b64 import encode_b64
from rag_fed.errors import ConfigError, InputError

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_then_load_gives_the_same_pair_with_private_file_0600(tmp_path: Path) -> None:
    keys = KeyPair.generate()
    keys_dir = tmp_path / "node" / "keys"
    public_path = keys.save(keys_dir)
    assert _mode(keys_dir / "private.key") == 0o600
    assert _mode(keys_dir) == 0o700
    assert public_path == keys_dir / "public.key"
    assert public_path.read_text().strip() == keys.public_key_text
    loaded = KeyPair.load(keys_dir)
    assert loaded.public_key == keys.public_key
    assert bytes(loaded.private_key) == bytes(keys.private_key)
    assert load_public_key(public_path) == keys.public_key


def test_save_refuses_to_replace_a_key_unless_asked(tmp_path: Path) -> None:
    first, second = KeyPair.generate(), KeyPair.generate()
    first.save(tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        second.save(tmp_path)
    assert KeyPair.load(tmp_path).public_key == first.public_key
    second.save(tmp_path, overwrite=True)
    assert KeyPair.load(tmp_path).public_key == second.public_key


def test_load_names_a_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no private key file"):
        KeyPair.load(tmp_path)


def test_load_refuses_a_key_readable_by_others(tmp_path: Path) -> None:
    KeyPair.generate().save(tmp_path)
    (tmp_path / "private.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        KeyPair.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("hello\n", "not a rag-fed private key"),
        ("ragfed-x25519-private:AAAA\n", "must be 32 bytes"),
        ("ragfed-x25519-private:not base64!\n", "malformed"),
        ("", "not a rag-fed private key"),
    ],
)
def test_load_refuses_a_malformed_key_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "private.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=problem):
        KeyPair.load(tmp_path)


def test_load_refuses_a_public_file_of_another_pair(tmp_path: Path) -> None:
    KeyPair.generate().save(tmp_path)
    (tmp_path / "public.key").write_text(KeyPair.generate().public_key_text + "\n")
    with pytest.raises(ConfigError, match="does not belong"):
        KeyPair.load(tmp_path)


def test_public_key_text_round_trips_and_rejects_private_or_broken_text(tmp_path: Path) -> None:
    keys = KeyPair.generate()
    assert public_key_from_text(f"  {public_key_to_text(keys.public_key)}\n") == keys.public_key
    keys.save(tmp_path)
    with pytest.raises(InputError, match="PRIVATE"):
        public_key_from_text((tmp_path / "private.key").read_text())
    with pytest.raises(InputError, match="malformed public key"):
        public_key_from_text("AAAA")
    with pytest.raises(ConfigError, match="no public key file"):
        load_public_key(tmp_path / "missing.key")


def test_fingerprints_are_short_stable_and_distinct() -> None:
    keys, other = KeyPair.generate(), KeyPair.generate()
    assert re.fullmatch(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}", keys.fingerprint)
    assert keys.fingerprint == fingerprint(public_key_from_text(keys.public_key_text))
    assert keys.fingerprint != other.fingerprint


def test_repr_does_not_show_the_private_key() -> None:
    keys = KeyPair.generate()
    shown = repr(keys)
    assert keys.fingerprint in shown
    assert encode_b64(bytes(keys.private_key)) not in shown
