"""X25519 key pairs for sealed envelopes: generate, save, load, and show public keys.

A node keeps its pair in a keys directory (mode 0700): ``private.key`` (mode 0600; refused, as ssh does,
when group or others may read it) and ``public.key``. Public keys travel as unpadded URL-safe base64.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey

from rag_fed.crypto.b64 import decode_b64, encode_b64
from rag_fed.errors import ConfigError, InputError
from rag_fed.files import replace_text

__all__ = [
    "KEY_BYTES",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "KeyPair",
    "fingerprint",
    "load_public_key",
    "public_key_from_text",
    "public_key_to_text",
]

KEY_BYTES = 32
PRIVATE_KEY_FILE = "private.key"
PUBLIC_KEY_FILE = "public.key"
# The private file carries a label so that it cannot be pasted where a public key is expected: the
# public-key parser rejects it instead of registering a site with its own secret.
_PRIVATE_LABEL = "ragfed-x25519-private:"


def public_key_to_text(key: PublicKey) -> str:
    """The wire and registry form of a public key."""
    return encode_b64(bytes(key))


def public_key_from_text(text: str) -> PublicKey:
    """Parse a public key written by :func:`public_key_to_text`; ``InputError`` if it is not one."""
    cleaned = text.strip()
    if cleaned.startswith(_PRIVATE_LABEL):
        raise InputError("that is a PRIVATE key file's content; give the public key (public.key)")
    try:
        return PublicKey(decode_b64(cleaned, what="public key", size=KEY_BYTES))
    except (ValueError, CryptoError) as error:
        raise InputError(f"malformed public key: {error}") from None


def fingerprint(key: PublicKey) -> str:
    """A short, stable digest of a public key for humans comparing keys (e.g. ``3f9a-07c2-d41e-88b0``)."""
    digest = hashlib.sha256(b"ragfed-x25519\0" + bytes(key)).hexdigest()[:16]
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


def load_public_key(path: Path) -> PublicKey:
    """Read a ``public.key`` file (e.g. the gateway's key at a site); ``ConfigError`` if missing or bad."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"no public key file at {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read public key file {path}: {error}") from None
    try:
        return public_key_from_text(text)
    except InputError as error:
        raise ConfigError(f"public key file {path}: {error}") from None


class KeyPair:
    """One node's X25519 identity. The private half never leaves this object except through ``save``."""

    __slots__ = ("_private",)

    def __init__(self, private_key: PrivateKey) -> None:
        self._private = private_key

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh random key pair (libsodium's CSPRNG)."""
        return cls(PrivateKey.generate())

    @property
    def private_key(self) -> PrivateKey:
        return self._private

    @property
    def public_key(self) -> PublicKey:
        key: PublicKey = self._private.public_key
        return key

    @property
    def public_key_text(self) -> str:
        return public_key_to_text(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def __repr__(self) -> str:
        return f"KeyPair(fingerprint={self.fingerprint!r})"

    def save(self, keys_dir: Path, *, overwrite: bool = False) -> Path:
        """Write ``keys_dir/private.key`` (mode 0600) and ``keys_dir/public.key``; return the latter's path.

        An existing private key is kept unless ``overwrite`` is true: replacing it silently would cut
        the node off from every peer that registered the old key.
        """
        private_path, public_path = keys_dir / PRIVATE_KEY_FILE, keys_dir / PUBLIC_KEY_FILE
        if private_path.exists() and not overwrite:
            raise ConfigError(f"key file {private_path} already exists; remove it or pass overwrite=True")
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = f"{_PRIVATE_LABEL}{encode_b64(bytes(self._private))}\n"
        replace_text(private_path, secret, mode=0o600)
        replace_text(public_path, self.public_key_text + "\n", mode=0o644)
        return public_path

    @classmethod
    def load(cls, keys_dir: Path) -> KeyPair:
        """Read the key pair written by :meth:`save` into ``keys_dir``.

        ``ConfigError`` if the private key file is missing, readable by group or others, malformed, or
        does not match ``public.key`` beside it (a sign that one of the two was replaced).
        """
        path = keys_dir / PRIVATE_KEY_FILE
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError(
                f"no private key file at {path}; create one with KeyPair.generate().save({keys_dir})"
            ) from None
        if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
            raise ConfigError(
                f"private key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read private key file {path}: {error}") from None
        if not text.startswith(_PRIVATE_LABEL):
            raise ConfigError(f"{path} is not a rag-fed private key file (expected '{_PRIVATE_LABEL}...')")
        try:
            raw = decode_b64(text.removeprefix(_PRIVATE_LABEL), what="private key", size=KEY_BYTES)
        except ValueError as error:
            raise ConfigError(f"private key file {path} is malformed: {error}") from None
        keys = cls(PrivateKey(raw))
        public_path = keys_dir / PUBLIC_KEY_FILE
        if public_path.exists() and load_public_key(public_path) != keys.public_key:
            raise ConfigError(
                f"{public_path} does not belong to the private key {path}; "
                "restore it, or delete it and save the key pair again"
            )
        return keys
