"""Text analysis for answers: answer units (sentences, steps, table rows) and content terms; the
checkable facts of maintenance text (values with units, codes) are in :mod:`rag_fed.answers.facts`.

One analysis serves evidence selection, the support check and the evaluation, so a word or a value
counts as "the same" in all three.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "QUESTION_WORDS",
    "STOPWORDS",
    "Unit",
    "content_terms",
    "normalise",
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
