"""The checkable facts of maintenance text: numbers with their units, fault codes and part numbers,
normalised as :func:`rag_fed.answers.text.normalise` writes text, so a value counts as "the same" in
evidence selection, the support check and the evaluation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag_fed.answers.text import normalise

__all__ = ["Fact", "code_forms", "fact_values", "facts", "quantities"]

# Units a maintenance value comes in, by normalised spelling -> canonical name.
# fmt: off
_UNIT_ALIASES: dict[str, str] = {
    "mm": "mm", "cm": "cm", "m": "m", "km": "km", "um": "um", "µm": "um", "micron": "um", "microns": "um",
    "inch": "in", "inches": "in", "ft": "ft", "nm": "nm", "n m": "nm", "n.m": "nm", "n·m": "nm", "n-m": "nm",
    "lbf ft": "lbfft", "lb ft": "lbfft", "ft lb": "lbfft", "kpa": "kpa", "mpa": "mpa", "pa": "pa", "bar": "bar",
    "mbar": "mbar", "psi": "psi", "deg c": "c", "degc": "c", "c": "c", "deg f": "f", "f": "f", "kw": "kw",
    "w": "w", "hp": "hp", "v": "v", "kv": "kv", "amp": "a", "amps": "a", "ma": "ma", "hz": "hz", "rpm": "rpm",
    "mohm": "mohm", "m ohm": "mohm", "ohm": "ohm", "ohms": "ohm", "l/min": "l/min", "lpm": "l/min", "m3/h": "m3/h",
    "l": "l", "ml": "ml", "g": "g", "kg": "kg", "tonne": "t", "tonnes": "t", "h": "h", "hr": "h", "hrs": "h",
    "hour": "h", "hours": "h", "min": "min", "mins": "min", "minute": "min", "minutes": "min", "s": "s",
    "sec": "s", "secs": "s", "second": "s", "seconds": "s", "ms": "ms", "day": "day", "days": "day",
    "week": "week", "weeks": "week", "month": "month", "months": "month", "year": "year", "years": "year",
    "%": "%", "percent": "%", "db": "db", "mm/s": "mm/s",
}
# fmt: on
_UNIT_PATTERN = "|".join(sorted((re.escape(alias) for alias in _UNIT_ALIASES), key=len, reverse=True))
_NUMBER = r"\d+(?:[.,]\d+)?"
_QUANTITY = re.compile(rf"(?<![\w.-])({_NUMBER})\s?({_UNIT_PATTERN})(?![a-z0-9])")
# A token with a digit: a value (90, 0.5), a code (f-217, alm 401 as "alm" + number), a part number.
_CODE = re.compile(r"(?<![\w.-])(?:[a-z]+-)?[a-z]*\d[a-z0-9]*(?:[-/.][a-z0-9]+)*(?![\w])")


_UPPER_SPELLED = re.compile(r"\b([A-Z]{1,5})[ -](\d{2,5})\b")  # "ALM 401", "F 217" written apart


@dataclass(frozen=True, slots=True)
class Fact:
    """A checkable value of a text: ``value`` as written (normalised), ``unit`` when one follows."""

    value: str
    unit: str | None = None

    def __str__(self) -> str:
        return f"{self.value} {self.unit}" if self.unit else self.value


def facts(text: str) -> set[Fact]:
    """The numbers (with their units), codes and part numbers of ``text``, normalised."""
    norm = normalise(text)
    found: set[Fact] = set()
    with_units: set[str] = set()
    for match in _QUANTITY.finditer(norm):
        value = match.group(1)
        found.add(Fact(value, _UNIT_ALIASES[match.group(2)]))
        with_units.add(value)
    for match in _CODE.finditer(norm):
        token = match.group(0).rstrip(".-/")
        value = token
        if value and value not in with_units:
            found.add(Fact(value))
    return found


def fact_values(text: str) -> set[str]:
    """Every value of ``text`` a fact may be found as: each code whole and in its parts, and codes
    written apart ("ALM 401") joined, so "F-217" in an answer is found in "fault F-217." of a passage."""
    norm = normalise(text)
    values: set[str] = set()
    for match in _CODE.finditer(norm):
        token = match.group(0).rstrip(".-/")
        values.add(token)
        values.update(part for part in re.split(r"[-/]", token) if part)
    for match in _UPPER_SPELLED.finditer(unicodedata.normalize("NFKC", text)):
        letters, digits = match.group(1).lower(), match.group(2)
        values.update((f"{letters}-{digits}", f"{letters}{digits}"))
    return values


def code_forms(text: str, *, whole_only: bool = False) -> set[str]:
    """The codes and part numbers of ``text`` in compact form (lower case, no dashes, slashes or dots
    inside): "F-217" and "F217" are one code, "ALM 452" (upper-case letters apart from a number) is
    "alm452". A code is a token with letters and digits, or digits joined by a dash ("6205-2RS"). Unless
    ``whole_only``, the dashed parts of a code count too ("IDL-6205-2RS" also holds "6205-2rs", "6205")."""
    forms: set[str] = set()
    norm = normalise(text)
    for match in _CODE.finditer(norm):
        token = match.group(0).rstrip(".-/")
        has_letter = any(ch.isalpha() for ch in token)
        if not (has_letter or "-" in token) or len(token) < 3 or not any(ch.isdigit() for ch in token):
            continue
        forms.add(re.sub(r"[-/.]", "", token))
        if not whole_only:
            parts = token.split("-")
            for start in range(len(parts)):
                for end in range(start + 1, len(parts) + 1):
                    piece = "".join(parts[start:end])
                    if any(ch.isdigit() for ch in piece) and len(piece) >= 2:
                        forms.add(piece)
    for match in _UPPER_SPELLED.finditer(unicodedata.normalize("NFKC", text)):
        forms.add(f"{match.group(1).lower()}{match.group(2)}")
    return forms


def quantities(text: str) -> dict[str, set[str]]:
    """``value -> units`` it is given in within ``text`` (a value may appear in several units)."""
    found: dict[str, set[str]] = {}
    for match in _QUANTITY.finditer(normalise(text)):
        found.setdefault(match.group(1), set()).add(_UNIT_ALIASES[match.group(2)])
    return found
