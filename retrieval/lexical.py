"""BM25 over chunk texts with bm25s, persisted beside the Chroma data."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.documents import Chunk
from retrieval.terms import content_terms


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG on import; its progress chatter is not for users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def search_text(chunk: Chunk) -> str:
    """What is indexed for a chunk: its text, headed by its title when the title says something."""
    if chunk.title and chunk.title != Path(chunk.source).stem:
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


class LexicalIndex:
    """A BM25 index over chunks; `search` returns (chunk, score) best first."""

    def __init__(self, chunks: list[Chunk], retriever: object | None) -> None:
        self.chunks = chunks
        self._retriever = retriever
        self._by_id = {chunk.chunk_id: chunk for chunk in chunks}
        self._df: Counter[str] | None = None

    @classmethod
    def build(cls, chunks: list[Chunk]) -> LexicalIndex:
        """Index `chunks` (in the order given)."""
        if not chunks:
            return cls([], None)
        retriever = _bm25s().BM25()
        corpus = [content_terms(search_text(chunk)) or ["\x00empty"] for chunk in chunks]
        retriever.index(corpus, show_progress=False)
        return cls(chunks, retriever)

    def document_frequency(self, term: str) -> int:
        """How many chunks contain the (stemmed) term."""
        if self._df is None:
            self._df = Counter(t for c in self.chunks for t in set(content_terms(search_text(c))))
        return self._df.get(term, 0)

    def chunk(self, chunk_id: str) -> Chunk | None:
        """The chunk with this id, if indexed."""
        return self._by_id.get(chunk_id)

    def search(self, query: str, n: int) -> list[tuple[Chunk, float]]:
        """The `n` best chunks for `query` by BM25; chunks with no matching term are left out."""
        terms = content_terms(query)
        if self._retriever is None or not terms:
            return []
        scores = np.asarray(self._retriever.get_scores(terms))  # type: ignore[attr-defined]
        n = min(n, len(self.chunks))
        best = np.argsort(-scores, kind="stable")[:n]
        return [(self.chunks[i], float(scores[i])) for i in best if scores[i] > 0]

    def save(self, folder: Path) -> None:
        """Write the index and its chunk records to `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        records = [
            {**chunk.metadata(), "chunk_id": chunk.chunk_id, "text": chunk.text}
            for chunk in self.chunks
        ]
        if self._retriever is not None:
            self._retriever.save(str(folder / "bm25"))  # type: ignore[attr-defined]
        # Written last: its presence means the folder is complete.
        tmp = folder / "chunks.json.tmp"
        tmp.write_text(json.dumps(records), encoding="utf-8")
        tmp.replace(folder / "chunks.json")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """Read the index saved in `folder`, or None if there is none."""
        path = folder / "chunks.json"
        if not path.is_file():
            return None
        records = json.loads(path.read_text(encoding="utf-8"))
        chunks = [Chunk.from_metadata(r["chunk_id"], r["text"], r) for r in records]
        if not chunks:
            return cls([], None)
        return cls(chunks, _bm25s().BM25.load(str(folder / "bm25")))
