"""Token-aware chunking that prefers paragraph and sentence boundaries and keeps exact offsets."""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, replace

import tiktoken

from retrieval.documents import Chunk, Document, PageSpan
from retrieval.text.sentences import sentence_spans


@dataclass(frozen=True)
class Span:
    """A piece of text by its character offsets, with its token count."""

    start: int
    end: int
    tokens: int


def chunk_id(source: str, start: int, text: str, structure: str = "") -> str:
    """Stable id from the chunk's source, position and content, and what is stored with it.

    `structure` is everything else stored with the chunk and embedded with it (its title,
    headings, answer sentences, pages, table rows, and where its sentences fall, which its
    passages are cut at): reading code that changes any of these over the same text gives the
    chunk a new id, so a re-ingest stores and embeds it again instead of keeping the old record.
    """
    key = f"{source}\x00{start}\x00{text}"
    if structure:
        key += f"\x00{structure}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _stored_structure(chunk: Chunk, sentences: list[tuple[int, int]]) -> str:
    """What `chunk_id` hashes beside the text: the chunk's stored fields and sentence bounds."""
    meta = {k: v for k, v in chunk.metadata().items() if k not in ("source", "start", "end")}
    bounds = [[s - chunk.start, e - chunk.start] for s, e in sentences]
    return json.dumps([meta, bounds], ensure_ascii=False, sort_keys=True)


def chunk_document(
    document: Document, encoding: tiktoken.Encoding, chunk_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Split a document into chunks of about `chunk_tokens`, overlapping by `overlap_tokens`."""
    return list(iter_chunks(document, encoding, chunk_tokens, overlap_tokens))


def iter_chunks(
    document: Document, encoding: tiktoken.Encoding, chunk_tokens: int, overlap_tokens: int
) -> Iterator[Chunk]:
    """The chunks of `chunk_document`, one at a time: a big file need not be held as chunks."""
    if overlap_tokens >= chunk_tokens:
        overlap_tokens = chunk_tokens // 4
    # syntok is the cost of chunking: split the text once, and find each chunk's answer sentences,
    # section and pages by bisection rather than by scanning the whole document per chunk.
    sentences = sentence_spans(document.text)
    units = _units(document.text, sentences, encoding, chunk_tokens)
    answers = _prose_sentences(document, sentences)
    answer_starts = [s for s, _ in answers]
    sentence_starts = [s for s, _ in sentences]
    block_ends = [block.end for block in document.blocks]
    page_starts = [span.start for span in document.pages]
    count = 0
    i = 0
    while i < len(units):
        j, total = i, 0
        # Prefer to close a chunk at a paragraph break once it is at least half full.
        while j < len(units) and (j == i or total + units[j].tokens <= chunk_tokens):
            total += units[j].tokens
            j += 1
            if (
                j < len(units)
                and total >= chunk_tokens // 2
                and _paragraph_break(document.text, units[j - 1].end, units[j].start)
                and total + units[j].tokens > chunk_tokens * 3 // 4
            ):
                break
        # Sentences counted apart can gain a token where they join (" 300" is two tokens): measure
        # the chunk as one text and give back whole sentences until it fits.
        while (
            j - 1 > i
            and _count(document.text[units[i].start : units[j - 1].end], encoding) > chunk_tokens
        ):
            j -= 1
        start, end = units[i].start, units[j - 1].end
        text = document.text[start:end]
        first = bisect_left(answer_starts, start)
        last = bisect_right(answer_starts, end)
        section = _section_at(document, block_ends, start)
        inner = _sections_within(document, block_ends, start, end, section)
        rows = _rows_within(document, block_ends, start, end)
        chunk = Chunk(
            chunk_id="",
            source=document.source,
            title=document.title,
            index=count,
            start=start,
            end=end,
            text=text,
            page=document.page_at(start),
            section=section,
            sections=inner,
            rows=rows,
            answers=tuple((s, e) for s, e in answers[first:last] if e <= end),
            pages=_pages_over(document.pages, page_starts, start, end),
            furniture=document.furniture if count == 0 else (),
        )
        within = sentences[bisect_left(sentence_starts, start) : bisect_left(sentence_starts, end)]
        structure = _stored_structure(chunk, within)
        yield replace(chunk, chunk_id=chunk_id(document.source, start, text, structure))
        count += 1
        if j >= len(units):
            break
        # Step back over whole sentences worth at most `overlap_tokens`, always moving forward.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1].tokens <= overlap_tokens:
            back -= 1
            carried += units[back].tokens
        i = back


def answer_sentences(document: Document) -> list[tuple[int, int]]:
    """Document offsets of every sentence that may be quoted: the sentences of prose blocks."""
    return _prose_sentences(document, sentence_spans(document.text))


def _prose_sentences(document: Document, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentences (of the whole text, in order) that lie in prose blocks.

    Blocks are separated by line breaks and a line break always ends a sentence, so the sentences
    of the whole text are the sentences of its blocks, and one pass over both finds each one's.
    """
    if not document.blocks:
        return sentences
    spans: list[tuple[int, int]] = []
    blocks = document.blocks
    b = 0
    for start, end in sentences:
        while b < len(blocks) and blocks[b].end <= start:
            b += 1
        if b == len(blocks):
            break
        block = blocks[b]
        if block.prose and block.start <= start and end <= block.end:
            spans.append((start, end))
    return spans


def _section_at(document: Document, block_ends: list[int], offset: int) -> str:
    """The heading the block at `offset` sits under ('' before the first heading)."""
    k = bisect_right(block_ends, offset)
    return document.blocks[k].section if k < len(document.blocks) else ""


def _sections_within(
    document: Document, block_ends: list[int], start: int, end: int, section: str
) -> tuple[tuple[int, str], ...]:
    """Where the heading changes inside [start, end), from `section`: (offset, new heading)."""
    changes: list[tuple[int, str]] = []
    current = section
    for block in document.blocks[bisect_right(block_ends, start) :]:
        if block.start >= end:
            break
        if block.section != current and block.start > start:
            changes.append((block.start, block.section))
        current = block.section
    return tuple(changes)


def _rows_within(
    document: Document, block_ends: list[int], start: int, end: int
) -> tuple[tuple[int, int], ...]:
    """The table rows that lie inside [start, end)."""
    rows: list[tuple[int, int]] = []
    for block in document.blocks[bisect_right(block_ends, start) :]:
        if block.start >= end:
            break
        if block.kind == "table_row" and block.start >= start and block.end <= end:
            rows.append((block.start, block.end))
    return tuple(rows)


def _pages_over(
    pages: tuple[PageSpan, ...], page_starts: list[int], start: int, end: int
) -> tuple[PageSpan, ...]:
    """The page spans that overlap [start, end) (page spans are in order and do not overlap)."""
    first = max(0, bisect_right(page_starts, start) - 1)
    last = bisect_left(page_starts, end)
    return tuple(p for p in pages[first:last] if p.start < end and p.end > start)


def _paragraph_break(text: str, left_end: int, right_start: int) -> bool:
    return "\n" in text[left_end:right_start]


def _units(
    text: str, sentences: list[tuple[int, int]], encoding: tiktoken.Encoding, limit: int
) -> list[Span]:
    """Sentences with token counts; a sentence longer than `limit` is cut into token windows."""
    units: list[Span] = []
    for start, end in sentences:
        piece = text[start:end]
        tokens = encoding.encode(piece, disallowed_special=())
        if len(tokens) <= limit:
            units.append(Span(start, end, len(tokens)))
            continue
        # Cut at token starts (decode_with_offsets maps them to characters without the drift a
        # multi-byte character split across tokens causes), then trim any window that re-encodes
        # to more than `limit` tokens; the trimmed characters open the next window.
        _, token_starts = encoding.decode_with_offsets(tokens)
        offset = start
        for target in [start + token_starts[k] for k in range(limit, len(tokens), limit)] + [end]:
            while offset < target:
                cut = target
                count = _count(text[offset:cut], encoding)
                while count > limit and cut > offset + 1:
                    cut -= 1
                    count = _count(text[offset:cut], encoding)
                units.append(Span(offset, cut, count))
                offset = cut
    return units


def _count(text: str, encoding: tiktoken.Encoding) -> int:
    return len(encoding.encode(text, disallowed_special=()))
