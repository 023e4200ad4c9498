"""The corpus index: a Chroma store and a BM25 index kept in step, searched as one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.embeddings import NamedEmbeddings
from retrieval.errors import CitebotError, EmptyIndexError
from retrieval.hybrid import HybridRetriever, HybridSearcher
from retrieval.ingest import IngestReport, ProgressFactory, ingest_corpus
from retrieval.lexical import LexicalIndex
from retrieval.store import INGEST_STARTED, ChunkStore, chunking_signature, make_chroma_client


@dataclass(frozen=True)
class IndexStats:
    """What `citebot stats` shows."""

    documents: int
    chunks: int
    embedding_model: str
    dimension: int | None
    chunking: str
    location: str
    # When the last ingest started, if it never finished (killed, crashed): the index may be partial.
    unfinished_ingest: str | None = None


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
        self._lexical_lock = threading.Lock()

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
        return cls(
            store=store,
            embeddings=embeddings,
            settings=settings,
            lexical_dir=lexical_dir,
            location=location,
        )

    def ingest(self, root: Path, *, progress: ProgressFactory | None = None) -> IngestReport:
        """Bring the index in line with the files under `root`, embedding only what changed."""
        if not root.is_dir():
            raise CitebotError(
                f"Corpus folder '{root}' does not exist: pass a folder to `citebot ingest PATH` "
                "or set CITEBOT_CORPUS_DIR."
            )
        self._check_corpus_root(root)
        began = time.perf_counter()
        # Marked before anything is written, cleared only at the end: a killed ingest stays visible.
        unfinished = self.store.begin_ingest()
        stamp, _ = self.store.version()
        stages: dict[str, float] = {}
        report = ingest_corpus(
            root,
            self.settings,
            store=self.store,
            embeddings=self.embeddings,
            progress=progress,
            stages=stages,
        )
        self.store.record(
            chunking=chunking_signature(self.settings), corpus_root=str(root.resolve())
        )
        changed = bool(report.changed or report.chunks_embedded or report.chunks_removed)
        # A new stamp tells every reader (this process or another machine) to rebuild its BM25.
        self.store.finish_ingest(changed=changed or unfinished is not None or stamp is None)
        started = time.perf_counter()
        self.lexical()
        report.stages = {**report.stages, "bm25": time.perf_counter() - started}
        report.seconds = time.perf_counter() - began
        return report

    def unfinished_ingest(self) -> str | None:
        """When the last ingest started, if it did not finish; None when the index is whole."""
        return self.store.version()[1]

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

    def _cached_lexical(self) -> LexicalIndex | None:
        """The BM25 index saved on disk, if it is not the one already in memory."""
        version = LexicalIndex.current_version(self.lexical_dir)
        if version is None or version == self._lexical_version:
            return None
        loaded = LexicalIndex.load(self.lexical_dir)
        if loaded is not None:
            self._lexical_version = version
        return loaded

    def _fits(self, lexical: LexicalIndex, stamp: str | None) -> bool:
        """Whether `lexical` was built from the index as it is at version `stamp`.

        An index from before version stamps has none: there the chunk count decides. While an
        ingest runs the stamp does not move, so readers keep the last finished version.
        """
        if lexical.stamp != stamp:
            return False
        return stamp is not None or len(lexical.chunks) == self.store.count()

    def lexical(self) -> LexicalIndex:
        """The BM25 side for the index as it is now.

        One metadata read per call: the version stamp. The index kept in memory is used while it
        matches; else the one cached under the data dir; else it is built from the chunk texts
        the store holds (which is all a reader on another machine has) and cached for next time.
        """
        stamp, _ = self.store.version()
        with self._lexical_lock:
            for candidate in (self._lexical, self._cached_lexical()):
                if candidate is not None and self._fits(candidate, stamp):
                    self._lexical = candidate
                    return candidate
            built = LexicalIndex.build(self.store.all_chunks(), stamp)
            self._save_lexical(built)
            return built

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
            refresh=self.lexical,
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
            unfinished_ingest=str(meta.get(INGEST_STARTED) or "") or None,
        )
