"""Parse `[n]` markers, drop what the sources do not support, and quote what they do."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.answering.answer import Citation
from bot.answering.prompts import REFUSAL
from bot.answering.sanitize import remove_untrusted_links
from retrieval.documents import Chunk
from retrieval.text.sentences import sentence_spans
from retrieval.text.terms import content_terms

_MARKERS = re.compile(r"\s*(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_NUMBERS = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
# "... people. [1]" -> "... people [1]." so a marker stays with the sentence it follows.
_MARKER_AFTER_END = re.compile(
    r"([.!?][\"'\u201d\u2019)]*)((?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+)"
)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
# Share of a sentence's content words that must appear in the chunk it cites.
MIN_SUPPORT = 0.6


@dataclass
class CheckedAnswer:
    """An answer after the citation checks: what survives, what was cited, what was dropped."""

    text: str
    abstained: bool
    citations: list[Citation]
    dropped: list[str] = field(default_factory=list)  # why each removed piece went


def is_refusal(text: str) -> bool:
    """True when the text is (or contains) the refusal sentence."""
    return _fold(REFUSAL) in _fold(text)


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower().replace("’", "'")).split())


def support_ratio(claim: str, evidence: str) -> float:
    """Share of the claim's content words found in the evidence (1.0 for a claim with none)."""
    terms = set(content_terms(claim))
    if not terms:
        return 1.0
    return len(terms & set(content_terms(evidence))) / len(terms)


def numbers_supported(claim: str, evidence: str) -> bool:
    """Every number in the claim appears in the evidence."""
    folded = {n.replace(",", "") for n in _DIGITS.findall(evidence)}
    return all(n.replace(",", "") in folded for n in _DIGITS.findall(claim))


def best_quote(claim: str, chunk: Chunk) -> tuple[int, int]:
    """Document offsets of the chunk sentence that best matches the claim."""
    claim_terms = set(content_terms(claim))
    best, best_score = (chunk.start, chunk.end), -1.0
    for start, end in sentence_spans(chunk.text):
        terms = set(content_terms(chunk.text[start:end]))
        score = len(claim_terms & terms) / (1 + 0.02 * len(terms))
        if score > best_score:
            best, best_score = (chunk.start + start, chunk.start + end), score
    return best


def check_citations(text: str, sources: list[Chunk]) -> CheckedAnswer:
    """Keep only cited sentences that their sources support; no valid citation means refusal."""
    if is_refusal(text) or not text.strip():
        return CheckedAnswer(REFUSAL, True, [])
    text = _MARKER_AFTER_END.sub(lambda m: m.group(2) + m.group(1), text)
    kept: list[str] = []
    dropped: list[str] = []
    cited: dict[int, list[str]] = {}
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        numbers = [int(n) for group in _NUMBERS.findall(sentence) for n in re.split(r"[,;]", group)]
        claim = _MARKERS.sub("", sentence).strip()
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(sources)]
        for n in numbers:
            if n not in valid:
                dropped.append(f"citation [{n}] points at no source")
        if not claim:
            continue
        if not valid:
            dropped.append(f"uncited: {claim}")
            continue
        evidence = " ".join(sources[n - 1].text for n in valid)
        claim, links = remove_untrusted_links(claim, evidence)
        dropped.extend(f"link not in the cited source: {url}" for url in links)
        if not _MARKERS.sub("", claim).strip(" .!?"):
            continue
        if support_ratio(claim, evidence) < MIN_SUPPORT or not numbers_supported(claim, evidence):
            dropped.append(f"not supported by {valid}: {claim}")
            continue
        body, end_mark = re.match(r"(.*?)([.!?]*[\"'\u201d\u2019)]*)$", claim, re.S).groups()  # type: ignore[union-attr]
        kept.append(f"{body} {''.join(f'[{n}]' for n in valid)}{end_mark or '.'}")
        for n in valid:
            cited.setdefault(n, []).append(claim)
    if not kept:
        return CheckedAnswer(REFUSAL, True, [], dropped)
    citations = []
    for n, claims in cited.items():
        chunk = sources[n - 1]
        start, end = best_quote(" ".join(claims), chunk)
        citations.append(Citation.of_span(n, chunk, start, end))
    return CheckedAnswer(" ".join(kept), False, citations, dropped)


# The end of a finished sentence in streamed text: terminal punctuation, closing quotes, any
# `[n]` markers, then white space and the start of the next sentence.
_STREAM_BOUNDARY = re.compile(
    r"[.!?][\"'\u201d\u2019)\]]*(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])*\s+(?=[^\s\[])"
)


class CheckedStream:
    """Passes a streamed answer on sentence by sentence, only what survives the citation checks.

    So a streaming user never sees an uncited or unsupported sentence, nor an invented `[n]`.
    """

    def __init__(self, sources: list[Chunk], emit: Callable[[str], None]) -> None:
        self.sources = sources
        self.emit = emit
        self.buffer = ""

    def feed(self, piece: str) -> None:
        """Take more streamed text; pass on every sentence it completes that checks out."""
        self.buffer += piece
        ends = [match.end() for match in _STREAM_BOUNDARY.finditer(self.buffer)]
        if ends:
            done, self.buffer = self.buffer[: ends[-1]], self.buffer[ends[-1] :]
            self._check(done)

    def finish(self) -> None:
        """The stream ended: check and pass on what is left."""
        rest, self.buffer = self.buffer, ""
        self._check(rest)

    def _check(self, text: str) -> None:
        if text.strip():
            checked = check_citations(text, self.sources)
            if not checked.abstained:
                self.emit(checked.text + " ")
