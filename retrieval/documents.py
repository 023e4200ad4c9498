"""The records that flow through retrieval: loaded documents, chunks, and scored search hits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["paragraph", "heading", "list_item", "code", "table_row", "furniture"]
# Between the cells of a table row in the stored text: `Header: cell · Header: cell`.
CELL_SEPARATOR = " · "
# Kinds whose sentences may be quoted as an answer; the rest is searchable structure.
PROSE_KINDS: frozenset[str] = frozenset({"paragraph", "list_item", "table_row"})


@dataclass(frozen=True)
class PageSpan:
    """Where one PDF page lies in a document's text (1-based page number)."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Block:
    """One block of a document's text: what it is, where it lies, and the heading it sits under."""

    kind: BlockKind
    start: int
    end: int
    section: str = ""

    @property
    def prose(self) -> bool:
        """Whether the block's sentences may be quoted as an answer."""
        return self.kind in PROSE_KINDS


@dataclass(frozen=True)
class Document:
    """One file of the corpus, read into plain text."""

    source: str  # path relative to the corpus root, with forward slashes
    title: str
    text: str
    content_hash: str
    pages: tuple[PageSpan, ...] = ()
    # The text's blocks in order; empty means the whole text is prose (documents built by hand).
    blocks: tuple[Block, ...] = ()
    # Running headers and footers taken out of the flowing text, each kept once, in page order.
    furniture: tuple[str, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The PDF page holding character `offset`, or None for documents without pages."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return self.pages[-1].page if self.pages else None


# The longest list quoted with the lead-in that introduces it; a longer one is left to the reader.
MAX_LIST_ITEMS = 12
# The most a command or snippet that a lead-in introduces may hold to be quoted with it ("…, type
# this from the doc directory:" / "make gdb.pdf"): a longer block is a listing, not an answer.
MAX_SNIPPET_LINES = 3
MAX_SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of a document: `text == document.text[start:end]`."""

    chunk_id: str
    source: str
    title: str
    index: int
    start: int
    end: int
    text: str
    page: int | None = None
    section: str = ""  # the heading the chunk's first block sits under
    # Document offsets of the sentences that may be quoted; None: every sentence of the text.
    answers: tuple[tuple[int, int], ...] | None = None
    pages: tuple[PageSpan, ...] = ()  # the PDF pages the chunk overlaps, in document offsets
    # The document's running headers and footers, on its first chunk only (kept once per document).
    furniture: tuple[str, ...] = ()
    # Where a new heading starts inside the chunk: (document offset, heading), in order. A field
    # or a table row often names its subject only in its heading, which is not the chunk's first.
    sections: tuple[tuple[int, str], ...] = ()
    # The table rows inside the chunk, as document spans: a row's later sentences say something
    # of what its first cell names.
    rows: tuple[tuple[int, int], ...] = ()

    def row_start(self, offset: int) -> int | None:
        """Where the table row holding document `offset` starts, or None outside rows."""
        for start, end in self.rows:
            if start <= offset < end:
                return start
        return None

    def section_at(self, offset: int) -> str:
        """The heading the text at document `offset` sits under."""
        current = self.section
        for start, heading in self.sections:
            if start > offset:
                break
            current = heading
        return current

    def metadata(self) -> dict[str, str | int]:
        """The chunk's fields as Chroma metadata (no None values; spans as compact JSON)."""
        meta: dict[str, str | int] = {
            "source": self.source,
            "title": self.title,
            "index": self.index,
            "start": self.start,
            "end": self.end,
        }
        if self.page is not None:
            meta["page"] = self.page
        if self.section:
            meta["section"] = self.section
        if self.answers is not None:
            relative = [[s - self.start, e - self.start] for s, e in self.answers]
            meta["answers"] = json.dumps(relative, separators=(",", ":"))
        if self.pages:
            spans = [[p.page, p.start - self.start, p.end - self.start] for p in self.pages]
            meta["pages"] = json.dumps(spans, separators=(",", ":"))
        if self.furniture:
            meta["furniture"] = json.dumps(list(self.furniture), ensure_ascii=False)
        if self.sections:
            relative_sections = [[s - self.start, h] for s, h in self.sections]
            meta["sections"] = json.dumps(relative_sections, ensure_ascii=False)
        if self.rows:
            meta["rows"] = json.dumps([[s - self.start, e - self.start] for s, e in self.rows])
        return meta

    def answer_spans(self) -> list[tuple[int, int]]:
        """Document offsets of the chunk's sentences that may be quoted as an answer.

        Headings, navigation, code and other structure are searchable but never answer sentences.
        """
        if self.answers is not None:
            return list(self.answers)
        from retrieval.text.sentences import sentence_spans

        return [(self.start + s, self.start + e) for s, e in sentence_spans(self.text)]

    def list_after(
        self, spans: Sequence[tuple[int, int]], index: int
    ) -> tuple[tuple[int, int], ...]:
        """The list a lead-in introduces: when answer sentence `spans[index]` ends in a colon,
        the answer sentences on the lines right after it, each a line of its own, up to a blank
        line or other text; or the short snippet of code right after it (`snippet_after`). None
        when the sentence is no lead-in, when a line holds more than one sentence, when a table
        follows (its rows are quoted as rows), when the list reaches the chunk's end, or when it
        is longer than a quote should be (`MAX_LIST_ITEMS`)."""
        start, end = spans[index]
        if not self.text[start - self.start : end - self.start].rstrip().endswith(":"):
            return ()
        if index + 1 == len(spans):
            return self.snippet_after(end, self.end)
        items: list[tuple[int, int]] = []
        at = end
        for item in spans[index + 1 :]:
            gap = self.text[at - self.start : item[0] - self.start]
            if gap.strip() or gap.count("\n") > 1:
                if not items:
                    return self.snippet_after(end, item[0])
                break  # other text (code, a heading) or a blank line: the list has ended
            if gap.count("\n") == 0 or self.row_start(item[0]) is not None:
                return ()  # the line goes on, or a table follows: not a list of lines
            items.append(item)
            at = item[1]
        line_end = self.text.find("\n", at - self.start)
        # A list that runs to the chunk's end may go on in the next chunk: a part of it would
        # read as the whole.
        if line_end < 0 or self.text[at - self.start : line_end].strip():
            return ()
        return tuple(items) if len(items) <= MAX_LIST_ITEMS else ()

    def snippet_after(self, end: int, following: int) -> tuple[tuple[int, int], ...]:
        """The short block of code a lead-in ending at document offset `end` introduces, when the
        next answer sentence starts at `following`: the command a reader is told to type is the
        answer the lead-in only announces. Lines of text that are no answer sentence, on the lines
        below the lead-in, up to a blank line; none when they hold a heading, when they run to
        where the next sentence starts without a break, or when they are more than a quote should
        hold (`MAX_SNIPPET_LINES`, `MAX_SNIPPET_CHARS`)."""
        region = self.text[end - self.start : following - self.start]
        body = region.lstrip(" \t")
        if not body.startswith("\n"):
            return ()  # the lead-in's line goes on
        code_start = end + len(region) - len(region.lstrip())
        snippet = region.strip()
        tail = region[region.index(snippet) + len(snippet) :]
        lines = snippet.split("\n")
        if (
            not snippet
            or "\n\n" in snippet.replace(" ", "")
            or tail.count("\n") < 2
            or len(lines) > MAX_SNIPPET_LINES
            or len(snippet) > MAX_SNIPPET_CHARS
            or any(code_start <= at < code_start + len(snippet) for at, _ in self.sections)
        ):
            return ()
        return ((code_start, code_start + len(snippet)),)

    def page_of(self, start: int, end: int) -> int | None:
        """The PDF page holding the quote at document offsets [start, end): the page of its start.

        None for documents without pages.
        """
        for span in self.pages:
            if span.start <= start < span.end:
                return span.page
        return self.page

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, object]) -> Chunk:
        """Rebuild a chunk from what Chroma stored."""
        page = meta.get("page")
        start = int(str(meta["start"]))
        answers = None
        if "answers" in meta:
            answers = tuple((start + s, start + e) for s, e in json.loads(str(meta["answers"])))
        pages: tuple[PageSpan, ...] = ()
        if "pages" in meta:
            pages = tuple(
                PageSpan(p, start + s, start + e) for p, s, e in json.loads(str(meta["pages"]))
            )
        return cls(
            chunk_id=chunk_id,
            source=str(meta["source"]),
            title=str(meta.get("title", "")),
            index=int(str(meta.get("index", 0))),
            start=start,
            end=int(str(meta["end"])),
            text=text,
            page=int(str(page)) if page is not None else None,
            section=str(meta.get("section", "")),
            answers=answers,
            pages=pages,
            furniture=tuple(json.loads(str(meta["furniture"]))) if "furniture" in meta else (),
            sections=tuple(
                (start + int(s), str(h)) for s, h in json.loads(str(meta.get("sections", "[]")))
            ),
            rows=tuple((start + s, start + e) for s, e in json.loads(str(meta.get("rows", "[]")))),
        )


@dataclass(frozen=True)
class ScoredChunk:
    """A search hit: the chunk, its fused score, and which retrievers found it (rank per retriever)."""

    chunk: Chunk
    score: float
    found_by: dict[str, int] = field(default_factory=dict)
