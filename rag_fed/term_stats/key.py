"""The gateway's federation term key, kept in a 0600 file so a restart keeps it (docs/term-statistics.md).

A new key would make every site hash its terms again and publish anew, so the key is made once, on the
first start, and read back on every later one. Deleting the file and restarting rotates it.
"""

from __future__ import annotations

from pathlib import Path

from rag_fed.files import load_or_create_secret
from rag_fed.term_stats.publication import KEY_BYTES

__all__ = ["load_or_create_term_key"]


def load_or_create_term_key(path: Path) -> bytes:
    """The key in ``path`` (hex, one line), created with a fresh random key if missing (a missing parent
    folder is made 0700). Two processes starting at once agree on one key."""
    return load_or_create_secret(
        path,
        KEY_BYTES,
        what="federation term key",
        when_damaged="delete it and restart the gateway to make a new one (the sites then publish again)",
    )
