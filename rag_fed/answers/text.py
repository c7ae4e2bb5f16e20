"""Text analysis for answers: answer units (sentences, steps, table rows), content terms and the
checkable facts of maintenance text (numbers with their units, fault codes, part numbers).

One analysis serves evidence selection, the support check and the evaluation, so a value counts as
"the same" in all three.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "QUESTION_WORDS",
    "STOPWORDS",
    "Fact",
    "Unit",
    "code_forms",
    "content_terms",
    "fact_values",
    "facts",
    "normalise",
    "quantities",
    "question_terms",
    "question_words",
    "split_units",
    "stem",
    "unfinished",
]

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SPACES = re.compile(r"\s+")


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")


def normalise(text: str) -> str:
    """NFKC, one kind of dash, lower case, whitespace runs as one space, numbers written one way
    ("2,000" is 2000, "0,5" is 0.5): the form facts are compared in."""
    text = unicodedata.normalize("NFKC", text)
    text = _DASHES.sub("-", text).replace("\u00b0", " deg ")
    text = _DECIMAL_COMMA.sub(".", _THOUSANDS.sub("", text))
    return _SPACES.sub(" ", text.lower()).strip()


# -- units -----------------------------------------------------------------------------------------

_LIST_ITEM = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|\(?[a-h][.)]|[-*\u2022\u25aa\u2013])\s+\S")
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "approx.",
    "no.",
    "fig.",
    "max.",
    "min.",
    "ca.",
    "vs.",
    "etc.",
    "ref.",
    "p.",
    "pp.",
    "incl.",
    "dia.",
    "qty.",
)
# A sentence ends at . ! ? followed by space and an upper-case letter, a digit or an opening mark,
# but not after a lone initial or a number ("5." in "step 5. Then").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_MAX_UNIT_CHARS = 400
_CLOSING = (".", "!", "?", ":", ";")
# words a sentence does not end on: a line ending on one is wrapped, whatever its next line starts with
# ("... until the bearing has cooled below" / "60 degrees C.")
_CONTINUED = re.compile(
    r"\b(?:a|an|the|and|or|nor|to|of|at|by|for|from|with|into|than|below|above|between|under|over|via|per"
    r"|is|are|was|were|be|reaches|exceeds|within|approximately|about)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Unit:
    """One answer unit of a passage: a sentence, a list item (a step) or a table row.

    ``line_start`` marks units that begin a line of the source text (headings, steps and rows do);
    ``step`` marks list items, which stay together and in order when selected.
    """

    text: str
    step: bool = False
    line_start: bool = True
    table_row: bool = False
    """A row of a fixed-width table (its cells joined by "; "): a troubleshooting or limits table."""
    continues_row: bool = False
    """A table row whose first cell is blank: it continues the entry of the row above (another cause of
    the same symptom)."""

    @property
    def heading_like(self) -> bool:
        """A short line without closing punctuation ("3. GLAND SEAL WATER", "Belt tracking")."""
        words = self.text.split()
        return self.line_start and 0 < len(words) <= 8 and not self.text.rstrip().endswith((".", ":", ";", "?", "!"))


def split_units(text: str) -> list[Unit]:
    """The units of ``text`` in order. Lines that are list items or table rows are one unit each;
    other lines are split into sentences (abbreviations and decimals do not end a sentence)."""
    units: list[Unit] = []
    for line in _logical_lines(text):
        if line.cells is not None:
            units.append(Unit(_clip("; ".join(line.cells)), table_row=True, continues_row=line.continued))
            continue
        if line.text.startswith("|") or _LIST_ITEM.match(line.text):
            units.append(Unit(_clip(line.text.strip("| ").replace(" | ", "; ")), step=not line.text.startswith("|")))
            continue
        for index, sentence in enumerate(_sentences(line.text)):
            units.append(Unit(_clip(sentence), line_start=index == 0))
    return units


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    cells: list[str] | None = None  # the cells of a fixed-width table row
    continued: bool = False  # a table row whose first cell is blank


# Cells of a fixed-width table are apart by two or more spaces (or a tab); prose with two spaces after a
# full stop is not a table: its pieces end on a full stop, cells (but perhaps the last) do not.
_CELL_GAP = re.compile(r" {2,}|\t+")
_INDENTED_CELL = 8  # a row whose text starts this far in has a blank first cell


def _table_row(raw_line: str) -> _Line | None:
    """``raw_line`` as a row of a fixed-width table: three or more cells (two or more when the first is
    blank), none but the last ending a sentence; else ``None``."""
    stripped = raw_line.strip()
    cells = [cell for cell in _CELL_GAP.split(stripped) if cell]
    continued = _indent(raw_line) >= _INDENTED_CELL
    if len(cells) < (2 if continued else 3) or any(cell.endswith((".", "!", "?")) for cell in cells[:-1]):
        return None
    return _Line(stripped, cells, continued)


def _indent(raw_line: str) -> int:
    expanded = raw_line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def _logical_lines(text: str) -> list[_Line]:
    """The lines of ``text`` with wrapped lines joined: a line that starts with a lower-case letter and
    follows a line without closing punctuation continues it, and so does any line after one ending on a
    word no sentence ends on (PDF text and hard-wrapped prose break sentences and list items at the page
    width, a value's number often first on its line). Rows of a fixed-width table stay rows (never
    joined). Blank lines, underlines and table rules drop out."""
    lines: list[_Line] = []
    joinable = False
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or set(line) <= set("-=_|:+ "):
            joinable = False
            continue  # blank, underline or table rule
        row = None if line.startswith("|") else _table_row(raw_line)
        cells = lines[-1].cells if lines else None
        if row is None and cells and line[0].islower() and _indent(raw_line) >= _INDENTED_CELL:
            # the last cell wrapped onto the next line ("... for 5 min before" / "every planned stop")
            wrapped = [*cells[:-1], f"{cells[-1]} {line}"]
            lines[-1] = _Line(f"{lines[-1].text} {line}", wrapped, lines[-1].continued)
            continue
        if row is not None:
            lines.append(row)
            joinable = False
            continue
        previous = lines[-1].text if lines else ""
        if joinable and not _LIST_ITEM.match(line) and (line[0].islower() or _CONTINUED.search(previous)):
            lines[-1] = _Line(f"{previous} {line}")
        else:
            lines.append(_Line(line))
        joinable = not lines[-1].text.startswith("|") and not lines[-1].text.endswith(_CLOSING)
    return lines


def unfinished(sentence: str) -> bool:
    """Whether ``sentence`` stops on a word no sentence ends on ("Download the themes from.", "... reset
    the password with"): a fragment, not a claim."""
    return bool(_CONTINUED.search(sentence.rstrip().rstrip(".!?:;,").rstrip()))


def _sentences(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        candidate = line[start : match.start()]
        last_word = candidate.rsplit(" ", 1)[-1].lower()
        if last_word in _ABBREVIATIONS or (len(last_word) == 2 and last_word[0].isalpha()):
            continue  # "e.g. Pump", "J. Smith"
        pieces.append(candidate.strip())
        start = match.end()
    pieces.append(line[start:].strip())
    return [piece for piece in pieces if piece]


def _clip(text: str) -> str:
    if len(text) <= _MAX_UNIT_CHARS:
        return text
    return text[:_MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " …"


# -- terms -----------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either few for from further
    get gets got had has have having he her here hers him his how i if in into is it its itself just
    know let like may me might more most must my need needs no nor not now of off on once only or other
    our ours out over own please same shall she should so some such tell than that the their them then
    there these they this those through to too under until up us very was we were what when where which
    while who whom why will with would you your yours one ones thing things use used using want wants
    way
    """.split()  # noqa: SIM905 (a list literal of 150 words would be 150 lines)
)

# Words a question asks with rather than about ("how often", "what does it mean", "the HMI shows").
QUESTION_WORDS = frozenset(
    [
        "often",
        "many",
        "much",
        "mean",
        "means",
        "meaning",
        "show",
        "shows",
        "showing",
        "shown",
        "say",
        "says",
        "said",
        "happen",
        "happens",
        "happened",
    ]
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly")
_QUESTION_STOPWORDS = STOPWORDS | QUESTION_WORDS
_KEEP_DOUBLE = frozenset("lsz")


def stem(word: str) -> str:
    """A crude suffix stripper: enough that "bearings"/"bearing", "tightened"/"tighten",
    "changed"/"change" and "tripped"/"trip" meet (a final "e" and a doubled consonant go too)."""
    if word.isdigit() or len(word) <= 3:
        return word
    stemmed = word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stemmed = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if stemmed != word and len(stemmed) > 3 and stemmed[-1] == stemmed[-2] and stemmed[-1] not in _KEEP_DOUBLE:
        stemmed = stemmed[:-1]  # tripp(ed) -> trip, sett(ing) -> set
    if len(stemmed) > 3 and stemmed.endswith("e") and not stemmed.endswith("ee"):
        stemmed = stemmed[:-1]  # change -> chang, as changed -> chang
    return stemmed


def content_terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Stemmed words of ``text`` that carry content (``stopwords`` out), in order, repeats kept."""
    return [stem(word) for word in _WORD.findall(normalise(text)) if word not in stopwords]


def question_terms(question: str) -> list[str]:
    """The content terms of a question without the words it asks with (:data:`QUESTION_WORDS`, and the
    word after "how": "how high", "how hot", "how tight" ask for a value that the answer gives, not for
    the word)."""
    return [stem(word) for word in _asked_about(question)]


def question_words(question: str) -> dict[str, list[str]]:
    """Each of :func:`question_terms` with the words of the question it stems from, in order: what a
    keyword index is asked about the term (its tokenizer stems the words in its own way)."""
    words: dict[str, list[str]] = {}
    for word in _asked_about(question):
        words.setdefault(stem(word), []).append(word)
    return words


def _asked_about(question: str) -> list[str]:
    words = _WORD.findall(normalise(question))
    return [
        word
        for index, word in enumerate(words)
        if word not in _QUESTION_STOPWORDS and (index == 0 or words[index - 1] != "how")
    ]


# -- facts -----------------------------------------------------------------------------------------

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
