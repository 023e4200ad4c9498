"""The records that flow through retrieval: loaded documents, chunks, and scored search hits."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageSpan:
    """Where one PDF page lies in a document's text (1-based page number)."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One file of the corpus, read into plain text."""

    source: str  # path relative to the corpus root, with forward slashes
    title: str
    text: str
    content_hash: str
    pages: tuple[PageSpan, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The PDF page holding character `offset`, or None for documents without pages."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return self.pages[-1].page if self.pages else None


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

    def metadata(self) -> dict[str, str | int]:
        """The chunk's fields as Chroma metadata (no None values)."""
        meta: dict[str, str | int] = {
            "source": self.source,
            "title": self.title,
            "index": self.index,
            "start": self.start,
            "end": self.end,
        }
        if self.page is not None:
            meta["page"] = self.page
        return meta

    def answer_spans(self) -> list[tuple[int, int]]:
        """Document offsets of the chunk's sentences that may be quoted as an answer.

        Headings, navigation, code and other structure are searchable but never answer sentences.
        """
        from retrieval.text.sentences import sentence_spans

        return [(self.start + s, self.start + e) for s, e in sentence_spans(self.text)]

    def page_of(self, start: int, end: int) -> int | None:
        """The PDF page holding the quote at document offsets [start, end), None without pages."""
        return self.page

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, object]) -> Chunk:
        """Rebuild a chunk from what Chroma stored."""
        page = meta.get("page")
        return cls(
            chunk_id=chunk_id,
            source=str(meta["source"]),
            title=str(meta.get("title", "")),
            index=int(str(meta.get("index", 0))),
            start=int(str(meta["start"])),
            end=int(str(meta["end"])),
            text=text,
            page=int(str(page)) if page is not None else None,
        )


@dataclass(frozen=True)
class ScoredChunk:
    """A search hit: the chunk, its fused score, and which retrievers found it (rank per retriever)."""

    chunk: Chunk
    score: float
    found_by: dict[str, int] = field(default_factory=dict)
