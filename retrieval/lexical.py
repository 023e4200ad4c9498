"""BM25 over chunk texts with bm25s, persisted beside the Chroma data."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.documents import Chunk
from retrieval.text.terms import ANALYZER_VERSION, content_terms, initialisms

# Lucene/Anserini's BM25 defaults for passage retrieval, rather than bm25s's 1.5/0.75: chunks are
# short and of similar length, so length normalisation matters less. On SQuAD as an open corpus
# they found 2 more answers at top 4 and were no worse on the other file formats and chunk sizes
# tried (benchmarks/README.md).
BM25_K1 = 0.9
BM25_B = 0.4


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG on import; its progress chatter is not for users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def title_heading(chunk: Chunk) -> str:
    """The chunk's title (when it says more than the file name) and section heading, a line each.

    A section heading says what the rows or paragraphs under it are about, as the title does for
    the whole document, so both help a question find the chunk.
    """
    lines = []
    if chunk.title and chunk.title != Path(chunk.source).stem:
        lines.append(chunk.title)
    if chunk.section and chunk.section != chunk.title and chunk.section not in chunk.text[:200]:
        lines.append(chunk.section)
    return "".join(f"{line}\n" for line in lines)


def search_text(chunk: Chunk) -> str:
    """What is indexed for a chunk: its text, headed by its title when the title says something."""
    return title_heading(chunk) + chunk.text


def index_terms(chunk: Chunk) -> list[str]:
    """The terms BM25 indexes for a chunk: its search text's, and its title's initials (a
    question names the "Mozilla Public License" as "the MPL")."""
    return content_terms(search_text(chunk)) + sorted(initialisms(chunk.title))


class LexicalIndex:
    """A BM25 index over chunks; `search` returns (chunk, score) best first."""

    def __init__(
        self, chunks: list[Chunk], retriever: object | None, stamp: str | None = None
    ) -> None:
        self.chunks = chunks
        # The index version (Chroma collection metadata) these chunks were read at, if known.
        self.stamp = stamp
        self._retriever = retriever
        self._by_id = {chunk.chunk_id: chunk for chunk in chunks}
        self._df: Counter[str] | None = None

    @classmethod
    def build(cls, chunks: list[Chunk], stamp: str | None = None) -> LexicalIndex:
        """Index `chunks` (in the order given), read from the store at version `stamp`."""
        if not chunks:
            return cls([], None, stamp)
        retriever = _bm25s().BM25(k1=BM25_K1, b=BM25_B)
        corpus = [index_terms(chunk) or ["\x00empty"] for chunk in chunks]
        retriever.index(corpus, show_progress=False)
        return cls(chunks, retriever, stamp)

    def document_frequency(self, term: str) -> int:
        """How many chunks contain the (stemmed) term."""
        if self._df is None:
            self._df = Counter(t for c in self.chunks for t in set(index_terms(c)))
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

    def save(self, folder: Path) -> str:
        """Write the index and its chunk records under `folder`; returns the version written.

        Each save goes to a new version folder and only then becomes current, through one
        atomic rename of the `CURRENT` pointer: a reader never sees half of two saves.
        """
        version = f"v{time.time_ns()}-{os.getpid()}"
        target = folder / version
        target.mkdir(parents=True)
        records = [
            {**chunk.metadata(), "chunk_id": chunk.chunk_id, "text": chunk.text}
            for chunk in self.chunks
        ]
        if self._retriever is not None:
            self._retriever.save(str(target / "bm25"))  # type: ignore[attr-defined]
        (target / "chunks.json").write_text(json.dumps(records), encoding="utf-8")
        (target / "stamp").write_text(self.stamp or "", encoding="utf-8")
        (target / "analyzer").write_text(ANALYZER_VERSION, encoding="utf-8")
        pointer = folder / f"CURRENT.{version}.tmp"
        pointer.write_text(version, encoding="utf-8")
        pointer.replace(folder / "CURRENT")
        for old in folder.glob("v*"):
            if old.name != version:
                shutil.rmtree(old, ignore_errors=True)
        return version

    @staticmethod
    def current_version(folder: Path) -> str | None:
        """The version `folder` currently holds, or None if nothing was saved there."""
        try:
            return (folder / "CURRENT").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """Read the current index saved under `folder`, or None if there is none."""
        version = cls.current_version(folder)
        if version is None:
            return None
        target = folder / version
        try:
            records = json.loads((target / "chunks.json").read_text(encoding="utf-8"))
            stamp = (target / "stamp").read_text(encoding="utf-8").strip() or None
            analyzer = (target / "analyzer").read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            # Replaced while we read it, or saved before stamps (or analyzer versions) existed:
            # the caller rebuilds.
            return None
        if analyzer != ANALYZER_VERSION:
            return None  # its terms were made by other code than the queries' will be
        chunks = [Chunk.from_metadata(r["chunk_id"], r["text"], r) for r in records]
        if not chunks:
            return cls([], None, stamp)
        try:
            retriever = _bm25s().BM25.load(str(target / "bm25"))
        except (OSError, ValueError):
            return None
        return cls(chunks, retriever, stamp)
