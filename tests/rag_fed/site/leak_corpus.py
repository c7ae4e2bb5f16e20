"""What redaction at a site must stop: each case is a text that may sit in a passage, a title, a section
heading, an evidence span or an answer, and the secret that must not leave in any of them, under every
egress policy (issue 19: split addresses, spelled-out and full-width addresses, free-form serials, a
password in a heading, configured names in any width)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LEAKS", "NAMES", "Leak"]

NAMES = ["Anna Berg", "Jonas Keskinen"]
"""The names the corpus's site is configured to redact (``RedactionSettings.names``)."""


@dataclass(frozen=True)
class Leak:
    what: str
    text: str
    secrets: tuple[str, ...]  # none of these may appear (case-insensitively, NFKC) in anything that leaves


LEAKS = [
    Leak("email", "Send the report to anna.berg@plant-north.example today.", ("anna.berg", "plant-north.example")),
    Leak("email at the snippet cut", "x" * 280 + " j.keskinen@kes.example", ("keskinen", "@kes")),
    Leak("spelled email", "Mail anna dot berg at plant-north dot example for spares.", ("anna dot berg", "north dot")),
    Leak("spelled email, brackets", "write to j.keskinen (at) kes (dot) fi", ("keskinen (at)", "kes (dot)")),
    Leak(
        "full-width email",
        "Contact ａｎｎａ．ｂｅｒｇ＠ｐｌａｎｔ．ｅｘａｍｐｌｅ now.",
        ("anna.berg", "plant.example"),
    ),
    Leak("serial", "Pump S/N 4471-AX was rebuilt.", ("4471-AX",)),
    Leak("free-form serial", "The serial number is 55-7777 on the plate.", ("55-7777",)),
    Leak("serial no.", "serial no. AB12345 replaced", ("AB12345",)),
    Leak("full-width serial", "Ｓ／Ｎ ４４７１－ＢＺ on the motor", ("4471-BZ",)),
    Leak("password heading", "Password for the line 3 HMI: Kx9!pump", ("Kx9!pump",)),
    Leak("pin", "Panel PIN = 4711 (change it)", ("4711",)),
    Leak("name", "Checked by Anna Berg and Jonas Keskinen.", ("anna berg", "keskinen")),
    Leak("full-width name", "Signed: Ａｎｎａ Ｂｅｒｇ", ("anna berg",)),
]
