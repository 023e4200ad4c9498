"""Incremental ingestion: load, chunk, embed only what changed, drop what is gone."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.chunking import chunk_document
from retrieval.config import RetrievalSettings
from retrieval.documents import Chunk
from retrieval.embeddings import NamedEmbeddings
from retrieval.lexical import search_text
from retrieval.loaders import SkippedFile, load_corpus
from retrieval.passages import passage_texts
from retrieval.store import ChunkStore
from retrieval.text.secrets import redact_documents
from retrieval.tokens import CHUNKING_ENCODING, get_encoding

ProgressFactory = Callable[[int, str], "Progress"]

# Passages embedded (in batches) before their chunks are stored: sorting a group's passages by
# length is what keeps batches from padding, and storing per group bounds memory and lost work.
_BATCHES_PER_GROUP = 16


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
    # Where the time went, in seconds: load, chunk, embed (passages), store (Chroma writes), bm25.
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the index content changed."""
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """One line a user reads after ingest."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{_count(self.chunks_embedded, 'chunk')} embedded, {self.documents_total} documents / "
            f"{self.chunks_total} chunks in the index ({self.seconds:.1f}s)"
        )


def _count(n: int, noun: str) -> str:
    """'1 chunk', '2 chunks', '0 chunks'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def chunk_corpus(
    root: Path, settings: RetrievalSettings, stages: dict[str, float] | None = None
) -> tuple[list[Chunk], list[str], list[SkippedFile]]:
    """Load and chunk every file under `root`: (chunks, sources read, skipped files).

    `stages`, when given, receives the seconds spent loading and chunking.
    """
    started = time.perf_counter()
    documents, skipped = load_corpus(root, settings.max_file_mb)
    documents = redact_documents(documents) if settings.redact_secrets else documents
    loaded = time.perf_counter()
    encoding = get_encoding(CHUNKING_ENCODING)
    chunks: list[Chunk] = []
    for document in documents:
        chunks.extend(
            chunk_document(document, encoding, settings.chunk_tokens, settings.chunk_overlap)
        )
    if stages is not None:
        stages["load"] = loaded - started
        stages["chunk"] = time.perf_counter() - loaded
    return chunks, [d.source for d in documents], skipped


def embed_passages(
    chunks: list[Chunk],
    embeddings: NamedEmbeddings,
    batch_size: int,
    stages: dict[str, float] | None = None,
) -> Iterator[tuple[list[Chunk], list[list[list[float]]]]]:
    """Embed the passages of `chunks`, `batch_size` texts per call; yield chunks with their vectors.

    Chunks go in groups of about `_BATCHES_PER_GROUP` batches of passages. Within a group the
    passages are embedded shortest first, so a batch holds texts of similar length and pads little
    (a passage is a sentence or two: lengths vary more than between chunks). Each group is yielded
    once embedded, its vectors one list per chunk in passage order: a long ingest stores as it goes.
    """
    stages = {} if stages is None else stages
    stages.setdefault("embed", 0.0)

    def embedded(texts: list[list[str]]) -> list[list[list[float]]]:
        started = time.perf_counter()
        vectors = _embed_group(texts, embeddings, batch_size)
        stages["embed"] += time.perf_counter() - started
        return vectors

    group: list[Chunk] = []
    group_texts: list[list[str]] = []
    waiting = 0
    for chunk in chunks:
        group.append(chunk)
        group_texts.append(passage_texts(chunk))
        waiting += len(group_texts[-1])
        if waiting >= batch_size * _BATCHES_PER_GROUP:
            yield group, embedded(group_texts)
            group, group_texts, waiting = [], [], 0
    if group:
        yield group, embedded(group_texts)


def _embed_group(
    texts: list[list[str]], embeddings: NamedEmbeddings, batch_size: int
) -> list[list[list[float]]]:
    """Vectors for each chunk's passage texts, embedded shortest first in `batch_size` calls."""
    flat = [
        (len(text), i, j)
        for i, chunk_texts in enumerate(texts)
        for j, text in enumerate(chunk_texts)
    ]
    flat.sort()
    vectors: list[list[list[float]]] = [[[] for _ in chunk_texts] for chunk_texts in texts]
    for start in range(0, len(flat), batch_size):
        batch = flat[start : start + batch_size]
        embedded = embeddings.embed_for_index([texts[i][j] for _, i, j in batch])
        for (_, i, j), vector in zip(batch, embedded, strict=True):
            vectors[i][j] = vector
    return vectors


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
    report.stages["store"] = 0.0
    try:
        for batch, vectors in embed_passages(todo, embeddings, batch_size, report.stages):
            writing = time.perf_counter()
            if not report.chunks_embedded:
                store.record(dimension=len(vectors[0][0]))
            store.add(batch, vectors)
            report.stages["store"] += time.perf_counter() - writing
            report.chunks_embedded += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
    report.chunks_total = store.count()
    report.documents_total = len(set(sources) | {s for s in old_by_source if s in kept})
    report.seconds = time.perf_counter() - started
    return report
