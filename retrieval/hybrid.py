"""Hybrid search: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.documents import Chunk, ScoredChunk
from retrieval.lexical import LexicalIndex
from retrieval.store import ChunkStore

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[str]], k: int = RRF_K
) -> list[tuple[str, float, dict[str, int]]]:
    """Fuse ranked id lists: score(id) = sum over rankings of 1 / (k + rank), rank from 1.

    Returns (id, fused score, {ranking name: rank}) best first; ties keep first-seen order.
    """
    scores: dict[str, float] = {}
    found_by: dict[str, dict[str, int]] = {}
    for name, ids in rankings.items():
        for rank, item in enumerate(ids, start=1):
            if name in found_by.get(item, {}):
                continue  # a ranking lists each id once
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            found_by.setdefault(item, {})[name] = rank
    order = sorted(scores, key=lambda item: -scores[item])
    return [(item, scores[item], found_by[item]) for item in order]


class HybridSearcher:
    """Dense top-N and BM25 top-N, fused; the object every caller searches through."""

    def __init__(
        self,
        *,
        store: ChunkStore,
        lexical: LexicalIndex,
        embeddings: Embeddings,
        candidates: int,
        top_k: int,
        refresh: Callable[[], LexicalIndex | None] | None = None,
    ) -> None:
        self.store = store
        self.lexical = lexical
        # Asked before each search: the BM25 side as it is now, if another process re-ingested.
        self.refresh = refresh
        self.embeddings = embeddings
        self.candidates = candidates
        self.top_k = top_k

    def search(self, query: str, k: int | None = None) -> list[ScoredChunk]:
        """The `k` best chunks for `query` (fewer when the index holds fewer), by fused rank,
        with each side's own best among them."""
        k = k or self.top_k
        n = max(self.candidates, k)
        if self.refresh is not None:
            self.lexical = self.refresh() or self.lexical
        dense_ids = [
            chunk_id for chunk_id, _ in self.store.query(self.embeddings.embed_query(query), n)
        ]
        lexical_ids = [chunk.chunk_id for chunk, _ in self.lexical.search(query, n)]
        fused = reciprocal_rank_fusion({"dense": dense_ids, "bm25": lexical_ids})
        hits: list[ScoredChunk] = []
        for chunk_id, score, found_by in fused:
            chunk = self.lexical.chunk(chunk_id)
            if chunk is None:
                continue  # stored densely but not in the lexical table: stale, skip
            hits.append(ScoredChunk(chunk, score, found_by))
        # Each side's best is kept: one side's first can be the only chunk holding a rare word
        # of the question ("GIL"), outranked by chunks both sides found further down.
        leaders = {ids[0] for ids in (dense_ids, lexical_ids) if ids}
        leading = [h.chunk.chunk_id for h in hits if h.chunk.chunk_id in leaders][:k]
        others = [h.chunk.chunk_id for h in hits if h.chunk.chunk_id not in leaders]
        kept = {*leading, *others[: k - len(leading)]}
        return [h for h in hits if h.chunk.chunk_id in kept]


class HybridRetriever(BaseRetriever):
    """The hybrid searcher as a LangChain retriever, for chains that expect one."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Any
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return [to_langchain_document(hit) for hit in self.searcher.search(query, self.k)]


def to_langchain_document(hit: ScoredChunk) -> LCDocument:
    """A search hit as a LangChain Document, its provenance in the metadata."""
    chunk: Chunk = hit.chunk
    return LCDocument(
        id=chunk.chunk_id,
        page_content=chunk.text,
        metadata={
            **chunk.metadata(),
            "chunk_id": chunk.chunk_id,
            "score": hit.score,
            "found_by": dict(hit.found_by),
        },
    )
