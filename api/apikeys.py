"""API keys: made from 32 random bytes, stored only as their SHA-256, compared in constant time.

A key reads ``rfk_<key id>_<secret>``: the key id (not secret) finds the stored hash without scanning,
and the comparison of hashes uses ``hmac.compare_digest`` so its timing says nothing about the key.
A fast hash is enough because the key is 256 random bits, not a password that could be guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["ISSUED_KEY", "IssuedKey", "hash_key", "issue_key", "key_id_of", "keys_match"]

ISSUED_KEY = re.compile(r"^rfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``key`` is shown once to its owner; only ``key_hash`` is stored."""

    key_id: str
    key: str
    key_hash: str


def hash_key(key: str) -> str:
    """Hex SHA-256 of the whole key text."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_key() -> IssuedKey:
    key_id = secrets.token_hex(6)
    key = f"rfk_{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key_id=key_id, key=key, key_hash=hash_key(key))


def key_id_of(key: str) -> str | None:
    """The key id of a well-formed key, else ``None``."""
    match = ISSUED_KEY.match(key)
    return match.group(1) if match else None


def keys_match(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of ``key``'s hash with a stored hash."""
    return hmac.compare_digest(hash_key(key).encode("ascii"), stored_hash.encode("ascii"))
