"""The corpus index: a Chroma store and a BM25 index kept in step, searched as one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.embeddings import NamedEmbeddings
from retrieval.errors import CitebotError, EmptyIndexError
from retrieval.hybrid import HybridRetriever, HybridSearcher
from retrieval.ingest import IngestReport, ProgressFactory, chunk_corpus, ingest_chunks
from retrieval.lexical import LexicalIndex
from retrieval.store import ChunkStore, chunking_signature, make_chroma_client


@dataclass(frozen=True)
class IndexStats:
    """What `citebot stats` shows."""

    documents: int
    chunks: int
    embedding_model: str
    dimension: int | None
    chunking: str
    location: str


class CorpusIndex:
    """Ingest a corpus folder and search it; the retrieval layer's one entry point."""

    def __init__(
        self,
        *,
        store: ChunkStore,
        embeddings: NamedEmbeddings,
        settings: RetrievalSettings,
        lexical_dir: Path,
        location: str,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self.lexical_dir = lexical_dir
        self.location = location
        self._lexical: LexicalIndex | None = None
        self._lexical_version: str | None = None

    @classmethod
    def open(
        cls,
        paths: PathSettings,
        settings: RetrievalSettings,
        embeddings: NamedEmbeddings,
        *,
        rebuild: bool = False,
    ) -> CorpusIndex:
        """Open the index the settings describe (creating it empty if needed)."""
        client = make_chroma_client(settings, paths.data_dir)
        store = ChunkStore.open(
            client,
            settings.collection,
            model_id=embeddings.model_id,
            chunking=chunking_signature(settings),
            rebuild=rebuild,
        )
        if settings.chroma_host:
            location = (
                f"chroma://{settings.chroma_host}:{settings.chroma_port}/{settings.collection}"
            )
            lexical_dir = (
                paths.data_dir
                / "lexical"
                / f"{settings.chroma_host}-{settings.chroma_port}-{settings.collection}"
            )
        else:
            location = str(paths.data_dir.resolve())
            lexical_dir = paths.data_dir / "lexical" / settings.collection
        index = cls(
            store=store,
            embeddings=embeddings,
            settings=settings,
            lexical_dir=lexical_dir,
            location=location,
        )
        if rebuild:
            index._save_lexical(LexicalIndex.build([]))
        return index

    def ingest(self, root: Path, *, progress: ProgressFactory | None = None) -> IngestReport:
        """Bring the index in line with the files under `root`, embedding only what changed."""
        if not root.is_dir():
            raise CitebotError(
                f"Corpus folder '{root}' does not exist: pass a folder to `citebot ingest PATH` "
                "or set CITEBOT_CORPUS_DIR."
            )
        self._check_corpus_root(root)
        chunks, sources, skipped = chunk_corpus(root, self.settings)
        report = ingest_chunks(
            chunks,
            sources,
            skipped,
            store=self.store,
            embeddings=self.embeddings,
            batch_size=self.settings.embedding_batch_size,
            progress=progress,
        )
        self.store.record(
            chunking=chunking_signature(self.settings), corpus_root=str(root.resolve())
        )
        if report.changed or report.chunks_embedded or self._load_lexical() is None:
            self._save_lexical(LexicalIndex.build(self.store.all_chunks()))
        return report

    def _check_corpus_root(self, root: Path) -> None:
        """Refuse to turn an index of one folder into an index of another by accident.

        Ingest mirrors a folder: what is not in it is removed. So `citebot ingest other/` and
        then `citebot chat` (which ingests `corpus/`) would silently swap the documents. A
        recorded folder that no longer exists (the project moved) is simply replaced.
        """
        recorded = self.store.metadata.get("corpus_root")
        current = str(root.resolve())
        if (
            recorded
            and recorded != current
            and Path(str(recorded)).is_dir()
            and self.store.count() > 0
        ):
            raise CitebotError(
                f"The index holds the documents of '{recorded}', not '{current}'. Set "
                f"CITEBOT_CORPUS_DIR={recorded} to keep using it, use another CITEBOT_DATA_DIR "
                "for the new folder, or replace the index with `citebot ingest PATH --rebuild`."
            )

    def _save_lexical(self, lexical: LexicalIndex) -> None:
        self._lexical_version = lexical.save(self.lexical_dir)
        self._lexical = lexical

    def _load_lexical(self) -> LexicalIndex | None:
        """The BM25 side as last saved, re-read when another process (an ingest) replaced it."""
        version = LexicalIndex.current_version(self.lexical_dir)
        if self._lexical is None or version != self._lexical_version:
            loaded = LexicalIndex.load(self.lexical_dir)
            if loaded is not None or self._lexical is None:
                self._lexical, self._lexical_version = loaded, version
        return self._lexical

    def lexical(self) -> LexicalIndex:
        """The BM25 side, rebuilt from the store if its files are missing."""
        lexical = self._load_lexical()
        if lexical is None or len(lexical.chunks) != self.store.count():
            lexical = LexicalIndex.build(self.store.all_chunks())
            self._save_lexical(lexical)
        return lexical

    def searcher(self) -> HybridSearcher:
        """A hybrid searcher over this index; raises EmptyIndexError when nothing is ingested."""
        if self.store.count() == 0:
            raise EmptyIndexError(
                "The index is empty: run `citebot ingest` (or `make chat`) to add the corpus first."
            )
        return HybridSearcher(
            store=self.store,
            lexical=self.lexical(),
            embeddings=self.embeddings,
            candidates=self.settings.candidates,
            top_k=self.settings.top_k,
            refresh=self._load_lexical,
        )

    def retriever(self, k: int | None = None) -> HybridRetriever:
        """The hybrid searcher as a LangChain `BaseRetriever`."""
        return HybridRetriever(searcher=self.searcher(), k=k or self.settings.top_k)

    def stats(self) -> IndexStats:
        """Counts and facts about the index."""
        meta = self.store.metadata
        sources = set(self.store.sources_by_id().values())
        dimension = meta.get("dimension")
        return IndexStats(
            documents=len(sources),
            chunks=self.store.count(),
            embedding_model=str(meta.get("embedding_model", self.embeddings.model_id)),
            dimension=int(dimension) if dimension is not None else None,
            chunking=str(meta.get("chunking", chunking_signature(self.settings))),
            location=self.location,
        )
