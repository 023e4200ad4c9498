"""The seed corpus with the real offline MiniLM: the questions a user would ask find the right text."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from fakes import shared_minilm
from langchain_core.documents import Document as LCDocument

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.embeddings import (
    MINILM_ID,
    MINILM_SHA256,
    EmbeddingModelError,
    make_embeddings,
    verify_weights,
)
from retrieval.index import CorpusIndex
from retrieval.loaders import load_document

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> CorpusIndex:
    """The seed corpus ingested once for this module with the real MiniLM and default settings."""
    folder = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED_CORPUS, folder / "corpus")
    paths = PathSettings(data_dir=folder / "data", corpus_dir=folder / "corpus")
    index = CorpusIndex.open(paths, RetrievalSettings(), shared_minilm())
    index.ingest(folder / "corpus")
    return index


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("How many people did the Thai-Cambodian border dispute displace?", "300,000"),
        (
            "Which countries did Trump secure trade deals with?",
            "trade deals with Malaysia, Cambodia",
        ),
        ("Who is the Chinese counterpart Hegseth met?", "Adm. Dong Jun"),
        (
            "How many Malaysian officials train in the United States each year?",
            "300 Malaysian officials",
        ),
        ("What did the US deliver to the Vietnamese coast guard?", "three cutters"),
        (
            "Where was the Thailand-Cambodia ceasefire signed?",
            "ceasefire agreement between Cambodia",
        ),
    ],
)
def test_seed_questions_find_the_chunk_that_answers(
    seed_index: CorpusIndex, question: str, needle: str
) -> None:
    hits = seed_index.searcher().search(question, 4)
    texts = [hit.chunk.text for hit in hits]
    assert any(needle in text for text in texts[:3]), (needle, [t[:80] for t in texts])


@pytest.mark.slow
def test_the_dense_side_finds_a_paraphrase_without_shared_words(seed_index: CorpusIndex) -> None:
    # No content word of this question occurs in the answer's sentence: only meaning links them.
    question = "Which neighbours signed a truce in Malaysia's capital?"
    hits = seed_index.searcher().search(question, 4)
    dense_found = [h for h in hits if "dense" in h.found_by]
    assert any("ceasefire" in h.chunk.text for h in dense_found)


@pytest.mark.slow
def test_the_index_records_the_real_model(seed_index: CorpusIndex) -> None:
    stats = seed_index.stats()
    assert stats.embedding_model == MINILM_ID
    assert stats.dimension == 384
    assert stats.documents == 2 and stats.chunks >= 10


@pytest.mark.slow
def test_minilm_vectors_are_normalised_and_meaningful() -> None:
    embeddings = shared_minilm()
    truce, ceasefire, banana = (
        embeddings.embed_query(text) for text in ("truce", "ceasefire", "banana bread")
    )
    assert len(truce) == embeddings.dimension() == 384
    assert sum(v * v for v in truce) == pytest.approx(1.0, abs=1e-4)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(truce, ceasefire) > cosine(truce, banana) + 0.2


@pytest.mark.slow
def test_langchain_retriever_invoke_returns_documents(seed_index: CorpusIndex) -> None:
    documents = seed_index.retriever(k=3).invoke(
        "How many people did the Thai-Cambodian border dispute displace?"
    )
    assert len(documents) == 3 and all(isinstance(d, LCDocument) for d in documents)
    top = next(d for d in documents if "300,000" in d.page_content)
    assert top.metadata["source"] == "000_a03238ee93841bab.txt"
    assert {"title", "chunk_id", "score", "found_by", "start", "end", "index"} <= set(top.metadata)
    source = top.metadata["source"]
    text = load_document(SEED_CORPUS / source, source).text
    assert text[top.metadata["start"] : top.metadata["end"]] == top.page_content


def test_weights_with_another_hash_are_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the published weights")
    with pytest.raises(EmbeddingModelError) as raised:
        verify_weights(weights)
    message = str(raised.value)
    assert MINILM_SHA256 in message
    assert hashlib.sha256(b"not the published weights").hexdigest() in message, "and the one found"
    assert "--force-reinstall" in message


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="missing"):
        verify_weights(tmp_path / "absent.safetensors")


def test_matching_weights_pass(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"tiny")
    digest = hashlib.sha256(b"tiny").hexdigest()
    assert verify_weights(weights, expected_sha256=digest) == digest


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"embedding_provider": "word2vec"}, "Unknown embedding provider 'word2vec'"),
        ({"embedding_model": "bge-large"}, "Only all-MiniLM-L6-v2 is bundled"),
    ],
)
def test_make_embeddings_refuses_what_it_cannot_load(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(EmbeddingModelError, match=message):
        make_embeddings(RetrievalSettings(**settings))  # type: ignore[arg-type]
