"""The dense side: chunks and their vectors in a Chroma collection, embedded or on a server."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np

from retrieval.config import RetrievalSettings
from retrieval.documents import Chunk
from retrieval.errors import CitebotError, IndexMismatchError, IndexUnavailableError
from retrieval.passages import PASSAGE_SCHEME

F = TypeVar("F", bound=Callable[..., Any])

_PAGE = 1000
# A query first asks for this many passages per chunk wanted, and more while too few chunks came.
_PASSAGES_PER_CHUNK = 4
# HNSW search breadth for passages: a query asks for a few hundred of them, and with Chroma's
# default (100) the approximate neighbours differ enough from exact ones to cost recall
# (SQuAD benchmark top-4: 0.947 at the default, 0.951 here and with exact cosine).
_PASSAGE_EF_SEARCH = 400
# Collection metadata keys: the version stamp each finished ingest writes (readers key their BM25
# cache on it), and the start time of an ingest that has not finished (cleared when it does).
INDEX_VERSION = "index_version"
INGEST_STARTED = "ingest_started"
# Chunk metadata key: what built the chunk's file (its bytes, the settings and the code that read
# and chunked it), so a re-ingest can skip a file whose key has not changed.
FILE_KEY = "file_key"


def make_chroma_client(settings: RetrievalSettings, data_dir: Path) -> Any:
    """A `HttpClient` when CHROMA_HOST is set, else a `PersistentClient` under the data dir."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=chroma_settings)
    except Exception as error:  # chromadb raises plain ValueError/ConnectionError/…
        where = (
            f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"the Chroma store in {data_dir / 'chroma'}"
        )
        raise IndexUnavailableError(
            f"Cannot open {where}: {_reason(error)}. Start it with `chroma run --port "
            f"{settings.chroma_port}` or unset CHROMA_HOST for the embedded store."
        ) from error


def _reason(error: BaseException) -> str:
    """An error's message as a clause: its own final punctuation dropped (no "running?.")."""
    return str(error).strip().rstrip(".?!") or type(error).__name__


def _where(client: Any) -> str:
    """Where a Chroma client stores: the server's host:port, or the embedded store."""
    try:
        settings = client.get_settings()
        host, port = settings.chroma_server_host, settings.chroma_server_http_port
    except Exception:  # a client without settings (a test double): say it plainly
        return "the Chroma store"
    return f"the Chroma server at {host}:{port}" if host else "the embedded Chroma store"


def _unavailable(method: F) -> F:
    """Turn a failure to reach Chroma (a server that died mid-session) into IndexUnavailableError.

    Nothing is cached across the failure: the next call goes to the server again, so the first
    question after it is back simply works.
    """

    @functools.wraps(method)
    def wrapper(self: ChunkStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except CitebotError:
            raise
        except Exception as error:  # httpx.ConnectError, chromadb's own errors, timeouts
            raise IndexUnavailableError(
                f"Cannot reach {self.where} ({type(error).__name__}: {_reason(error)}). "
                "Start it again (`chroma run`) or check CHROMA_HOST/CHROMA_PORT, then retry."
            ) from error

    return wrapper  # type: ignore[return-value]


def passages_collection_name(name: str) -> str:
    """The collection beside `name` that holds the passage vectors of its chunks."""
    return f"{name}-passages"


class ChunkStore:
    """Chunks in a Chroma collection, their passage vectors in a second one beside it.

    The chunk collection holds each chunk's text and metadata and remembers which embedding model
    and passage scheme filled the index; dense search ranks chunks by their best passage.
    """

    def __init__(
        self,
        collection: Any,
        passages: Any,
        where: str = "the Chroma store",
        client: Any = None,
    ) -> None:
        self.collection = collection
        self.passages = passages
        self.where = where
        # Kept to re-read the collection's metadata: another process's ingest changes it.
        self.client = client

    @classmethod
    def open(
        cls,
        client: Any,
        name: str,
        *,
        model_id: str,
        chunking: str,
        rebuild: bool = False,
    ) -> ChunkStore:
        """Open (or create) the collections; refuse an index built another way (model, passages)."""
        if rebuild:
            for doomed in (name, passages_collection_name(name)):
                try:
                    client.delete_collection(doomed)
                except Exception:  # absent already: nothing to delete
                    pass
        metadata = {"embedding_model": model_id, "chunking": chunking, "passages": PASSAGE_SCHEME}
        collection = client.get_or_create_collection(
            name,
            metadata=metadata,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        stored = dict(collection.metadata or {})
        if any(stored.get(key) != metadata[key] for key in ("embedding_model", "passages")):
            if collection.count() == 0:
                stored.pop("hnsw:space", None)
                collection.modify(metadata={**stored, **metadata})
            else:
                _refuse_mismatch(name, stored, model_id)
        passages = client.get_or_create_collection(
            passages_collection_name(name),
            configuration={"hnsw": {"space": "cosine", "ef_search": _PASSAGE_EF_SEARCH}},
            embedding_function=None,
        )
        return cls(collection, passages, _where(client), client)

    @property
    @_unavailable
    def metadata(self) -> dict[str, Any]:
        """What the collection records about itself (model, dimension, chunking, version stamp),
        read afresh: another process may have ingested since this one opened the collection."""
        if self.client is not None:
            self.collection = self.client.get_collection(
                self.collection.name, embedding_function=None
            )
        return dict(self.collection.metadata or {})

    def record(self, drop: Sequence[str] = (), **values: str | int) -> None:
        """Store facts about the index (dimension, chunking) in the collection metadata, and
        remove the keys in `drop`. Chroma replaces the whole mapping, so it is read first."""
        current = self.metadata
        if any(current.get(key) != value for key, value in values.items()) or any(
            key in current for key in drop
        ):
            current.pop("hnsw:space", None)
            for key in drop:
                current.pop(key, None)
            self.collection.modify(metadata={**current, **values})

    def version(self) -> tuple[str | None, str | None]:
        """(the stamp of the last finished ingest, the start time of an unfinished one)."""
        meta = self.metadata
        stamp, started = meta.get(INDEX_VERSION), meta.get(INGEST_STARTED)
        return (str(stamp) if stamp else None, str(started) if started else None)

    def begin_ingest(self) -> str | None:
        """Mark an ingest as running; returns the start of an earlier one that never finished."""
        _, unfinished = self.version()
        self.record(**{INGEST_STARTED: datetime.now(UTC).isoformat(timespec="seconds")})
        return unfinished

    def finish_ingest(self, *, changed: bool) -> None:
        """Clear the running mark; a new version stamp when the content changed (or may have)."""
        values = {INDEX_VERSION: new_version()} if changed else {}
        self.record(drop=(INGEST_STARTED,), **values)

    @_unavailable
    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.collection.count())

    @_unavailable
    def sources_by_id(self) -> dict[str, str]:
        """Every stored chunk id with its source path."""
        out: dict[str, str] = {}
        for ids, metadatas, _ in self._pages(include=["metadatas"]):
            for chunk_id, meta in zip(ids, metadatas, strict=True):
                out[chunk_id] = str((meta or {}).get("source", ""))
        return out

    @_unavailable
    def stored_files(self) -> tuple[dict[str, str], dict[str, set[str]]]:
        """Every stored chunk id with its source, and each source's file keys (in one read)."""
        sources: dict[str, str] = {}
        keys: dict[str, set[str]] = {}
        for ids, metadatas, _ in self._pages(include=["metadatas"]):
            for chunk_id, meta in zip(ids, metadatas, strict=True):
                source = str((meta or {}).get("source", ""))
                sources[chunk_id] = source
                keys.setdefault(source, set()).add(str((meta or {}).get(FILE_KEY, "")))
        return sources, keys

    @_unavailable
    def set_file_key(self, ids: Sequence[str], key: str) -> None:
        """Record `key` on chunks stored before it was known (their other metadata kept)."""
        for start in range(0, len(ids), _PAGE):
            page = self.collection.get(ids=list(ids[start : start + _PAGE]), include=["metadatas"])
            metadatas = [{**(meta or {}), FILE_KEY: key} for meta in page["metadatas"]]
            if metadatas:
                self.collection.update(ids=list(page["ids"]), metadatas=metadatas)

    @_unavailable
    def all_chunks(self) -> list[Chunk]:
        """Every stored chunk, rebuilt from documents and metadata."""
        chunks: list[Chunk] = []
        for ids, metadatas, documents in self._pages(include=["metadatas", "documents"]):
            for chunk_id, meta, text in zip(ids, metadatas, documents, strict=True):
                chunks.append(Chunk.from_metadata(chunk_id, text or "", dict(meta or {})))
        chunks.sort(key=lambda c: (c.source, c.index, c.start))
        return chunks

    def _pages(self, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=_PAGE, offset=offset)
            ids = list(page["ids"])
            if not ids:
                return
            metadatas = list(page.get("metadatas") or [None] * len(ids))
            documents = list(page.get("documents") or [None] * len(ids))
            yield ids, metadatas, documents
            offset += len(ids)

    def add(
        self,
        chunks: Sequence[Chunk],
        passages: Sequence[Sequence[Sequence[float]]],
        file_keys: dict[str, str] | None = None,
    ) -> None:
        """Store chunks with the vectors of their passages (one list per chunk, in passage order).

        Upserts, so a repeated id never fails a batch. The chunk record carries the normalised
        mean of its passage vectors: Chroma needs a vector per record, and this one costs nothing.
        `file_keys` gives each source's file key, stored on its chunks.
        """
        keys = file_keys or {}
        if not chunks:
            return
        self.passages.upsert(
            ids=[
                f"{c.chunk_id}:{i}"
                for c, vs in zip(chunks, passages, strict=True)
                for i in range(len(vs))
            ],
            metadatas=[
                {"chunk_id": c.chunk_id, "source": c.source}
                for c, vs in zip(chunks, passages, strict=True)
                for _ in vs
            ],
            embeddings=[list(v) for vs in passages for v in vs],
        )
        self.collection.upsert(
            ids=[c.chunk_id for c in chunks],
            documents=[c.text for c in chunks],
            metadatas=[
                {**c.metadata(), FILE_KEY: keys[c.source]} if c.source in keys else c.metadata()
                for c in chunks
            ],
            embeddings=[_centroid(vs) for vs in passages],
        )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks, and their passages, by chunk id."""
        for start in range(0, len(ids), _PAGE):
            page = list(ids[start : start + _PAGE])
            self.passages.delete(where={"chunk_id": {"$in": page}})
            self.collection.delete(ids=page)

    @_unavailable
    def query(self, vector: Sequence[float], n: int) -> list[tuple[str, float]]:
        """The `n` chunks nearest to `vector` by their best passage: (chunk id, cosine distance).

        Nearest first. Passages are fetched in growing rounds until `n` distinct chunks are seen
        (or every passage was).
        """
        n = min(n, self.count())
        total = int(self.passages.count())
        fetch = min(total, n * _PASSAGES_PER_CHUNK)
        best: dict[str, float] = {}
        while fetch > 0:
            result = self.passages.query(
                query_embeddings=[list(vector)], n_results=fetch, include=["metadatas", "distances"]
            )
            best = {}
            for meta, distance in zip(result["metadatas"][0], result["distances"][0], strict=True):
                best.setdefault(str(meta["chunk_id"]), float(distance))
            if len(best) >= n or fetch >= total:
                break
            fetch = min(total, fetch * 2)
        return list(best.items())[:n]


def _refuse_mismatch(name: str, stored: dict[str, Any], model_id: str) -> NoReturn:
    """Raise the error that says why the index at `name` cannot be used as it is."""
    if stored.get("embedding_model") != model_id:
        raise IndexMismatchError(
            f"The index at '{name}' was built with the embedding model "
            f"'{stored.get('embedding_model')}', but '{model_id}' is configured. Rebuild it "
            "with `citebot ingest --rebuild`, or set CITEBOT_EMBEDDING_PROVIDER/"
            "CITEBOT_EMBEDDING_MODEL back."
        )
    raise IndexMismatchError(
        f"The index at '{name}' was embedded as '{stored.get('passages') or 'one vector per chunk'}'"
        f", but this citebot searches '{PASSAGE_SCHEME}' passages (an index from an older "
        "version). Rebuild it with `citebot ingest --rebuild`."
    )


def _centroid(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The normalised mean of some vectors (the zero vector stays as it is)."""
    mean = np.mean(np.asarray(vectors, dtype=np.float64), axis=0)
    norm = float(np.linalg.norm(mean))
    return [float(x) for x in (mean / norm if norm > 0 else mean)]


def new_version() -> str:
    """A fresh index version stamp, unique across processes and machines."""
    return f"{time.time_ns()}-{uuid.uuid4().hex[:12]}"


def chunking_signature(settings: RetrievalSettings) -> str:
    """How chunks were cut, recorded in the index so a change is visible."""
    return f"cl100k_base:{settings.chunk_tokens}/{settings.chunk_overlap}"
