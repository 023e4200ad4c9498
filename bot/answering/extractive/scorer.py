"""The extractive answerer's sentence scorer: features of a sentence against a question, and the
score and refusal settings fitted on SQuAD 2.0 train articles and chosen on the validation
articles (benchmarks/fit_extractive.py writes them to sentence_scorer.json)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

# The order of a feature vector; the weights file names them, and loading checks they agree.
FEATURES = (
    "coverage",  # IDF-weighted share of the question's terms in the sentence (stems may extend)
    "coverage_exact",  # … of those, found with the very same stem
    "coverage_context",  # … found only around it (its chunk and document title)
    "similarity",  # cosine similarity of sentence and question embeddings
    "coverage_x_similarity",
    "coverage_gap",  # to the best coverage among this question's candidates (<= 0)
    "similarity_gap",  # to the best similarity among them (<= 0)
    "source_rank",  # 1 / the source's position among the retrieved ones
    "first_source",
    "sentence_position",  # 1 / (1 + the sentence's index in its chunk)
    "log_words",  # log of the sentence's word count
    "bigram_overlap",  # share of the question's adjacent term pairs adjacent in the sentence
    "typed",  # the question asks for a number, time or name (which the sentence then holds)
    "log_terms",  # log of the question's term count
)

WEIGHTS_FILE = "sentence_scorer.json"
_COVERAGE, _CONTEXT, _SIMILARITY, _RANK = (
    FEATURES.index(name) for name in ("coverage", "coverage_context", "similarity", "source_rank")
)


@dataclass(frozen=True)
class SentenceScorer:
    """How sentences are scored, when the best one answers, and which others are quoted with it.

    A sentence's coverage counts its question terms, plus `context_share` of each term found only
    around it; its score mixes coverage and similarity, plus `rank_prior` / the source's rank. A
    question part is answered when one of its `best_of` best-scored sentences reaches
    `min_coverage` or `min_similarity` (and, when the question names a word no document holds,
    `unknown_similarity`). A runner-up that qualifies too is quoted when its score reaches
    `second_share` of the best one's. The sentence chosen then answers only when it also reaches
    `answer_coverage` or `answer_similarity`: a floor fitted on answer deletions, SQuAD train
    questions whose answer sentences are taken away (benchmarks/fit_answerability.py writes it;
    absent from a weights file, it is the qualifying thresholds themselves).
    """

    coverage_weight: float
    context_share: float
    rank_prior: float
    min_coverage: float
    min_similarity: float
    unknown_similarity: float
    second_share: float
    best_of: int
    answer_coverage: float = 0.0
    answer_similarity: float = 0.0

    def coverages(self, features: np.ndarray) -> np.ndarray:
        """Each sentence's coverage: its own terms' share, plus part of those found around it."""
        return np.asarray(features[:, _COVERAGE] + self.context_share * features[:, _CONTEXT])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Each sentence's score, one per row of features (FEATURES order)."""
        similarity = np.maximum(features[:, _SIMILARITY], 0.0)
        return np.asarray(
            self.coverage_weight * self.coverages(features)
            + (1 - self.coverage_weight) * similarity
            + self.rank_prior * features[:, _RANK]
        )

    def qualifies(self, coverage: float, similarity: float) -> bool:
        """Whether a sentence covers enough of the question, or is similar enough, to answer."""
        return coverage >= self.min_coverage or similarity >= self.min_similarity

    def answers(self, coverage: float, similarity: float) -> bool:
        """Whether the chosen sentence qualifies and also reaches the answering floor."""
        return self.qualifies(coverage, similarity) and (
            coverage >= self.answer_coverage or similarity >= self.answer_similarity
        )

    def to_json(self) -> dict[str, object]:
        """The weights file's content."""
        return {"features": list(FEATURES), **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SentenceScorer:
        """Read a weights file's content; its features must be this code's, in this order."""
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(
                "The sentence scorer's weights were fitted on other features: "
                "refit with benchmarks/fit_extractive.py"
            )
        return cls(
            coverage_weight=float(data["coverage_weight"]),
            context_share=float(data["context_share"]),
            rank_prior=float(data["rank_prior"]),
            min_coverage=float(data["min_coverage"]),
            min_similarity=float(data["min_similarity"]),
            unknown_similarity=float(data["unknown_similarity"]),
            second_share=float(data["second_share"]),
            best_of=int(data["best_of"]),
            answer_coverage=float(data.get("answer_coverage", data["min_coverage"])),
            answer_similarity=float(data.get("answer_similarity", data["min_similarity"])),
        )


@lru_cache(maxsize=4)
def load_sentence_scorer(path: Path | None = None) -> SentenceScorer:
    """The fitted scorer: the package's weights file, or the one at `path`."""
    if path is None:
        text = resources.files(__package__).joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return SentenceScorer.from_json(json.loads(text))


def bigrams(terms: list[str]) -> set[tuple[str, str]]:
    """Adjacent pairs of terms."""
    return set(itertools.pairwise(terms))


def sentence_features(
    *,
    coverage: float,
    coverage_exact: float,
    coverage_context: float,
    similarity: float,
    source_number: int,
    sentence_index: int,
    word_count: int,
    bigram_overlap: float,
    typed: bool,
    term_count: int,
) -> list[float]:
    """A sentence's features, in FEATURES order, without the gaps to the best candidate
    (filled in once all candidates are known)."""
    return [
        coverage,
        coverage_exact,
        coverage_context,
        similarity,
        coverage * max(similarity, 0.0),
        0.0,
        0.0,
        1.0 / source_number,
        float(source_number == 1),
        1.0 / (1 + sentence_index),
        math.log(max(word_count, 1)),
        bigram_overlap,
        float(typed),
        math.log(max(term_count, 1)),
    ]


def with_gaps(rows: list[list[float]]) -> np.ndarray:
    """The feature matrix of one question's candidates, with each one's gap to the best."""
    matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    if len(rows):
        c, s = FEATURES.index("coverage"), FEATURES.index("similarity")
        matrix[:, FEATURES.index("coverage_gap")] = matrix[:, c] - matrix[:, c].max()
        matrix[:, FEATURES.index("similarity_gap")] = matrix[:, s] - matrix[:, s].max()
    return matrix
