"""Sentence boundaries with character offsets, shared by chunking, passages, answers and checks."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by closing quotes or brackets) before white space.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(\s+)|\n+")
# A period after these does not end a sentence ("Adm. Smith", "the U.S. commitment").
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Adm|Gen|Lt|Col|Maj|Capt|Cmdr|Sgt|Gov|Sen|Rep|Sec|Pres|St|Jr|Sr"
    r"|Inc|Corp|Ltd|Co|No|vs|etc|e\.g|i\.e|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)"
    r"|\b(?:[A-Z]\.)+[A-Z]?|\b[A-Z])\.$"
)


def abbreviation_before(text: str) -> bool:
    """Whether the text ends with an abbreviation's period ("… Adm."), not a sentence's."""
    return bool(_ABBREVIATION.search(text))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence and line spans of text[start:end], white space trimmed, as absolute offsets."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        boundary = match.start(1) if match.group(1) is not None else match.start()
        if "\n" not in match.group() and _ABBREVIATION.search(text, cursor, boundary):
            continue
        spans.append((cursor, boundary))
        cursor = match.end()
    spans.append((cursor, end))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.append((s, e))
    return trimmed
