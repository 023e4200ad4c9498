"""The offline answerer: pick the source sentences that answer the question and quote them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bot.answer import Citation
from bot.citations import CheckedAnswer
from bot.prompts import REFUSAL
from retrieval.chunking import sentence_spans
from retrieval.documents import Chunk
from retrieval.terms import content_terms, words

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*%?")
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "year",
    "years",
    "month",
    "week",
    "day",
    "today",
    "yesterday",
    "century",
    "decade",
]
# Words that frame a question rather than name its subject ("on what date", "the name of").
_FRAME_TEXT = (
    "date dates name named number kind sort type types city place year years title total "
    "roughly approximately exactly article report documents document exact specific called"
)


@lru_cache(maxsize=1)
def frame_words() -> frozenset[str]:
    """The stems of the question-frame words (computed on first use, not at import)."""
    return frozenset(content_terms(_FRAME_TEXT))


_CAPITALIZED = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")

# Thresholds, set on the seed question set and checked on the SQuAD benchmark (see README).
MIN_COVERAGE = 0.8  # IDF-weighted share of question terms the best sentence must contain …
MIN_SIMILARITY = 0.55  # … or the cosine similarity it must reach
SECOND_SENTENCE_SHARE = 0.8  # a runner-up this close to the best sentence is quoted too
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


def expected_answer_type(question: str) -> str | None:
    """'number', 'time', 'name' or None, from the question's wording."""
    lowered = question.lower()
    if re.search(
        r"\bhow (many|much|long|far|old|often)\b|\bwhat (percentage|share|number|proportion)\b"
        r"|\b(value|cost|price|amount|worth|size|budget|rate)\b of\b",
        lowered,
    ):
        return "number"
    if re.search(r"\bwhen\b|\b(what|which) (day|date|dates|year|month)\b", lowered):
        return "time"
    if re.search(r"^\s*(who|whom|whose)\b|\bwho (is|was|are|were)\b|\bname of\b", lowered):
        return "name"
    return None


_NUMBER_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?"
    r"|thousands?|millions?|billions?)\b",
    re.IGNORECASE,
)


def typed_values(text: str, answer_type: str | None) -> set[str]:
    """The values of the expected type a text mentions (numbers, dates or names), lower-cased."""
    match answer_type:
        case "number":
            return {m.lower() for m in _NUMBER.findall(text)} | {
                m.lower() for m in _NUMBER_WORDS.findall(text)
            }
        case "time":
            return {m.lower() for m in _NUMBER.findall(text)} | {
                w for w in words(text) if w in _MONTHS
            }
        case "name":
            return {m.group(1).lower() for m in _CAPITALIZED.finditer(text)}
    return set()


_COUNTED = re.compile(
    r"\bhow many\s+(?:of\s+the\s+)?(.+?)\s+(?:did|does|do|will|were|was|are|is|have|has|had|can"
    r"|could|would|should|must|may|might)\b",
    re.IGNORECASE,
)
_COUNT_WINDOW = 8  # words between a number and the thing it counts ("three out of 12 planned …")


def counted_thing(question: str) -> str | None:
    """The stemmed head noun a "how many X …" question counts ("soldier"), if any."""
    match = _COUNTED.search(question)
    terms = content_terms(match.group(1)) if match else []
    return terms[-1] if terms else None


def counts(sentence: str, thing: str) -> bool:
    """Whether the sentence puts a number shortly before the counted thing."""
    tokens = words(sentence)
    stems = content_terms_aligned(tokens)
    for i, stem_i in enumerate(stems):
        if stem_i is not None and matches(thing, {stem_i}):
            window = tokens[max(0, i - _COUNT_WINDOW) : i]
            if any(_NUMBER.fullmatch(t) or _NUMBER_WORDS.fullmatch(t) for t in window):
                return True
    return False


def content_terms_aligned(tokens: list[str]) -> list[str | None]:
    """Each token's content stem, or None for stopwords, aligned with the tokens."""
    return [next(iter(content_terms(t)), None) for t in tokens]


def adds_answer(question: str, sentence: str, answer_type: str | None) -> bool:
    """Whether the sentence holds a value of the expected type that the question does not."""
    if answer_type is None:
        return True
    if not typed_values(sentence, answer_type) - typed_values(question, answer_type):
        return False
    thing = counted_thing(question) if answer_type == "number" else None
    return thing is None or counts(sentence, thing)


def matches(term: str, terms: set[str]) -> bool:
    """The term is among `terms`, allowing stems that extend each other ("deliv"/"deliveri")."""
    if term in terms:
        return True
    if len(term) < 5:
        return False
    return any(len(t) >= 5 and (t.startswith(term) or term.startswith(t)) for t in terms)


class ExtractiveAnswerer:
    """Question-term coverage and embedding similarity over the sources' sentences."""

    def __init__(
        self,
        *,
        embed: Callable[[list[str]], list[list[float]]] | None,
        document_frequency: Callable[[str], int],
        documents: int,
        max_sentences: int = 2,
    ) -> None:
        self.embed = embed
        self.document_frequency = document_frequency
        self.documents = max(documents, 1)
        self.max_sentences = max_sentences
        self._vectors: dict[tuple[str, int], np.ndarray] = {}

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; unseen terms weigh the most."""
        df = self.document_frequency(term)
        return math.log(1 + (self.documents - df + 0.5) / (df + 0.5))

    def unknown_names(self, question: str) -> list[str]:
        """Capitalised names in the question (not its first word) that no chunk contains."""
        names = []
        for match in _CAPITALIZED.finditer(question):
            terms = content_terms(match.group(1))
            if terms and all(self.document_frequency(t) == 0 for t in terms):
                names.append(match.group(1))
        return names

    def answer(self, question: str, sources: Sequence[Chunk]) -> CheckedAnswer:
        """Quote the best sentences with their `[n]`, or refuse when the sources do not cover it."""
        terms = [t for t in dict.fromkeys(content_terms(question)) if t not in frame_words()]
        if not terms or not sources:
            return CheckedAnswer(REFUSAL, True, [], ["no question terms or no sources"])
        candidates = self.candidates(question, terms, sources)
        if not candidates:
            return CheckedAnswer(REFUSAL, True, [], ["no sentence fits the question"])
        best = candidates[0]
        unknown = self.unknown_names(question)
        if unknown and best.similarity < UNKNOWN_TERM_SIMILARITY:
            return CheckedAnswer(REFUSAL, True, [], [f"the documents never mention {unknown}"])
        if best.coverage < MIN_COVERAGE and best.similarity < MIN_SIMILARITY:
            return CheckedAnswer(
                REFUSAL,
                True,
                [],
                [
                    f"best sentence covers {best.coverage:.2f} of the question, similarity {best.similarity:.2f}"
                ],
            )
        chosen = [best]
        for other in candidates[1:6]:
            if len(chosen) >= self.max_sentences:
                break
            if other.text == best.text:
                continue  # the same caption repeated in a document
            # A second sentence when it is nearly as good, or when it adds question terms the
            # first left out (often the other half of a question spanning two documents).
            adds = other.covered - frozenset().union(*(c.covered for c in chosen))
            if other.score >= SECOND_SENTENCE_SHARE * best.score or (
                adds and other.score >= 0.5 * best.score
            ):
                chosen.append(other)
        chosen.sort(key=lambda c: (c.chunk.source, c.start))
        return self.compose(chosen)

    def compose(self, chosen: list[Candidate]) -> CheckedAnswer:
        """The answer text (verbatim sentences, each with its `[n]`) and its citations."""
        parts: list[str] = []
        spans: dict[int, tuple[Chunk, int, int]] = {}
        for c in chosen:
            body = c.text.rstrip()
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
        for number, chunk in enumerate(sources, start=1):
            for start, end in sentence_spans(chunk.text):
                sentence = chunk.text[start:end]
                if len(words(sentence)) < 4 or not adds_answer(question, sentence, answer_type):
                    continue
                spans.append((number, chunk, chunk.start + start, chunk.start + end))
        if not spans:
            return []
        similarities = self._similarities(question, spans)
        out = []
        for (number, chunk, start, end), similarity in zip(spans, similarities, strict=True):
            sentence_terms = set(content_terms(chunk.text[start - chunk.start : end - chunk.start]))
            covered = frozenset(t for t in terms if matches(t, sentence_terms))
            coverage = sum(weights[t] for t in covered) / total
            rank_prior = 0.05 / number
            score = 0.55 * coverage + 0.45 * max(similarity, 0.0) + rank_prior
            out.append(Candidate(number, chunk, start, end, coverage, similarity, score, covered))
        out.sort(key=lambda c: -c.score)
        return out

    def _similarities(self, question: str, spans: list[tuple[int, Chunk, int, int]]) -> list[float]:
        if self.embed is None:
            return [0.0] * len(spans)
        missing = [s for s in spans if (s[1].chunk_id, s[2]) not in self._vectors]
        if missing:
            texts = [s[1].text[s[2] - s[1].start : s[3] - s[1].start] for s in missing]
            for span, vector in zip(missing, self.embed(texts), strict=True):
                self._vectors[(span[1].chunk_id, span[2])] = np.asarray(vector, dtype=np.float32)
        query = np.asarray(self.embed([question])[0], dtype=np.float32)
        matrix = np.stack([self._vectors[(s[1].chunk_id, s[2])] for s in spans])
        return [float(v) for v in matrix @ query]
