"""The extractive answerer's fitted sentence scorer: its weights file, and its use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bot.answering.extractive.answerer import ExtractiveAnswerer
from bot.answering.extractive.scorer import FEATURES, SentenceScorer, load_sentence_scorer
from bot.answering.question import parse_question
from retrieval.documents import Chunk, ScoredChunk
from retrieval.text.terms import content_terms

MILL = "The Wend river flows past the old mill town of Brackley before it meets the sea."
CLOSED = "The old mill in the town closed in 1920 after a long strike."
FAIR = "A horse fair is held on the green every spring."


def chunk(text: str, n: int, start: int = 0) -> Chunk:
    return Chunk(f"c{n}", f"doc{n}.txt", f"Document {n}", n, start, start + len(text), text)


def answerer(texts: list[str], scorer: SentenceScorer | None = None) -> ExtractiveAnswerer:
    frequency: dict[str, int] = {}
    for text in texts:
        for term in set(content_terms(text)):
            frequency[term] = frequency.get(term, 0) + 1
    return ExtractiveAnswerer(
        embed=None,
        document_frequency=lambda t: frequency.get(t, 0),
        documents=len(texts),
        scorer=scorer,
    )


def test_the_packaged_weights_load_and_name_this_codes_features() -> None:
    scorer = load_sentence_scorer()
    data = json.loads(
        (Path(__file__).parents[1] / "bot/answering/extractive/sentence_scorer.json").read_text()
    )
    assert scorer == SentenceScorer.from_json(data)
    assert 0.0 < scorer.coverage_weight < 1.0
    assert 0.0 < scorer.min_coverage <= 1.0 and 0.0 < scorer.min_similarity <= 1.0
    assert scorer.best_of >= 1


def test_weights_fitted_on_other_features_are_refused(tmp_path: Path) -> None:
    data = load_sentence_scorer().to_json()
    data["features"] = list(reversed(FEATURES))
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="refit"):
        load_sentence_scorer(path)


def test_scores_are_deterministic_and_follow_coverage_and_similarity() -> None:
    scorer = load_sentence_scorer()
    rng = np.random.default_rng(0)
    features = rng.random((5, len(FEATURES)))
    first, second = scorer.scores(features), scorer.scores(features.copy())
    assert np.array_equal(first, second)
    better = features.copy()
    better[:, FEATURES.index("coverage")] += 0.2
    better[:, FEATURES.index("similarity")] += 0.2
    assert (scorer.scores(better) > first).all()


def test_the_sentence_holding_the_answer_ranks_first() -> None:
    bot = answerer([MILL, CLOSED, FAIR])
    question = "Which river flows past the old mill town?"
    found = bot.candidates(question, content_terms(question), [chunk(CLOSED, 0), chunk(MILL, 1)])
    assert [c.text for c in found] == [MILL, CLOSED]
    assert found[0].score > found[1].score
    assert len(found[0].features) == len(FEATURES)


def test_the_answerer_uses_the_scorers_thresholds() -> None:
    texts = [MILL, CLOSED, FAIR]
    question = parse_question("Which river flows past the old mill town?")
    hits = [ScoredChunk(chunk(MILL, 0), 1.0)]
    assert answerer(texts).scorer == load_sentence_scorer()  # the packaged one by default
    assert "Wend" in answerer(texts).draft(question, hits).text
    never = dataclasses.replace(load_sentence_scorer(), min_coverage=1.01, min_similarity=1.01)
    refused = answerer(texts, never).draft(question, hits)
    assert refused.text == "" and "covers 1.00" in refused.notes[0]


def test_a_weights_file_without_an_answering_floor_answers_at_the_qualifying_thresholds() -> None:
    data = load_sentence_scorer().to_json()
    del data["answer_coverage"], data["answer_similarity"]
    scorer = SentenceScorer.from_json(data)
    assert (scorer.answer_coverage, scorer.answer_similarity) == (
        scorer.min_coverage,
        scorer.min_similarity,
    )
    assert scorer.answers(0.0, scorer.min_similarity) and not scorer.answers(0.0, 0.0)
