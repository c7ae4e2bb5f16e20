"""Mine (query, positive passage) training pairs from one site's own chunks, and store them as JSONL.

Manuals give ``section heading (or title) -> chunk text``; work orders give ``symptom / description (or
their system, part and failure-mode labels) -> action (or the record text)``. Pairs are deduplicated,
length-filtered, shuffled with a seed and split into train and validation **by query**, so that no
validation query is seen in training.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag_fed.config import PairMiningSettings
from rag_fed.errors import TrainingError
from rag_fed.files import PRIVATE_FILE_MODE, private_dir, replace_text

__all__ = [
    "PairSplit",
    "TrainingChunk",
    "TrainingPair",
    "load_pairs",
    "mine_pairs",
    "save_pairs",
    "split_pairs",
]

WORK_ORDER_KINDS = frozenset({"work_order", "work-order", "workorder", "log"})
# Metadata keys tried in order; the first non-empty one wins.
_SYMPTOM_KEYS = ("symptom", "problem", "description", "complaint", "subject")
_LABEL_KEYS = ("major_system", "system", "component", "part", "failure_mode", "fm")
_ACTION_KEYS = ("action", "resolution", "remedy", "corrective_action")
_TEXT_LABELS = frozenset(_SYMPTOM_KEYS + _ACTION_KEYS)
_LABELLED_LINE = re.compile(r"^([A-Za-z_ ]{3,40}):\s*(\S.*)$")
_MISSING = frozenset({"", "na", "n/a", "none", "null", "nan", "-"})


@dataclass(frozen=True)
class TrainingChunk:
    """One chunk of a site's corpus, as pair mining needs it (independent of the docstore's types).

    ``kind`` is ``manual`` (any prose document) or ``work_order``; ``metadata`` holds a work order's
    fields (``symptom``, ``action``, ``major_system``, ...), keys compared case-insensitively.
    """

    doc_id: str
    title: str
    section: str
    text: str
    kind: str = "manual"
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingPair:
    """A query, the passage that answers it, and passages that look right but do not (hard negatives:
    from an engineer's log, the site's own high-ranked rejects). Other passages of a batch are negatives
    too, under the in-batch loss."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class PairSplit:
    train: tuple[TrainingPair, ...]
    val: tuple[TrainingPair, ...]


def mine_pairs(chunks: Iterable[TrainingChunk], settings: PairMiningSettings | None = None) -> list[TrainingPair]:
    """Pairs from ``chunks``: deduplicated, length-filtered and shuffled with ``settings.seed``."""
    settings = settings or PairMiningSettings()
    seen: set[tuple[str, str]] = set()
    per_query: dict[str, int] = {}
    pairs: list[TrainingPair] = []
    sentences = random.Random(settings.seed)
    for chunk in chunks:
        for pair in _pairs_for(chunk, settings, sentences):
            if _long_enough(pair, settings):
                _keep(pair, settings, seen, per_query, pairs)
    random.Random(settings.seed).shuffle(pairs)
    return pairs[: settings.max_pairs] if settings.max_pairs else pairs


def _pairs_for(chunk: TrainingChunk, settings: PairMiningSettings, rng: random.Random) -> list[TrainingPair]:
    pair = _pair_for(chunk)
    pairs = [] if pair is None else [pair]
    if settings.sentence_pairs and not _is_work_order(chunk):
        pairs.extend(_sentence_pairs(_clean(chunk.text), settings, rng))
    return pairs


def _keep(
    pair: TrainingPair,
    settings: PairMiningSettings,
    seen: set[tuple[str, str]],
    per_query: dict[str, int],
    pairs: list[TrainingPair],
) -> None:
    """Append ``pair`` (its positive trimmed) unless too short, already seen, or its query is used up."""
    positive = _without_prefix(pair.positive, pair.query) if settings.strip_query_prefix else pair.positive
    positive = positive[: settings.max_positive_chars]
    if len(positive) < settings.min_positive_chars:
        return
    key = (pair.query.casefold(), positive.casefold())
    if key in seen or per_query.get(key[0], 0) >= settings.max_pairs_per_query:
        return
    seen.add(key)
    per_query[key[0]] = per_query.get(key[0], 0) + 1
    pairs.append(TrainingPair(pair.query, positive))


def split_pairs(pairs: Sequence[TrainingPair], val_fraction: float, seed: int = 0) -> PairSplit:
    """Split by distinct query (case-insensitive), so a query's pairs all land on one side."""
    queries = sorted({pair.query.casefold() for pair in pairs})
    random.Random(seed).shuffle(queries)
    n_val = round(len(queries) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(queries) > 1:
        n_val = 1
    val_queries = set(queries[:n_val])
    train = tuple(p for p in pairs if p.query.casefold() not in val_queries)
    val = tuple(p for p in pairs if p.query.casefold() in val_queries)
    return PairSplit(train=train, val=val)


def save_pairs(path: Path, split: PairSplit) -> Path:
    """Write one JSON object per line: ``{"split": "train"|"val", "query": ..., "positive": ...}``, with
    ``"negatives": [...]`` when the pair has some (files without it load as pairs without negatives).
    The pairs hold engineers' questions and the site's passages: the file is the site's alone (0600 in a
    0700 folder, as every site file) and appears whole or not at all."""
    lines = []
    for name, pairs in (("train", split.train), ("val", split.val)):
        for pair in pairs:
            row: dict[str, object] = {"split": name, "query": pair.query, "positive": pair.positive}
            if pair.negatives:
                row["negatives"] = list(pair.negatives)
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    private_dir(path.parent)
    replace_text(path, "".join(lines), mode=PRIVATE_FILE_MODE)
    return path


def load_pairs(path: Path) -> PairSplit:
    """Read a file written by :func:`save_pairs`; raise ``TrainingError`` naming the bad line."""
    if not path.is_file():
        raise TrainingError(f"training pairs file {path} does not exist; mine pairs for the site first")
    train: list[TrainingPair] = []
    val: list[TrainingPair] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                negatives = row.get("negatives", [])
                if not isinstance(negatives, list):
                    raise TypeError("negatives must be a list of passages")
                pair = TrainingPair(str(row["query"]), str(row["positive"]), tuple(str(n) for n in negatives))
                split = row.get("split", "train")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
                raise TrainingError(f"{path}:{number}: not a training pair ({error})") from error
            (val if split == "val" else train).append(pair)
    if not train:
        raise TrainingError(f"{path} holds no training pairs; the site needs more chunks to train on")
    return PairSplit(train=tuple(train), val=tuple(val))


def _pair_for(chunk: TrainingChunk) -> TrainingPair | None:
    text = _clean(chunk.text)
    if _is_work_order(chunk):
        return _work_order_pair(chunk, text)
    query = _clean(_last_heading(chunk.section) or chunk.title)
    return TrainingPair(query, text) if query else None


def _is_work_order(chunk: TrainingChunk) -> bool:
    return chunk.kind.casefold() in WORK_ORDER_KINDS


def _work_order_pair(chunk: TrainingChunk, text: str) -> TrainingPair | None:
    fields = {key.casefold(): _clean(value) for key, value in chunk.metadata.items()}
    # A log whose problem and action columns both went into the text reads "problem: ...\naction: ...".
    labelled = _labelled_lines(chunk.text)
    present = {key: value for key, value in {**labelled, **fields}.items() if value.casefold() not in _MISSING}
    query = next((present[key] for key in _SYMPTOM_KEYS if key in present), "")
    if not query:
        labels = [present[key].replace("_", " ") for key in _LABEL_KEYS if key in present]
        query = " ".join(labels)
    if not query:
        return None
    action = next((present[key] for key in _ACTION_KEYS if key in present), "")
    # The record text is the richer passage; when it merely repeats the symptom (or spells it out
    # as a labelled line, which would make the pair trivial), the action answers it.
    positive = text
    if not positive or positive.casefold() == query.casefold() or any(v == query for v in labelled.values()):
        positive = action
    if not positive or positive.casefold() == query.casefold():
        return None
    return TrainingPair(query, positive)


def _labelled_lines(text: str) -> dict[str, str]:
    """``{"problem": "...", "action": "..."}`` from lines of the form ``Label: value``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LABELLED_LINE.match(line.strip())
        if match and match.group(1).casefold() in _TEXT_LABELS:
            found.setdefault(match.group(1).casefold(), _clean(match.group(2)))
    return found


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A full stop after one of these (or a single letter: "J. Doe", "Fig. 3") does not end a sentence.
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:[a-z]|e\.g|i\.e|etc|fig|figs|no|nos|vs|approx|ref|eq|min|max)\.$", re.I)


def _sentence_pairs(text: str, settings: PairMiningSettings, rng: random.Random) -> list[TrainingPair]:
    """Up to ``settings.sentence_pairs`` (sentence -> the rest of ``text``) pairs, sentences drawn at random
    among those of at least ``min_sentence_words`` words; a text of one sentence gives none."""
    sentences = _sentences(text)
    if len(sentences) < 2:
        return []
    usable = [i for i, sentence in enumerate(sentences) if len(sentence.split()) >= settings.min_sentence_words]
    chosen = rng.sample(usable, min(settings.sentence_pairs, len(usable)))
    return [TrainingPair(sentences[i], " ".join(sentences[:i] + sentences[i + 1 :])) for i in sorted(chosen)]


def _sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!`` or ``?`` and a space, except after an abbreviation."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def _last_heading(section: str) -> str:
    """``"Hydraulics > Pump > Bleeding"`` -> ``"Bleeding"``; a breadcrumb's last part is most specific."""
    parts = [part.strip() for part in re.split(r"\s*(?:>|/|»|\|)\s*", section) if part.strip()]
    return parts[-1] if parts else ""


def _without_prefix(text: str, query: str) -> str:
    """``text`` without a leading copy of ``query`` (case-insensitive) and the punctuation after it."""
    if not text.casefold().startswith(query.casefold()):
        return text
    return text[len(query) :].lstrip(" .:;,-\u2013\u2014")


def _long_enough(pair: TrainingPair, settings: PairMiningSettings) -> bool:
    return len(pair.query) >= settings.min_query_chars and len(pair.positive) >= settings.min_positive_chars


def _clean(text: str) -> str:
    return " ".join(text.split())
