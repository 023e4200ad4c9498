"""The ONNX runtime (the default) against torch on the seed corpus: same vectors, same rankings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes import shared_minilm

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.embeddings import (
    MiniLMEmbeddings,
    NamedEmbeddings,
    OnnxMiniLMEmbeddings,
    make_embeddings,
)
from retrieval.errors import EmbeddingModelError
from retrieval.index import CorpusIndex
from retrieval.ingest import chunk_corpus
from retrieval.passages import passage_texts

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"
SEED_QUESTIONS = REPO / "tests" / "data" / "seed_questions.jsonl"

# Stated tolerances. float32 ONNX is torch up to float rounding. The int8 copy that embeds the
# stored passages moves each vector a little (per-channel int8 weights): cosine to torch >= 0.98.
# Rankings: the top hit of every seed question is the same chunk in at least 95% of questions,
# and the top-4 sets share at least 3.5 chunks on average.
FP32_MIN_COSINE = 0.9999
INT8_MIN_COSINE = 0.98
TOP1_AGREEMENT = 0.95
TOP4_MEAN_OVERLAP = 3.5


@pytest.fixture(scope="module")
def torch_minilm() -> MiniLMEmbeddings:
    model = MiniLMEmbeddings()
    model.embed_query("load")
    return model


def seed_passages() -> list[str]:
    chunks, _, _ = chunk_corpus(SEED_CORPUS, RetrievalSettings())
    return [text for chunk in chunks for text in passage_texts(chunk)]


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    left, right = np.asarray(a), np.asarray(b)
    return np.sum(left * right, axis=1) / (
        np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    )


def test_onnx_int8_is_the_default_runtime() -> None:
    embeddings = make_embeddings(RetrievalSettings(), model_cache_dir=PathSettings().models_dir)
    assert isinstance(embeddings, OnnxMiniLMEmbeddings) and embeddings.quantized_index
    torch_path = make_embeddings(RetrievalSettings(embedding_runtime="torch"))
    assert isinstance(torch_path, MiniLMEmbeddings)
    assert embeddings.model_id == torch_path.model_id  # one index serves both runtimes
    with pytest.raises(EmbeddingModelError, match="CITEBOT_EMBEDDING_RUNTIME"):
        make_embeddings(RetrievalSettings(embedding_runtime="tensorflow"))


@pytest.mark.slow
def test_onnx_vectors_match_torch_within_the_stated_tolerance(
    torch_minilm: MiniLMEmbeddings,
) -> None:
    onnx = shared_minilm()
    assert isinstance(onnx, OnnxMiniLMEmbeddings)
    texts = seed_passages()
    reference = torch_minilm.embed_documents(texts)

    assert cosines(onnx.embed_documents(texts), reference).min() >= FP32_MIN_COSINE
    int8 = cosines(onnx.embed_for_index(texts), reference)
    assert int8.min() >= INT8_MIN_COSINE
    assert int8.mean() < FP32_MIN_COSINE, "the stored passages do go through the int8 model"
    # Each model caches its export under the model folder, named by the weights' hash.
    assert sorted(p.name.rsplit("-", 1)[1] for p in onnx.cache_dir.glob("*.onnx")) == [
        "fp32.onnx",
        "int8.onnx",
    ]


def build(embeddings: NamedEmbeddings, data_dir: Path) -> CorpusIndex:
    index = CorpusIndex.open(PathSettings(data_dir=data_dir), RetrievalSettings(), embeddings)
    index.ingest(SEED_CORPUS)
    return index


@pytest.mark.slow
def test_onnx_rankings_equal_torch_on_the_seed_corpus(
    torch_minilm: MiniLMEmbeddings, tmp_path: Path
) -> None:
    torch_search = build(torch_minilm, tmp_path / "torch").searcher()
    onnx_search = build(shared_minilm(), tmp_path / "onnx").searcher()
    questions = [
        json.loads(line)["question"]
        for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    same_top1, overlaps = 0, []
    for question in questions:
        expected = [hit.chunk.chunk_id for hit in torch_search.search(question, 4)]
        got = [hit.chunk.chunk_id for hit in onnx_search.search(question, 4)]
        same_top1 += expected[0] == got[0]
        overlaps.append(len(set(expected) & set(got)))

    assert same_top1 / len(questions) >= TOP1_AGREEMENT, (same_top1, len(questions))
    assert sum(overlaps) / len(overlaps) >= TOP4_MEAN_OVERLAP, overlaps
