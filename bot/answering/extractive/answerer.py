"""The offline answerer: pick the source sentences that answer the question and quote them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bot.answering.answer import Citation
from bot.answering.citations import CheckedAnswer
from bot.answering.extractive.answer_fit import (
    adds_answer,
    expected_answer_type,
    matches,
    names,
    office_conflict,
    office_missing,
    speaker_conflict,
)
from bot.answering.extractive.places import names_of, place_mentions, places, tokens
from bot.answering.markers import neutralise_markers
from bot.answering.prompts import REFUSAL
from retrieval.documents import Chunk
from retrieval.text.terms import content_terms, words

# Words that frame a question rather than name its subject ("on what date", "the name of").
_FRAME_TEXT = (
    "date dates name named number kind sort type types city place year years title total "
    "roughly approximately exactly article report documents document exact specific called "
    "quoted mentioned"
)


@lru_cache(maxsize=1)
def frame_words() -> frozenset[str]:
    """The stems of the question-frame words (computed on first use, not at import)."""
    return frozenset(content_terms(_FRAME_TEXT))


# Thresholds, set on the seed question set and checked on the SQuAD benchmark (see README).
MIN_COVERAGE = 0.8  # IDF-weighted share of question terms the best sentence must contain …
MIN_SIMILARITY = 0.55  # … or the cosine similarity it must reach
SECOND_SENTENCE_SHARE = 0.8  # a runner-up this close to the best sentence is quoted too
CONTEXT_SHARE = 0.5  # a question term found around a sentence counts this much of one in it
UNKNOWN_TERM_SIMILARITY = 0.6  # needed when the question names something the corpus never does


@dataclass(frozen=True)
class Candidate:
    """A source sentence scored against the question."""

    source_number: int  # 1-based position of its chunk among the sources
    chunk: Chunk
    start: int  # offsets into the document
    end: int
    coverage: float
    similarity: float
    score: float
    covered: frozenset[str]

    @property
    def text(self) -> str:
        """The sentence, verbatim."""
        return self.chunk.text[self.start - self.chunk.start : self.end - self.chunk.start]


# ", and how much …", " and who …": where a question asks a second thing.
_SECOND_QUESTION = re.compile(
    r",?\s+and\s+(?=(?:how|what|when|where|who|whom|which|why)\b)", re.IGNORECASE
)


_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|she|his|her|this|these|those)\b", re.I)


def question_terms(question: str) -> list[str]:
    """The question's content terms, once each, without the words that only frame it."""
    return [t for t in dict.fromkeys(content_terms(question)) if t not in frame_words()]


def question_parts(question: str) -> list[str]:
    """The questions a compound question asks, each on its own (most questions have one)."""
    parts = [p.strip(" ,") for p in _SECOND_QUESTION.split(question)]
    return [p for p in parts if content_terms(p) or p == question] or [question]


@lru_cache(maxsize=4096)
def context_terms(chunk: Chunk) -> set[str]:
    """The terms of a sentence's surroundings: its chunk and its document's title."""
    return set(content_terms(f"{chunk.title}\n{chunk.text}"))


def country_terms(question: str) -> dict[str, str]:
    """The question's terms that name a country, to that country ("penh" -> "cambodia"), so
    a sentence naming it any other way ("Cambodian", "Phnom Penh") covers them."""
    cased = tokens(question)
    return {
        term: country
        for start, end, country in place_mentions(cased)
        for term in content_terms(" ".join(cased[start:end]))
    }


class ExtractiveAnswerer:
    """Question-term coverage and embedding similarity over the sources' sentences."""

    def __init__(
        self,
        *,
        embed: Callable[[list[str]], list[list[float]]] | None,
        embed_query: Callable[[str], list[float]] | None = None,
        document_frequency: Callable[[str], int],
        documents: int,
        max_sentences: int = 3,
    ) -> None:
        self.embed = embed
        # Search has just embedded the same question: a model that remembers recent queries
        # answers this from memory.
        self.embed_query = embed_query or (lambda text: self._embed_one(text))
        self.document_frequency = document_frequency
        self.documents = max(documents, 1)
        self.max_sentences = max_sentences
        self._vectors: dict[tuple[str, int], np.ndarray] = {}

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; unseen terms weigh the most."""
        df = self.document_frequency(term)
        return math.log(1 + (self.documents - df + 0.5) / (df + 0.5))

    def unknown_names(self, question: str) -> list[str]:
        """Names in the question that no chunk contains, by themselves or (for a country) by
        another of its names: "Phnom Penh" is known where the documents say "Cambodia"."""
        return [name for name in names(question) if not self.known(name)]

    def known(self, name: str) -> bool:
        """Whether some chunk holds the name, or another name of the same country."""
        spellings = [name] + [alias for c in places(name) for alias in names_of(c)]
        return not content_terms(name) or any(
            self.document_frequency(t) > 0 for s in spellings for t in content_terms(s)
        )

    def answer(self, question: str, sources: Sequence[Chunk]) -> CheckedAnswer:
        """Quote the best sentences with their `[n]`, or refuse when the sources do not cover it.

        A question in two parts ("How do they describe the sea, and how much of it does China
        claim?") is answered part by part; it is refused only when no part is answered.
        """
        if not sources:
            return CheckedAnswer(REFUSAL, True, [], ["no sources"])
        parts = question_parts(question)
        budget = self.max_sentences if len(parts) == 1 else 2
        chosen: list[Candidate] = []
        reasons: list[str] = []
        for part in parts:
            picked, reason = self.answer_part(part, question, sources, budget)
            chosen += [c for c in picked if c not in chosen]
            reasons += [reason] if reason else []
        if not chosen:
            return CheckedAnswer(REFUSAL, True, [], reasons)
        return self.compose(chosen)

    def answer_part(
        self, part: str, question: str, sources: Sequence[Chunk], budget: int
    ) -> tuple[list[Candidate], str | None]:
        """The sentences answering one part of the question, or none and the reason why.

        A part with a pronoun ("how much of it …", "who will they be …") borrows the whole
        question's terms, which the pronoun points back to.
        """
        terms = question_terms(part)
        if part != question and _PRONOUN.search(part):
            terms = list(dict.fromkeys([*terms, *question_terms(question)]))
        if not terms:
            return [], "no question terms"
        candidates = self.candidates(part, terms, sources)
        if not candidates:
            return [], "no sentence fits the question"
        best = candidates[0]
        unknown = self.unknown_names(part)
        if unknown and best.similarity < UNKNOWN_TERM_SIMILARITY:
            return [], f"the documents never mention {unknown}"
        if best.coverage < MIN_COVERAGE and best.similarity < MIN_SIMILARITY:
            return [], (
                f"best sentence covers {best.coverage:.2f} of the question, "
                f"similarity {best.similarity:.2f}"
            )
        chosen = [best]
        covered = set(best.covered)
        for other in candidates[1:8]:
            if len(chosen) >= budget:
                break
            # Another sentence when it is nearly as good, or when it adds question terms the
            # chosen ones left out (often the other half of a question spanning two documents).
            adds = other.covered - covered
            if other.score >= SECOND_SENTENCE_SHARE * best.score or (
                adds and other.score >= 0.5 * best.score
            ):
                chosen.append(other)
                covered |= other.covered
        return chosen, None

    def compose(self, chosen: list[Candidate]) -> CheckedAnswer:
        """The answer text (verbatim sentences, each with its `[n]`) and its citations."""
        parts: list[str] = []
        spans: dict[int, tuple[Chunk, int, int]] = {}
        for c in chosen:
            body = neutralise_markers(c.text.rstrip())  # a document's "[2]" is not a citation
            end_mark = "" if body.endswith((".", "!", "?", '"', "”")) else "."
            parts.append(f"{body}{end_mark} [{c.source_number}]")
            # Two sentences from one source: its citation quotes the span holding both.
            chunk, start, end = spans.get(c.source_number, (c.chunk, c.start, c.end))
            spans[c.source_number] = (chunk, min(start, c.start), max(end, c.end))
        citations = [Citation.of_span(n, *spans[n]) for n in sorted(spans)]
        return CheckedAnswer(" ".join(parts), False, citations)

    def candidates(
        self, question: str, terms: list[str], sources: Sequence[Chunk]
    ) -> list[Candidate]:
        """Every sentence of the sources that fits the question's answer type, best first."""
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        answer_type = expected_answer_type(question)
        spans: list[tuple[int, Chunk, int, int]] = []
        seen: set[tuple[str, str]] = set()
        for number, chunk in enumerate(sources, start=1):
            for start, end in chunk.answer_spans():
                sentence = chunk.text[start - chunk.start : end - chunk.start]
                # Overlapping chunks, or a caption repeated, hold the same sentence: it is a
                # candidate once.
                where = (chunk.source, sentence)
                if where in seen or not self.fits(question, sentence, answer_type):
                    continue
                seen.add(where)
                spans.append((number, chunk, start, end))
        if not spans:
            return []
        similarities = self._similarities(question, spans)
        countries = country_terms(question)
        out = []
        for (number, chunk, start, end), similarity in zip(spans, similarities, strict=True):
            sentence = chunk.text[start - chunk.start : end - chunk.start]
            sentence_terms = set(content_terms(sentence))
            named = places(sentence) if countries else set()
            covered = frozenset(
                t for t in terms if matches(t, sentence_terms) or countries.get(t) in named
            )
            context = context_terms(chunk)
            around = [t for t in terms if t not in covered and matches(t, context)]
            coverage = (
                sum(weights[t] for t in covered) + CONTEXT_SHARE * sum(weights[t] for t in around)
            ) / total
            rank_prior = 0.05 / number
            score = 0.55 * coverage + 0.45 * max(similarity, 0.0) + rank_prior
            out.append(Candidate(number, chunk, start, end, coverage, similarity, score, covered))
        out.sort(key=lambda c: -c.score)
        return out

    @staticmethod
    def fits(question: str, sentence: str, answer_type: str | None) -> bool:
        """Whether the sentence could answer the question: a value of the asked type, the
        asked-about speaker or office, and more than a fragment."""
        return (
            len(words(sentence)) >= 4
            and adds_answer(question, sentence, answer_type)
            and not speaker_conflict(question, sentence)
            and not office_conflict(question, sentence)
            and not (answer_type == "name" and office_missing(question, sentence))
        )

    def _embed_one(self, text: str) -> list[float]:
        assert self.embed is not None
        return self.embed([text])[0]

    def _similarities(self, question: str, spans: list[tuple[int, Chunk, int, int]]) -> list[float]:
        if self.embed is None:
            return [0.0] * len(spans)
        missing = [s for s in spans if (s[1].chunk_id, s[2]) not in self._vectors]
        if missing:
            texts = [s[1].text[s[2] - s[1].start : s[3] - s[1].start] for s in missing]
            for span, vector in zip(missing, self.embed(texts), strict=True):
                self._vectors[(span[1].chunk_id, span[2])] = np.asarray(vector, dtype=np.float32)
        query = np.asarray(self.embed_query(question), dtype=np.float32)
        matrix = np.stack([self._vectors[(s[1].chunk_id, s[2])] for s in spans])
        return [float(v) for v in matrix @ query]
