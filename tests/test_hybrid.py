"""Reciprocal rank fusion by hand, and the hybrid searcher / LangChain retriever over a fake embedding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes import WordOverlapEmbeddings
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.documents import Chunk
from retrieval.hybrid import HybridSearcher, reciprocal_rank_fusion
from retrieval.index import CorpusIndex
from retrieval.lexical import LexicalIndex
from retrieval.loaders import load_document
from retrieval.passages import passage_texts
from retrieval.text.terms import content_terms, initialisms

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DISPLACED = "How many people did the Thai-Cambodian border dispute displace?"


def test_rrf_scores_by_hand() -> None:
    fused = reciprocal_rank_fusion({"dense": ["a", "b", "c"], "bm25": ["c", "a"]})
    assert [item for item, _, _ in fused] == ["a", "c", "b"]
    scores = {item: score for item, score, _ in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    found_by = {item: ranks for item, _, ranks in fused}
    assert found_by == {
        "a": {"dense": 1, "bm25": 2},
        "c": {"dense": 3, "bm25": 1},
        "b": {"dense": 2},
    }


def test_rrf_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion({"dense": ["x", "y"], "bm25": ["y", "x"]})
    assert [item for item, _, _ in fused] == ["x", "y"]
    assert fused[0][1] == fused[1][1] == pytest.approx(1 / 61 + 1 / 62)


def test_rrf_with_one_ranking_empty() -> None:
    fused = reciprocal_rank_fusion({"dense": [], "bm25": ["p", "q"]})
    assert fused == [
        ("p", pytest.approx(1 / 61), {"bm25": 1}),
        ("q", pytest.approx(1 / 62), {"bm25": 2}),
    ]
    assert reciprocal_rank_fusion({"dense": [], "bm25": []}) == []


def test_rrf_counts_a_repeated_id_once_at_its_best_rank() -> None:
    fused = reciprocal_rank_fusion({"dense": ["a", "a", "b"]})
    assert fused == [
        ("a", pytest.approx(1 / 61), {"dense": 1}),
        ("b", pytest.approx(1 / 63), {"dense": 3}),
    ]


def test_rrf_k_sets_how_fast_ranks_fade() -> None:
    fused = reciprocal_rank_fusion({"dense": ["a", "b"], "bm25": ["b"]}, k=1)
    assert fused[0] == ("b", pytest.approx(1 / 3 + 1 / 2), {"dense": 2, "bm25": 1})
    assert fused[1] == ("a", pytest.approx(1 / 2), {"dense": 1})


@pytest.fixture
def index(tmp_path: Path) -> CorpusIndex:
    """The seed corpus ingested with the word-overlap fake embedding."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    built = CorpusIndex.open(PathSettings(), RetrievalSettings(), WordOverlapEmbeddings())
    built.ingest(corpus)
    return built


def test_hybrid_search_fuses_both_retrievers(index: CorpusIndex) -> None:
    hits = index.searcher().search(DISPLACED)
    assert len(hits) == 4, "the default top_k"
    assert "displaced an estimated 300,000 people" in hits[0].chunk.text
    assert hits[0].found_by == {"dense": 1, "bm25": 1}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == pytest.approx(2 / 61)
    assert len({h.chunk.chunk_id for h in hits}) == 4


def test_more_results_than_chunks_returns_every_chunk_once(index: CorpusIndex) -> None:
    total = index.store.count()
    hits = index.searcher().search(DISPLACED, total + 10)
    assert len(hits) == total
    assert len({h.chunk.chunk_id for h in hits}) == total


def test_a_query_of_stopwords_is_answered_by_the_dense_side_alone(index: CorpusIndex) -> None:
    hits = index.searcher().search("what is it that they did?", 3)
    assert len(hits) == 3
    assert all(set(h.found_by) == {"dense"} for h in hits)


def test_chunks_missing_from_the_lexical_table_are_not_returned(index: CorpusIndex) -> None:
    kept = [c for c in index.store.all_chunks() if "300,000" not in c.text]
    searcher = HybridSearcher(
        store=index.store,
        lexical=LexicalIndex.build(kept),
        embeddings=index.embeddings,
        candidates=30,
        top_k=4,
    )
    hits = searcher.search(DISPLACED, 50)
    assert len(hits) == len(kept)
    assert all("300,000" not in h.chunk.text for h in hits)


def test_candidates_bound_what_each_retriever_contributes(index: CorpusIndex) -> None:
    searcher = index.searcher()
    searcher.candidates = 2
    hits = searcher.search(DISPLACED, 1)
    assert len(hits) == 1
    hits = searcher.search(DISPLACED, 3)
    assert all(rank <= 3 for h in hits for rank in h.found_by.values())


def test_langchain_retriever_returns_documents_with_provenance(index: CorpusIndex) -> None:
    retriever = index.retriever(k=2)
    assert isinstance(retriever, BaseRetriever)

    documents = retriever.invoke(DISPLACED)

    assert len(documents) == 2 and all(isinstance(d, LCDocument) for d in documents)
    top = documents[0]
    assert "300,000" in top.page_content
    meta = top.metadata
    assert meta["source"] == "000_a03238ee93841bab.txt"
    assert meta["title"].startswith("US leaders tout military")
    assert top.id == meta["chunk_id"]
    assert meta["found_by"] == {"dense": 1, "bm25": 1}
    assert meta["score"] == pytest.approx(2 / 61)
    text = load_document(SEED_CORPUS / meta["source"], meta["source"]).text
    assert text[meta["start"] : meta["end"]] == top.page_content, "a citation can quote it"


# Ten sentences about other things around the one that answers: as one vector, the chunk is mostly
# about the other things; its passage holding the answer is not.
BURIED = " ".join(
    [
        "The museum opened a new wing for medieval tapestries last spring.",
        "Its cafe serves soup, bread and apple cake to visitors.",
        "Volunteers restore old clocks in the basement workshop on weekdays.",
        "The library next door lends telescopes to families with children.",
        "A choir rehearses in the chapel every Thursday evening.",
        "The Gull Island ferry leaves every 40 minutes from the harbour.",
        "Local farmers sell cheese and honey at the Saturday market.",
        "The town council repaired the bridge over the river in June.",
        "Cyclists follow the coastal path north towards the lighthouse.",
        "The school orchestra gave a concert for the retired miners.",
        "Painters rent studios in the converted textile mill.",
    ]
)
DECOY = "Island harbour tours with a guide are popular in summer."
FERRY = "How often does the Gull Island ferry leave the harbour?"


def test_the_dense_side_ranks_a_chunk_by_its_best_passage(tmp_path: Path) -> None:
    corpus = tmp_path / "towns"
    corpus.mkdir()
    (corpus / "town.txt").write_text(BURIED + "\n", encoding="utf-8")
    (corpus / "tours.txt").write_text(DECOY + "\n", encoding="utf-8")
    embeddings = WordOverlapEmbeddings()
    index = CorpusIndex.open(PathSettings(), RetrievalSettings(), embeddings)
    index.ingest(corpus)
    assert index.store.count() == 2, "the town text is one chunk"
    query = embeddings.embed_query(FERRY)

    def cosine(text: str) -> float:
        return sum(a * b for a, b in zip(query, embeddings.embed_query(text), strict=True))

    # One vector for the whole chunk would put the decoy first.
    assert cosine(DECOY) > cosine(BURIED)
    sources = {chunk.chunk_id: chunk.source for chunk in index.store.all_chunks()}
    town = next(chunk for chunk in index.store.all_chunks() if chunk.source == "town.txt")

    ranked = index.store.query(query, 2)

    assert [sources[chunk_id] for chunk_id, _ in ranked] == ["town.txt", "tours.txt"]
    best_passage = max(cosine(text) for text in passage_texts(town))
    assert ranked[0][1] == pytest.approx(1 - best_passage, abs=1e-6), "distance of the best passage"
    hits = index.searcher().search(FERRY, 2)
    assert hits[0].chunk.source == "town.txt" and hits[0].found_by["dense"] == 1


def test_a_dense_query_returns_distinct_chunks_however_many_passages_match(
    index: CorpusIndex,
) -> None:
    query = index.embeddings.embed_query(DISPLACED)
    total = index.store.count()
    assert index.store.passages.count() > 4 * total, "more passages than the first fetch covers"

    ranked = index.store.query(query, total)

    assert len(ranked) == total and len({chunk_id for chunk_id, _ in ranked}) == total
    distances = [distance for _, distance in ranked]
    assert distances == sorted(distances)


@pytest.mark.parametrize(
    ("written", "terms"),
    [
        ("maxAge", ["max", "age"]),
        ("max-age max_age", ["max", "age", "max", "age"]),
        ("parameterLimit", ["paramet", "limit"]),
        ("HTTPServer's", ["http", "server"]),
        ("XMLHttpRequest", ["xml", "http", "request"]),
        ("APIs getURLs", ["api", "get", "url"]),  # an acronym's plural is one word
        ("iOS eBay McDonald", ["io", "ebay", "mcdonald"]),  # no word in a one-letter prefix
    ],
)
def test_a_camel_case_identifier_is_the_words_it_joins(written: str, terms: list[str]) -> None:
    assert content_terms(written) == terms


def test_bm25_finds_a_camel_case_name_written_with_a_hyphen() -> None:
    texts = ["Provide a max-age for caching.", "Provide a timeout for caching.", "Ports."]
    chunks = [Chunk(f"c{i}", "doc.md", "Doc", i, 0, len(t), t) for i, t in enumerate(texts)]
    found = LexicalIndex.build(chunks).search("Which option sets maxAge?", 3)
    assert [chunk.chunk_id for chunk, _ in found] == ["c0"]


@pytest.mark.parametrize(
    ("title", "named_by"),
    [
        ("Mozilla Public License Version 2.0", {"mpl", "mplv", "plv"}),
        ("GNU GENERAL PUBLIC LICENSE", {"gpl", "ggp", "ggpl"}),
        ("Department of Defense", {"dod"}),  # a stopword inside may give its initial
        ("The Open Group", set()),  # two letters are too few to tell
        ("release notes for spring", set()),  # only capitalised words
    ],
)
def test_a_title_is_named_by_the_initials_of_its_capitalised_words(
    title: str, named_by: set[str]
) -> None:
    assert initialisms(title) == named_by


def test_bm25_finds_a_document_named_by_its_initials() -> None:
    texts = ["Vessels keep below 6 knots.", "Vessels keep below 10 knots.", "Ports."]
    titles = ["Harbour Speed Rules", "Fishing Quota Notice", "Ports"]
    chunks = [
        Chunk(f"c{i}", f"{i}.txt", title, i, 0, len(t), t)
        for i, (t, title) in enumerate(zip(texts, titles, strict=True))
    ]
    found = LexicalIndex.build(chunks).search("How fast may vessels go under the HSR?", 1)
    assert [chunk.chunk_id for chunk, _ in found] == ["c0"]


def test_each_sides_best_chunk_is_kept_though_both_sides_found_others(tmp_path: Path) -> None:
    """BM25's first chunk may be the only one holding the question's rare word; chunks that
    both sides found further down outrank it in the fusion, but it is kept."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a", "b", "c"):
        (corpus / f"{name}.txt").write_text(f"Harbour harbour harbour news {name}.\n")
    (corpus / "x.txt").write_text("Quillwort grows by the pond. Quillwort is green.\n")
    (corpus / "y.txt").write_text("The bakery opens at nine.\n")
    index = CorpusIndex.open(PathSettings(), RetrievalSettings(), WordOverlapEmbeddings())
    index.ingest(corpus)
    searcher = index.searcher()
    searcher.candidates = 3
    query = "Where is the quillwort harbour?"
    vector = searcher.embeddings.embed_query(query)
    dense = [chunk_id for chunk_id, _ in searcher.store.query(vector, 3)]
    bm25 = [chunk.chunk_id for chunk, _ in searcher.lexical.search(query, 3)]
    fused = reciprocal_rank_fusion({"dense": dense, "bm25": bm25})
    quillwort = next(i for i, (_, _, found) in enumerate(fused) if found.get("bm25") == 1)
    assert quillwort == 2, "fused, BM25's first comes third: behind two that both sides found"

    hits = searcher.search(query, 2)
    assert [h.chunk.source for h in hits].count("x.txt") == 1
    assert len(hits) == 2
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
