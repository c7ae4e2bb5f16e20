"""The gateway's federation term key, kept in a 0600 file so a restart keeps it (docs/term-statistics.md).

A new key would make every site hash its terms again and publish anew, so the key is made once, on the
first start, and read back on every later one. Deleting the file and restarting rotates it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from rag_fed.errors import ConfigError
from rag_fed.files import PRIVATE_FILE_MODE, create_text_once, private_dir
from rag_fed.term_stats.publication import KEY_BYTES

__all__ = ["load_or_create_term_key"]


def load_or_create_term_key(path: Path) -> bytes:
    """The key in ``path`` (hex, one line), created with a fresh random key if missing (a missing parent
    folder is made 0700). Two processes starting at once agree on one key."""
    try:
        if not path.parent.exists():
            private_dir(path.parent)
        if not path.exists():
            create_text_once(path, secrets.token_hex(KEY_BYTES) + "\n", mode=PRIVATE_FILE_MODE, encoding="ascii")
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read or create the federation term key {path}: {error}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"federation term key {path} is damaged (expected {2 * KEY_BYTES} hex digits); "
            "delete it and restart the gateway to make a new one (the sites then publish again)"
        )
    return key
