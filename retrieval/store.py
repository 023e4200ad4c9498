"""The dense side: chunks and their vectors in a Chroma collection, embedded or on a server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from retrieval.config import RetrievalSettings
from retrieval.documents import Chunk
from retrieval.errors import IndexMismatchError, IndexUnavailableError

_PAGE = 1000


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
            f"Cannot open {where}: {error}. Start it with `chroma run --port "
            f"{settings.chroma_port}` or unset CHROMA_HOST for the embedded store."
        ) from error


class ChunkStore:
    """A Chroma collection of chunks that remembers which embedding model filled it."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

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
        """Open (or create) the collection; refuse one built with another embedding model."""
        if rebuild:
            try:
                client.delete_collection(name)
            except Exception:  # absent already: nothing to delete
                pass
        metadata = {"embedding_model": model_id, "chunking": chunking}
        collection = client.get_or_create_collection(
            name,
            metadata=metadata,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        stored = dict(collection.metadata or {})
        if stored.get("embedding_model") != model_id:
            if collection.count() == 0:
                collection.modify(metadata={**stored, **metadata})
            else:
                raise IndexMismatchError(
                    f"The index at '{name}' was built with the embedding model "
                    f"'{stored.get('embedding_model')}', but '{model_id}' is configured. Rebuild it "
                    "with `citebot ingest --rebuild`, or set CITEBOT_EMBEDDING_PROVIDER/"
                    "CITEBOT_EMBEDDING_MODEL back."
                )
        return cls(collection)

    @property
    def metadata(self) -> dict[str, Any]:
        """What the collection records about itself (model, dimension, chunking)."""
        return dict(self.collection.metadata or {})

    def record(self, **values: str | int) -> None:
        """Store facts about the index (dimension, chunking) in the collection metadata."""
        current = self.metadata
        if any(current.get(key) != value for key, value in values.items()):
            current.pop("hnsw:space", None)
            self.collection.modify(metadata={**current, **values})

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.collection.count())

    def sources_by_id(self) -> dict[str, str]:
        """Every stored chunk id with its source path."""
        out: dict[str, str] = {}
        for ids, metadatas, _ in self._pages(include=["metadatas"]):
            for chunk_id, meta in zip(ids, metadatas, strict=True):
                out[chunk_id] = str((meta or {}).get("source", ""))
        return out

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

    def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks with their vectors (upsert, so a repeated id never fails a batch)."""
        if chunks:
            self.collection.upsert(
                ids=[c.chunk_id for c in chunks],
                documents=[c.text for c in chunks],
                metadatas=[c.metadata() for c in chunks],
                embeddings=[list(v) for v in vectors],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        for start in range(0, len(ids), _PAGE):
            self.collection.delete(ids=list(ids[start : start + _PAGE]))

    def query(self, vector: Sequence[float], n: int) -> list[tuple[str, float]]:
        """The `n` nearest chunk ids with their cosine distance, nearest first."""
        n = min(n, self.count())
        if n <= 0:
            return []
        result = self.collection.query(
            query_embeddings=[list(vector)], n_results=n, include=["distances"]
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[0.0] * len(ids)])[0]
        return [(chunk_id, float(d)) for chunk_id, d in zip(ids, distances, strict=True)]


def chunking_signature(settings: RetrievalSettings) -> str:
    """How chunks were cut, recorded in the index so a change is visible."""
    return f"cl100k_base:{settings.chunk_tokens}/{settings.chunk_overlap}"
