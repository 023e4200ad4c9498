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
    """Document offsets of the chunk's answer sentence that best matches the claim, or of a
    lead-in with the list of lines it introduces (`Chunk.list_after`), quoted as one claim."""
    claim_terms = set(content_terms(claim))
    best, best_score = (chunk.start, chunk.end), -1.0
    spans = chunk.answer_spans()
    for index, (start, end) in enumerate(spans):
        items = chunk.list_after(spans, index)
        for quote_end in (end, items[-1][1]) if items else (end,):
            terms = set(content_terms(chunk.text[start - chunk.start : quote_end - chunk.start]))
            score = len(claim_terms & terms) / (1 + 0.02 * len(terms))
            if score > best_score:
                best, best_score = (start, quote_end), score
    return best


def check_citations(
    text: str, sources: list[Chunk], numbering: dict[str, int] | None = None
) -> CheckedAnswer:
    """Keep only cited sentences that their sources support; no valid citation means refusal.

    A sentence needs content words, and its cited sources must hold most of them: a fragment
    with nothing to check ("or [1].") is dropped. Sources are renumbered in the order the kept
    sentences cite them, one number per document, so the reader sees [1], [2], … with no gaps
    and no document twice. `numbering` (document -> shown number) carries that order across
    calls, as when a stream is checked sentence by sentence.
    """
    if is_refusal(text) or not text.strip():
        return CheckedAnswer(REFUSAL, True, [])
    numbering = {} if numbering is None else numbering
    text = _MARKER_AFTER_END.sub(lambda m: m.group(2) + m.group(1), text)
    kept: list[str] = []
    dropped: list[str] = []
    cited: dict[int, dict[int, list[str]]] = {}  # shown number -> source index -> claims
    for sentence in _claims(text):
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
        if not content_terms(claim):
            dropped.append(f"nothing to check: {claim}")
            continue
        evidence = " ".join(sources[n - 1].text for n in valid)
        claim, links = remove_untrusted_links(claim, evidence)
        dropped.extend(f"link not in the cited source: {url}" for url in links)
        if not _MARKERS.sub("", claim).strip(" .!?"):
            continue
        if support_ratio(claim, evidence) < MIN_SUPPORT or not numbers_supported(claim, evidence):
            dropped.append(f"not supported by {valid}: {claim}")
            continue
        shown: list[int] = []
        for n in valid:
            document = sources[n - 1].source
            number = numbering.setdefault(document, len(numbering) + 1)
            if number not in shown:
                shown.append(number)
            cited.setdefault(number, {}).setdefault(n, []).append(claim)
        body, end_mark = re.match(r"(.*?)([.!?]*[\"'\u201d\u2019)]*)$", claim, re.S).groups()  # type: ignore[union-attr]
        kept.append(f"{body} {''.join(f'[{n}]' for n in shown)}{end_mark or '.'}")
    if not kept:
        return CheckedAnswer(REFUSAL, True, [], dropped)
    citations = [
        _citation(number, [(sources[n - 1], claims) for n, claims in by_source.items()])
        for number, by_source in sorted(cited.items())
    ]
    return CheckedAnswer(" ".join(kept), False, citations, dropped)


# "… 2030 [1]. or [1]." reads as one sentence to a splitter (lower case follows the period), but
# a citation closed by sentence-final punctuation ends a claim: what follows is checked alone.
_CITED_END = re.compile(r"(?<=\])[.!?]+[\"'\u201d\u2019)]*\s+(?=\S)")


def _claims(text: str) -> list[str]:
    """The text's sentences, split again wherever a cited claim has ended."""
    out: list[str] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        cut = 0
        for match in _CITED_END.finditer(sentence):
            out.append(sentence[cut : match.end()].strip())
            cut = match.end()
        out.append(sentence[cut:])
    return [claim for claim in out if claim.strip()]


def _citation(number: int, cited: list[tuple[Chunk, list[str]]]) -> Citation:
    """One citation per document: the span from the first to the last quoted sentence.

    Chunks of one document that overlap or touch are stitched together; a quote never spans a
    gap between chunks, so then it covers the first chunk's sentences only.
    """
    spans = [(chunk, *best_quote(claim, chunk)) for chunk, claims in cited for claim in claims]
    first = spans[0][0]
    start, end = min(s for _, s, _ in spans), max(e for _, _, e in spans)
    text = _document_text(sorted({c for c, _, _ in spans}, key=lambda c: c.start), start, end)
    if text is None:
        inside = [(s, e) for c, s, e in spans if c == first]
        start, end = min(s for s, _ in inside), max(e for _, e in inside)
        text = first.text[start - first.start : end - first.start]
    opening = min(spans, key=lambda span: span[1])[0]  # the chunk holding the quote's start
    return Citation(
        n=number,
        source=first.source,
        title=first.title,
        page=first.page_of(start, end),
        chunk_id=first.chunk_id,
        quote=text,
        start=start,
        end=end,
        section=opening.section_at(start),
    )


def _document_text(chunks: list[Chunk], start: int, end: int) -> str | None:
    """The document's text [start, end) from chunks sorted by offset, None across a gap."""
    pieces: list[str] = []
    at = start
    for chunk in chunks:
        if chunk.end <= at or chunk.start >= end:
            continue
        if chunk.start > at:
            return None
        upto = min(end, chunk.end)
        pieces.append(chunk.text[at - chunk.start : upto - chunk.start])
        at = upto
    return "".join(pieces) if at >= end else None


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
        self.numbering: dict[str, int] = {}  # shown numbers, kept the same across sentences

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
            checked = check_citations(text, self.sources, self.numbering)
            if not checked.abstained:
                self.emit(checked.text + " ")
