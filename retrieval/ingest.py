"""Incremental ingestion: load, chunk, embed only what changed, drop what is gone."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.chunking import chunk_document
from retrieval.config import RetrievalSettings
from retrieval.documents import Chunk
from retrieval.embeddings import NamedEmbeddings
from retrieval.lexical import search_text
from retrieval.loaders import SkippedFile, load_corpus
from retrieval.store import ChunkStore
from retrieval.tokens import CHUNKING_ENCODING, get_encoding

ProgressFactory = Callable[[int, str], "Progress"]


class Progress:
    """What ingestion reports progress to; the default reports nothing."""

    def update(self, n: int) -> None:
        """Advance by `n` items."""

    def close(self) -> None:
        """Finish the bar."""


@dataclass
class IngestReport:
    """What one ingest did, for the summary line."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    documents_total: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when the index content changed."""
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """One line a user reads after ingest."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks_embedded} chunks embedded, {self.documents_total} documents / "
            f"{self.chunks_total} chunks in the index ({self.seconds:.1f}s)"
        )


def chunk_corpus(
    root: Path, settings: RetrievalSettings
) -> tuple[list[Chunk], list[str], list[SkippedFile]]:
    """Load and chunk every file under `root`: (chunks, sources read, skipped files)."""
    documents, skipped = load_corpus(root)
    encoding = get_encoding(CHUNKING_ENCODING)
    chunks: list[Chunk] = []
    for document in documents:
        chunks.extend(
            chunk_document(document, encoding, settings.chunk_tokens, settings.chunk_overlap)
        )
    return chunks, [d.source for d in documents], skipped


def ingest_chunks(
    chunks: list[Chunk],
    sources: list[str],
    skipped: list[SkippedFile],
    *,
    store: ChunkStore,
    embeddings: NamedEmbeddings,
    batch_size: int,
    progress: ProgressFactory | None = None,
) -> IngestReport:
    """Make the store hold exactly these chunks, embedding only the new ones."""
    started = time.perf_counter()
    report = IngestReport(skipped=list(skipped))
    stored = store.sources_by_id()
    old_by_source: dict[str, set[str]] = defaultdict(set)
    for chunk_id, source in stored.items():
        old_by_source[source].add(chunk_id)
    new_by_source: dict[str, set[str]] = defaultdict(set)
    for chunk in chunks:
        new_by_source[chunk.source].add(chunk.chunk_id)

    for source in sources:
        old, new = old_by_source.get(source, set()), new_by_source.get(source, set())
        if not old:
            report.added.append(source)
        elif old == new:
            report.unchanged.append(source)
        else:
            report.updated.append(source)
    # A file that is now unreadable keeps its old chunks: skipping must never lose data.
    kept = set(sources) | {s.source for s in skipped}
    report.removed = sorted(s for s in old_by_source if s not in kept)

    stale = [
        chunk_id
        for source, ids in old_by_source.items()
        if source not in {s.source for s in skipped}
        for chunk_id in ids - new_by_source.get(source, set())
    ]
    store.delete(stale)
    report.chunks_removed = len(stale)

    seen: set[str] = set()
    todo: list[Chunk] = []
    for chunk in chunks:
        if chunk.chunk_id not in stored and chunk.chunk_id not in seen:
            seen.add(chunk.chunk_id)
            todo.append(chunk)
    # Similar lengths in one batch pad less: sorted, a batch costs what its texts need (~10% less).
    todo.sort(key=lambda chunk: len(search_text(chunk)))
    bar = progress(len(todo), "Embedding chunks") if progress and todo else Progress()
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            vectors = embeddings.embed_documents([search_text(chunk) for chunk in batch])
            if start == 0 and vectors:
                store.record(dimension=len(vectors[0]))
            store.add(batch, vectors)
            report.chunks_embedded += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
    report.chunks_total = store.count()
    report.documents_total = len(set(sources) | {s for s in old_by_source if s in kept})
    report.seconds = time.perf_counter() - started
    return report
