"""What kind of value a question asks for, and whether a text gives one of that kind.

"What torque do the motor foot bolts get?" is answered by a text that gives a torque, not by a torque
table of other joints that shares every other word of the question; "how often" is answered by an
interval. Only unambiguous cues type a question ("what torque", "what is the ... pressure", "how often",
"how long", "how hot"); "when" and "how much" do not, since their answers come in many kinds ("when the
pressure drop reaches 0.35 bar"), and a question about an action ("how do I ...", "what should I do
when the temperature rises", "why") asks for the action. A question with no cue asks for no kind, and
nothing is checked. A question that also asks something untyped ("what does F-217 mean and at what
temperature does it trip?") is compound: its untyped part is answered like any question, and a value of
the kind asked for must be among the evidence too (:func:`asks_more`).
"""

from __future__ import annotations

import re

from rag_fed.answers.text import normalise

__all__ = ["QUANTITY_KINDS", "asked_kinds", "asks_more", "gives_kind"]

_NUMBER = r"\d+(?:\.\d+)?(?:\s?(?:to|-)\s?\d+(?:\.\d+)?)?"

# "what (is the) ... NOUN": the noun within six words of the question word, and no clause ("when",
# "if") between them, so "what should I do when the temperature rises" asks for no temperature
_WHAT = r"\b(?:what|which)(?: (?!when\b|if\b|after\b|before\b|while\b|during\b|once\b)[\w-]+){0,6} "
# the quantity's noun naming a thing ("the torque table", "the pressure gauge") asks for the thing
_THING = r"(?! (?:table|chart|wrench|sequence|pattern|sensor|gauge|switch|transmitter|probe|relay|valve|regulator)s?\b)"
# a question about an action asks for the action, whatever quantity it names ("how do I torque ...")
_ACTION = re.compile(
    r"\bhow (?:do|does|should|can|must|to)\b|\bwhat (?:do|should|must|can) (?:i|we|you)\b|\bwhy\b"
    r"|\bwhat (?:causes|happens)\b|\b(?:steps|procedure)\b"
)

# kind -> (cues in a question, the way a text gives a value of that kind); all on normalised text
# fmt: off
_KINDS: dict[str, tuple[str, str]] = {
    "interval": (
        r"how (?:often|frequently)\b(?! (?:has|have|had|did|was|were)\b)|\binterval|\bfrequency\b",
        rf"{_NUMBER}\s?(?:running |operating |engine |service )?(?:h|hrs?|hours?|min|minutes?|days?|weeks?|months?"
        rf"|years?|km|shifts?)\b|\b(?:daily|weekly|fortnightly|monthly|quarterly|yearly|annually|hourly)\b"
        r"|\b(?:every|each|per|once a) (?:day|shift|week|month|year|service|start)\b",
    ),
    "duration": (
        r"how long\b",
        rf"{_NUMBER}\s?(?:running |operating )?(?:ms|s|secs?|seconds?|min|mins|minutes?|h|hrs?|hours?|days?|weeks?"
        rf"|months?|years?|shifts?)\b",
    ),
    "torque": (
        rf"{_WHAT}torques?\b{_THING}|\btorques? (?:value|setting|spec\w*|figure)|\bhow tight\b",
        rf"{_NUMBER}\s?(?:n ?m|n\.m|n·m|n-m|knm|lbf ?ft|lb ?ft|ft ?lbs?)\b",
    ),
    "pressure": (
        rf"{_WHAT}pressures?\b{_THING}|\bpressures? (?:setting|set ?point|limit)",
        rf"{_NUMBER}\s?(?:bar|mbar|psi|kpa|mpa|pa)\b",
    ),
    "temperature": (
        rf"{_WHAT}temperatures?\b{_THING}|\btemperature (?:limit|setting|set ?point)|\bhow (?:hot|warm|cold)\b",
        rf"{_NUMBER}\s?(?:deg ?[cf]?|degrees ?[cf]?|c|f)\b",
    ),
    "length": (
        rf"{_WHAT}(?:deflection|clearance|gap|thickness|end ?float|backlash|run-?out)\b{_THING}|\bhow thick\b",
        rf"{_NUMBER}\s?(?:mm|cm|m|um|µm|microns?|in|inch(?:es)?|thou)\b",
    ),
    "voltage": (rf"{_WHAT}voltages?\b{_THING}", rf"{_NUMBER}\s?(?:v|kv|mv|volts?)\b"),
}
# fmt: on
# a question's parts: "..., and ...", "...: what oil, and how often?"
# (an "and" before a question word: "the load and unload pressures" is one part)
_QUESTION_WORD = r"(?:what|which|how|where|who|when|whats)\b"
_PARTS = re.compile(rf"[,;:?]|\band\b(?= (?:\w+ )?{_QUESTION_WORD})")
# a part asks something when it opens with a question word ("and with what oil", "what's the part number")
_ASKS = re.compile(rf"^\s*(?:[\w-]+ ){{0,2}}{_QUESTION_WORD}")
_CUES = {kind: re.compile(cue) for kind, (cue, _) in _KINDS.items()}
_VALUES = {kind: re.compile(rf"(?<![\w.]){value}") for kind, (_, value) in _KINDS.items()}

QUANTITY_KINDS = frozenset(_KINDS)


def asked_kinds(question: str) -> frozenset[str]:
    """The kinds of value ``question`` asks for (empty: it asks for none the check knows)."""
    text = normalise(question)
    if _ACTION.search(text):
        return frozenset()
    return frozenset(kind for kind, cue in _CUES.items() if cue.search(text))


def asks_more(question: str) -> bool:
    """Whether ``question`` asks for a kind of value and, in another part, for something no cue types
    ("what's the part number of the throatbush and how long does one last?")."""
    if not asked_kinds(question):
        return False
    parts = [part for part in _PARTS.split(normalise(question)) if _ASKS.search(part)]
    return any(not any(cue.search(part) for cue in _CUES.values()) for part in parts)


def gives_kind(text: str, kinds: frozenset[str]) -> bool:
    """Whether ``text`` gives a value of at least one of ``kinds`` (true when ``kinds`` is empty)."""
    if not kinds:
        return True
    norm = normalise(text)
    return any(_VALUES[kind].search(norm) for kind in kinds)
