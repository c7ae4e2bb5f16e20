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
from typing import Literal

from pydantic import BaseModel, Field

from rag_fed.errors import TrainingError
from rag_fed.files import PRIVATE_FILE_MODE, private_dir, replace_text

__all__ = [
    "PairMiningSettings",
    "PairSource",
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


PairSource = Literal["auto", "feedback", "documents", "both"]


class PairMiningSettings(BaseModel):
    """Where a site's pairs come from, and how documents are mined. Length limits are in characters, after
    whitespace is collapsed.

    ``source``: ``feedback`` trains on the site's log of engineers' judgements only (an error when it
    yields none), ``documents`` on pairs mined from its documents only, ``both`` on the two together, and
    ``auto`` on the log when it yields pairs, else on documents. ``hard_negatives`` is how many of the
    site's own high-ranked rejects each feedback pair carries (:mod:`rag_fed.training.feedback_pairs`).
    Both defaults were chosen on the check questions of a split of Cranfield's training half
    (docs/benchmarks.md, "Learning from engineers' feedback"): 7 negatives beat 0, 1 and 3, and adding the
    mined document pairs lost what the feedback had gained. The evidence is weak: the held-out half did
    not confirm a gain at these settings. Each negative is one more passage per pair to
    embed: 7 make a training step about 4x as long as none.
    """

    min_query_chars: int = Field(default=8, ge=1)
    min_positive_chars: int = Field(default=30, ge=1)
    max_positive_chars: int = Field(default=2000, ge=1)
    max_pairs: int | None = Field(default=None, ge=1)
    # A title shared by many chunks is a vague query; a few of its chunks are enough.
    max_pairs_per_query: int = Field(default=3, ge=1)
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 0
    # Cut a leading copy of the query from the passage (an abstract that repeats its title), so the
    # pair cannot be solved by string matching. Off by default: on Cranfield (lr 2e-5, one pass over
    # 1,240 pairs) keeping the copy gave nDCG@10 0.3808 and cutting it 0.3770 (base 0.3736).
    strip_query_prefix: bool = False
    # Inverse cloze pairs: up to this many sentences of each manual chunk, each as a query whose positive
    # is the chunk without that sentence (Lee et al., 2019). They add query-like pairs where headings are
    # few or vague; 0 mines headings only. Off by default: on Cranfield two per abstract gave nDCG@10 0.3790
    # against 0.3808 for titles alone (base 0.3736; docs/benchmarks.md).
    sentence_pairs: int = Field(default=0, ge=0)
    min_sentence_words: int = Field(default=6, ge=1)
    source: PairSource = "auto"
    hard_negatives: int = Field(default=7, ge=0)


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
