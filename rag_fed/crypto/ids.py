"""Node identifiers: the one syntax for site ids and the gateway id in envelopes and the registry.

Lowercase letters, digits and dashes, 1-63 characters, starting with a letter or digit, so an id
is safe in a path, a URL, a log line and a citation tag without escaping.
"""

from __future__ import annotations

import re

from rag_fed.errors import InputError

__all__ = ["NODE_ID_PATTERN", "validate_node_id"]

NODE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_NODE_ID = re.compile(NODE_ID_PATTERN)


def validate_node_id(value: str, *, what: str = "node id") -> str:
    """Return ``value`` if it is a valid node id, else raise ``InputError`` saying what is allowed."""
    if not _NODE_ID.fullmatch(value):
        raise InputError(
            f"invalid {what} {value!r}: use 1-63 lowercase letters, digits and dashes, "
            "starting with a letter or digit (e.g. 'plant-07')"
        )
    return value
