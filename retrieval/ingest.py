"""Incremental ingestion: load, chunk, embed only what changed, drop what is gone."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from retrieval.chunking import iter_chunks
from retrieval.config import RetrievalSettings
from retrieval.documents import Chunk, Document
from retrieval.embeddings import NamedEmbeddings
from retrieval.errors import UnreadableFileError
from retrieval.lexical import search_text
from retrieval.loaders import (
    SkippedFile,
    content_hash,
    corpus_bytes,
    iter_corpus_files,
    load_document,
    skip_reason,
)
from retrieval.passages import PASSAGE_SCHEME, passage_texts
from retrieval.store import ChunkStore
from retrieval.text.secrets import redact_and_warn
from retrieval.tokens import CHUNKING_ENCODING, get_encoding

ProgressFactory = Callable[[int, str], "Progress"]

# Passages embedded (in batches) before their chunks are stored: sorting a group's passages by
# length is what keeps batches from padding, and storing per group bounds memory and lost work.
_BATCHES_PER_GROUP = 16


# The modules whose code turns a file's bytes into chunks: a change to any of them re-reads files.
_TEXT_CODE = (
    "loaders/*.py",
    "text/*.py",
    "chunking.py",
    "documents.py",
    "passages.py",
    "tokens.py",
)


@dataclass(frozen=True)
class UnchangedFile:
    """A file whose key matches the one its stored chunks were built with: not read again."""

    source: str
    key: str


@lru_cache(maxsize=1)
def _text_code_digest() -> str:
    """sha256 over the source of the modules that read and chunk files."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for pattern in _TEXT_CODE:
        for path in sorted(root.glob(pattern)):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_key(file_hash: str, settings: RetrievalSettings) -> str:
    """What a file's chunks depend on: its bytes, the chunking and redaction settings, the passage
    scheme and the code that reads and chunks it. Equal keys give equal chunks."""
    parts = (
        file_hash,
        f"{settings.chunk_tokens}/{settings.chunk_overlap}",
        f"redact={settings.redact_secrets}",
        PASSAGE_SCHEME,
        _text_code_digest(),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the system.

    Chroma's writes (and onnxruntime's, and Python's large buffers) free their working memory in
    glibc heaps that keep it: measured on 12,000 passage vectors upserted in batches of 3,000,
    the process grew by 108 MB, against 48 MB trimmed after each batch and 31 MB for a process
    that only opens and queries the same index. Trimmed after each stored group, a whole ingest
    keeps less of it (benchmarks/README.md, "Memory while ingesting one big file").
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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

    All in memory at once: for tests and benchmarks. Ingest streams `iter_corpus_chunks` instead.
    `stages`, when given, receives the seconds spent loading and chunking.
    """
    chunks: list[Chunk] = []
    sources: list[str] = []
    skipped: list[SkippedFile] = []
    for item, _ in iter_corpus_chunks(root, settings, stages):
        if isinstance(item, Chunk):
            chunks.append(item)
        elif isinstance(item, SkippedFile):
            skipped.append(item)
        elif isinstance(item, Document):
            sources.append(item.source)
    return chunks, sources, skipped


def iter_corpus_chunks(
    root: Path,
    settings: RetrievalSettings,
    stages: dict[str, float] | None = None,
    known: dict[str, set[str]] | None = None,
) -> Iterator[tuple[Document | Chunk | SkippedFile | UnchangedFile, int]]:
    """Each file under `root` in turn: its Document (redacted, with its bytes), then its chunks.

    A skipped file comes as a SkippedFile. `known` maps sources to the file keys their stored
    chunks carry: a file whose key is the one its chunks were built with comes as an
    UnchangedFile, hashed but not loaded or chunked. One document and one chunk are held at a
    time, so memory does not grow with the corpus. `stages` receives the seconds spent loading
    (with hashing and redaction) and chunking.
    """
    stages = {} if stages is None else stages
    stages.setdefault("load", 0.0)
    stages.setdefault("chunk", 0.0)
    encoding = get_encoding(CHUNKING_ENCODING)
    real_root = root.resolve()
    for path in iter_corpus_files(root):
        started = time.perf_counter()
        item, size = _read(path, root, real_root, settings, known or {})
        stages["load"] += time.perf_counter() - started
        yield item, size
        if not isinstance(item, Document):
            continue
        chunks = iter_chunks(item, encoding, settings.chunk_tokens, settings.chunk_overlap)
        while True:
            started = time.perf_counter()
            chunk = next(chunks, None)
            stages["chunk"] += time.perf_counter() - started
            if chunk is None:
                break
            yield chunk, 0


def _read(
    path: Path,
    root: Path,
    real_root: Path,
    settings: RetrievalSettings,
    known: dict[str, set[str]],
) -> tuple[Document | SkippedFile | UnchangedFile, int]:
    """One file as `loaders.iter_corpus` reads it, with its size (0 when skipped up front), or
    UnchangedFile when its key is the one its stored chunks carry."""
    source = path.relative_to(root).as_posix()
    reason = skip_reason(path, real_root, settings.max_file_mb)
    if reason:
        return SkippedFile(source, reason), 0
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if source in known and not path.is_symlink():
        try:
            key = file_key(content_hash(path.read_bytes()), settings)
        except OSError:
            key = ""
        if key and known[source] == {key}:
            return UnchangedFile(source, key), size
    try:
        document = load_document(path, source)
    except UnreadableFileError as error:
        return SkippedFile(source, str(error)), size
    return (redact_and_warn(document) if settings.redact_secrets else document), size


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


class _ByteProgress:
    """Advance a bar counted in corpus bytes as each document's chunks are done.

    A document's bytes are credited in proportion to how far into its text the chunks done so far
    reach, so one big file moves the bar (and its ETA) as it is embedded, not only at its end.
    """

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.sizes: dict[str, tuple[int, int]] = {}  # source: (file bytes, text length)
        self.credited: dict[str, int] = {}

    def document(self, source: str, size: int, text_length: int) -> None:
        self.sizes[source] = (size, max(text_length, 1))
        self.credited[source] = 0

    def skipped(self, size: int) -> None:
        if size:
            self.bar.update(size)

    def done(self, chunk: Chunk) -> None:
        size, length = self.sizes.get(chunk.source, (0, 1))
        reached = min(size, size * chunk.end // length)
        credited = self.credited.get(chunk.source, 0)
        if reached > credited:
            self.credited[chunk.source] = reached
            self.bar.update(reached - credited)

    def finish(self, source: str) -> None:
        """All of `source`'s chunks are done: credit what its last chunk did not reach."""
        size, _ = self.sizes.pop(source, (0, 1))
        credited = self.credited.pop(source, 0)
        if size > credited:
            self.bar.update(size - credited)


def ingest_corpus(
    root: Path,
    settings: RetrievalSettings,
    *,
    store: ChunkStore,
    embeddings: NamedEmbeddings,
    progress: ProgressFactory | None = None,
    stages: dict[str, float] | None = None,
) -> IngestReport:
    """Make the store hold exactly the chunks of the files under `root`, embedding only new ones.

    Streams: files are read and chunked one at a time, and the chunks not yet stored are embedded
    and written in groups of `settings.ingest_group_chunks`. What is kept for the whole ingest is
    chunk ids (to find stale chunks and unchanged files), never chunk texts or vectors; BM25 is
    rebuilt from the store afterwards, as every reader does.
    """
    started = time.perf_counter()
    stages = {} if stages is None else stages
    stages.setdefault("store", 0.0)
    report = IngestReport()
    stored, stored_keys = store.stored_files()
    old_by_source: dict[str, set[str]] = defaultdict(set)
    for chunk_id, source in stored.items():
        old_by_source[source].add(chunk_id)
    new_by_source: dict[str, set[str]] = defaultdict(set)
    sources: list[str] = []
    seen: set[str] = set()
    pending: list[Chunk] = []
    total = corpus_bytes(root, settings.max_file_mb)
    bar = progress(total, "Ingesting") if progress and total else Progress()
    credit = _ByteProgress(bar)
    # A document's bytes are fully credited once its last pending chunk is stored.
    open_sources: dict[str, int] = {}  # source: its chunks still pending
    file_keys: dict[str, str] = {}  # source: the key of the file read now
    finished: set[str] = set()

    def flush() -> None:
        # Similar lengths in one batch pad less: sorted, a batch costs what its texts need.
        pending.sort(key=lambda chunk: len(search_text(chunk)))
        batch_size = settings.embedding_batch_size
        for batch, vectors in embed_passages(pending, embeddings, batch_size, stages):
            writing = time.perf_counter()
            if not report.chunks_embedded:
                store.record(dimension=len(vectors[0][0]))
            store.add(batch, vectors, file_keys)
            stages["store"] += time.perf_counter() - writing
            report.chunks_embedded += len(batch)
            release_freed_memory()
            for chunk in batch:
                credit.done(chunk)
                open_sources[chunk.source] -= 1
                if not open_sources[chunk.source] and chunk.source in finished:
                    credit.finish(chunk.source)
        pending.clear()

    def close_document(source: str) -> None:
        finished.add(source)
        if not open_sources.get(source):
            credit.finish(source)

    try:
        current: str | None = None
        for item, size in iter_corpus_chunks(root, settings, stages, known=stored_keys):
            if isinstance(item, Chunk):
                new_by_source[item.source].add(item.chunk_id)
                if item.chunk_id in stored or item.chunk_id in seen:
                    credit.done(item)
                    continue
                seen.add(item.chunk_id)
                pending.append(item)
                open_sources[item.source] = open_sources.get(item.source, 0) + 1
                if len(pending) >= settings.ingest_group_chunks:
                    flush()
                continue
            if current is not None:
                close_document(current)
                current = None
            if isinstance(item, SkippedFile):
                report.skipped.append(item)
                credit.skipped(size)
            elif isinstance(item, UnchangedFile):
                sources.append(item.source)
                new_by_source[item.source] = set(old_by_source.get(item.source, set()))
                credit.skipped(size)
            else:
                sources.append(item.source)
                file_keys[item.source] = file_key(item.content_hash, settings)
                credit.document(item.source, size, len(item.text))
                current = item.source
        if current is not None:
            close_document(current)
        if pending:
            flush()
    finally:
        bar.close()

    # Chunks kept from before (their ids unchanged) learn the key of the file read now, so the
    # next ingest can skip that file; new chunks were stored with it.
    for source, key in file_keys.items():
        if stored_keys.get(source, set()) != {key}:
            kept_ids = sorted(new_by_source.get(source, set()) & old_by_source.get(source, set()))
            store.set_file_key(kept_ids, key)
    for source in sources:
        old, new = old_by_source.get(source, set()), new_by_source.get(source, set())
        if not old:
            report.added.append(source)
        elif old == new:
            report.unchanged.append(source)
        else:
            report.updated.append(source)
    # A file that is now unreadable keeps its old chunks: skipping must never lose data.
    skipped_sources = {s.source for s in report.skipped}
    kept = set(sources) | skipped_sources
    report.removed = sorted(s for s in old_by_source if s not in kept)
    # Stale chunks go last: until the new ones are stored, a reader still finds the old text.
    stale = [
        chunk_id
        for source, ids in old_by_source.items()
        if source not in skipped_sources
        for chunk_id in ids - new_by_source.get(source, set())
    ]
    store.delete(stale)
    report.chunks_removed = len(stale)
    report.chunks_total = store.count()
    report.documents_total = len(set(sources) | {s for s in old_by_source if s in kept})
    report.stages = stages
    report.seconds = time.perf_counter() - started
    return report
