"""Sentence boundaries with character offsets, shared by chunking, passages, answers and checks."""

from __future__ import annotations

import functools
import re

# A period after these does not end a sentence ("Adm. Smith", "the U.S. commitment").
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Adm|Gen|Lt|Col|Maj|Capt|Cmdr|Sgt|Gov|Sen|Rep|Sec|Pres|St|Jr|Sr"
    r"|Inc|Corp|Ltd|Co|No|vs|etc|e\.g|i\.e|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)"
    r"|\b(?:[A-Z]\.)+[A-Z]?|\b[A-Z])\.$"
)


# syntok keeps "… October [2][3]. Storms …" as one sentence: a closing bracket before the stop
# hides the boundary from it. A stop after a bracket, then a capital, is a boundary; so is a
# bracketed sentence's own stop after a lower-case word ("(as a NUL-terminated string.) Such").
_BRACKET_STOP = re.compile(r"(?:[\])][.!?]+|(?<=[a-z]{3})[.!?][\])])[\"”’]?(?=\s+[A-Z])")


def abbreviation_before(text: str) -> bool:
    """Whether the text ends with an abbreviation's period ("… Adm."), not a sentence's."""
    return bool(_ABBREVIATION.search(text))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence and line spans of text[start:end], white space trimmed, as absolute offsets.

    syntok finds the sentences (abbreviations, initials, decimals); a line break always ends one,
    because the loaders join soft line breaks, so a newline left in stored text is a real break.
    On the format benchmark's validation split it answered one question more of 90 than the
    regular expression above, at the same abstention (benchmarks/README.md).
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text, start, end):
        spans.extend(
            (line_start + s, line_start + e) for s, e in _line_spans(text[line_start:line_end])
        )
    return spans


# Lines up to this long are cached (at most 4,096 of them: a few MB), longer ones split each time.
_CACHED_LINE_CHARS = 2048


def _line_spans(line: str) -> tuple[tuple[int, int], ...]:
    """The sentence spans of one trimmed line, relative to it.

    Cached: syntok is the cost of chunking, and the same lines are split again for a chunk's
    passages and its answer sentences, and repeat within a file (table rows, notices).
    """
    if len(line) <= _CACHED_LINE_CHARS:
        return _cached_line_spans(line)
    return _syntok_spans(line)


@functools.lru_cache(maxsize=4096)
def _cached_line_spans(line: str) -> tuple[tuple[int, int], ...]:
    return _syntok_spans(line)


def _syntok_spans(line: str) -> tuple[tuple[int, int], ...]:
    from syntok import segmenter

    spans: list[tuple[int, int]] = []
    for paragraph in segmenter.analyze(line):
        for sentence in paragraph:
            tokens = list(sentence)
            if tokens:
                first, last = tokens[0], tokens[-1]
                spans.extend(
                    _split_after_brackets(line, first.offset, last.offset + len(last.value))
                )
    return tuple(_join_unfinished(line, spans))


# How a finished sentence ends: a stop, an ellipsis, a colon or semicolon, then any closing
# quotes or brackets.
_FINISHED = re.compile(r"[.!?…:;][\"'”’)\]]*$")


def _join_unfinished(line: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The line's sentences, a piece that ends with no stop joined to the one after it: syntok
    cuts some sentences before a bracket ("… every name" | "(os, doc, …) and …"), and a line
    break, not a sentence end, is what ends a line's last words. A piece that the next one
    touches, with no space between, is joined too: a stop inside a dotted name ("os.Path",
    "Example.Group") ends no sentence."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and (start == out[-1][1] or not _FINISHED.search(line[out[-1][0] : out[-1][1]])):
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _split_after_brackets(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """One syntok sentence, split where a stop after a closing bracket ends a sentence."""
    spans = []
    cursor = start
    for match in _BRACKET_STOP.finditer(text, start, end):
        spans.append((cursor, match.end()))
        cursor = match.end()
        while cursor < end and text[cursor].isspace():
            cursor += 1
    spans.append((cursor, end))
    return [(s, e) for s, e in spans if e > s]


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The non-blank lines of text[start:end], white space trimmed."""
    out = []
    cursor = start
    while cursor < end:
        newline = text.find("\n", cursor, end)
        stop = end if newline < 0 else newline
        s, e = cursor, stop
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
        cursor = stop + 1
    return out
