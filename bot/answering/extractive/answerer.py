"""The offline answerer: pick the source sentences that answer the question and quote them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bot.answering.backends import Draft, TokenSink
from bot.answering.extractive.answer_fit import (
    adds_answer,
    matches,
    office_conflict,
    office_missing,
    speaker_conflict,
)
from bot.answering.extractive.scorer import (
    SentenceScorer,
    bigrams,
    load_sentence_scorer,
    sentence_features,
    with_gaps,
)
from bot.answering.markers import neutralise_markers
from bot.answering.question import ParsedQuestion, expected_answer_type, names, term_weights
from bot.errors import LLMError
from retrieval.documents import CELL_SEPARATOR, Chunk, ScoredChunk
from retrieval.text.terms import STOPWORDS, content_terms, initialisms, words

# The best-scored sentences a part's answer may quote from. The score, the refusal thresholds and
# the quoting share are fitted on SQuAD train articles (scorer.py, benchmarks/fit_extractive.py).
RUNNERS_UP = 8


Span = tuple[int, int]  # document offsets of one answer sentence


def span_texts(chunk: Chunk, spans: Sequence[Span]) -> list[str]:
    """The chunk's text at each span, verbatim."""
    return [chunk.text[s - chunk.start : e - chunk.start] for s, e in spans]


@dataclass(frozen=True)
class Candidate:
    """A quote scored against the question: one source sentence, or a sentence with those it
    reaches back to (its row's earlier sentences, or the sentence a demonstrative points to; see
    `quoted_spans`)."""

    source_number: int  # 1-based position of its chunk among the sources
    chunk: Chunk
    spans: tuple[Span, ...]  # the quoted sentences, in document order; the last one answers
    coverage: float
    similarity: float
    score: float
    covered: frozenset[str]
    features: tuple[float, ...] = ()
    found: frozenset[str] = frozenset()  # the question terms in it or around it

    @property
    def start(self) -> int:
        """Where the quote starts in the document."""
        return self.spans[0][0]

    @property
    def end(self) -> int:
        """Where the quote ends in the document."""
        return self.spans[-1][1]

    @property
    def sentences(self) -> list[str]:
        """The quoted sentences, each verbatim."""
        return span_texts(self.chunk, self.spans)

    @property
    def text(self) -> str:
        """The quoted sentences, verbatim, with a space between them."""
        return " ".join(self.sentences)

    @property
    def lists(self) -> bool:
        """Whether the quote is a lead-in and the lines of its list (`quoted_spans`)."""
        return is_listing(self.chunk, self.spans)

    @property
    def leads_in(self) -> bool:
        """Whether the quote ends in a colon: it introduces what follows it (a list, a code
        block, a quotation), which it does not hold."""
        return self.text.rstrip().endswith(":")

    @property
    def names_a_term(self) -> bool:
        """Whether the quoted text itself holds a question term, not only the heading that a
        field is read with: a field beside the answering one ("Unit: seconds") answers nothing."""
        own = set(content_terms(self.text))
        return any(matches(term, own) for term in self.covered)


@lru_cache(maxsize=4096)
def context_terms(chunk: Chunk, section: str) -> set[str]:
    """The terms of a sentence's surroundings: its chunk, the heading the chunk starts under and
    the one the sentence sits under (a field or a table row often names its subject only there;
    the first is often the second's parent), and its document's title, also by its initials (a
    question says "the MPL" of the "Mozilla Public License")."""
    text = f"{chunk.title}\n{chunk.section}\n{section}\n{chunk.text}"
    return set(content_terms(text)) | initialisms(chunk.title)


# A field: a short label, a colon, a value ("Default: 64", "Unit: seconds"). It states a fact
# about the thing its heading names, so it may answer though it is shorter than a sentence.
_FIELD = re.compile(r"^\s*[^\W\d_][^:\n]{0,40}:\s+\S")
_FIELD_LABEL_WORDS = 4
_MIN_SENTENCE_WORDS = 4


def is_field(sentence: str) -> bool:
    """Whether the sentence is a label and its value. A lead-in opening with a function word
    ("For example: …", "In short: …") is prose, not a label."""
    if not _FIELD.match(sentence):
        return False
    label = words(sentence.split(":", 1)[0])
    return len(label) <= _FIELD_LABEL_WORDS and label[0] not in STOPWORDS


# Words that open a sentence whose subject is in the sentence before ("This feature requires …",
# "Such a practice …"): English's demonstratives. The personal pronouns too ("It was built …")
# were measured and answered fewer SQuAD train and validation questions (benchmarks/README.md).
_ANAPHORA = frozenset(["this", "these", "that", "those", "such"])


def points_back(chunk: Chunk, sentence: Span, before: Span | None) -> bool:
    """Whether the sentence opens with a demonstrative pointing back to the answer sentence
    `before` it, with only white space between (not a heading or a code line). The first
    sentence of a table row points to nothing in the row above."""
    start, end = sentence
    if before is None or chunk.row_start(start) == start:
        return False
    if chunk.text[before[1] - chunk.start : start - chunk.start].strip():
        return False
    first = words(chunk.text[start - chunk.start : min(end, start + 40) - chunk.start])[:1]
    return bool(first) and first[0] in _ANAPHORA


def quoted_spans(
    chunk: Chunk, spans: Sequence[Span], index: int, limit: int
) -> tuple[tuple[Span, ...], str]:
    """The sentences a quote of the chunk's answer sentence `spans[index]` is made of, and the
    text it is scored as.

    A table row's later sentence is quoted with the row's sentences before it (a row is one
    record), or, when that would be more than `limit` sentences, after the row's first one only;
    it is read with the row's first cell, which names what the row is about. A lead-in ("… has
    three gates:") is quoted with the short list of lines it introduces (`Chunk.list_after`) and
    read as the lead-in alone, which says what the list is. A sentence opening with a
    demonstrative is quoted and read with the sentence it points back to; a field is read with
    its heading.
    """
    start, end = spans[index]
    own = chunk.text[start - chunk.start : end - chunk.start]
    row = chunk.row_start(start)
    if row is not None and row < start:
        head = chunk.text[row - chunk.start : start - chunk.start]
        first_cell = head.split(CELL_SEPARATOR, 1)[0].split("\n", 1)[0]
        row_before = [(s, e) for s, e in spans if row <= s and e <= start]
        if len(row_before) >= limit:
            row_before = row_before[:1]
        return (*row_before, spans[index]), f"{first_cell} {own}"
    items = chunk.list_after(spans, index)
    if items:
        # Read as the lead-in, which says what the list is: its lines are the values.
        return (spans[index], *items), own
    before = spans[index - 1] if index else None
    if before is not None and points_back(chunk, spans[index], before):
        return (before, spans[index]), chunk.text[before[0] - chunk.start : end - chunk.start]
    return (spans[index],), read_as(chunk, start, end)


def is_listing(chunk: Chunk, spans: Sequence[Span]) -> bool:
    """Whether the quoted spans are a lead-in and the lines of its list, or its snippet."""
    if len(spans) < 2:
        return False
    answer_spans = chunk.answer_spans()
    if spans[0] not in answer_spans:
        return False
    return chunk.list_after(answer_spans, answer_spans.index(spans[0])) == tuple(spans[1:])


def is_question(sentence: str) -> bool:
    """Whether the sentence asks a question (an FAQ's "Q: How is …?"): it states nothing."""
    return sentence.rstrip().rstrip("\"'\u201d\u2019").endswith("?")


_RUN_IN_WORDS = 6  # a contract's "Grant of Patent License." opening its clause


def is_run_in_heading(sentence: str) -> bool:
    """Whether the "sentence" is a clause's title set on its first line ("Grant of Patent
    License. Subject to …"): a few words, every one but a stopword capitalised, no number. It
    names what follows; it states nothing."""
    tokens = re.findall(r"[^\W_]+", sentence)
    return (
        0 < len(tokens) <= _RUN_IN_WORDS
        and sentence.rstrip().endswith(".")
        and all(t[0].isupper() or t.lower() in STOPWORDS for t in tokens)
        and not any(c.isdigit() for c in sentence)
    )


def overlap(a: Candidate, b: Candidate) -> bool:
    """Whether two quotes share a sentence (one quoted alone and with the one before it)."""
    return a.chunk.source == b.chunk.source and bool(set(a.spans) & set(b.spans))


def headed(sentence: str, heading: str) -> bool:
    """Whether the sentence states a fact about the thing its heading names: a field, or a
    sentence too short to name it ("Defaults to 1000." under "parameterLimit")."""
    if not heading:
        return False
    return is_field(sentence) or (
        len(words(sentence)) < _MIN_SENTENCE_WORDS and sentence.rstrip().endswith(".")
    )


def read_as(chunk: Chunk, start: int, end: int) -> str:
    """A sentence as it is scored: one about the thing its heading names with that heading
    before it ("cache.size: Default: 64"), any other sentence as it stands."""
    sentence = chunk.text[start - chunk.start : end - chunk.start]
    section = chunk.section_at(start)
    return f"{section}: {sentence}" if headed(sentence, section) else sentence


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
        scorer: SentenceScorer | None = None,
    ) -> None:
        self.embed = embed
        self.scorer = scorer or load_sentence_scorer()
        # Search has just embedded the same question: a model that remembers recent queries
        # answers this from memory.
        self.embed_query = embed_query or (lambda text: self._embed_one(text))
        self.document_frequency = document_frequency
        self.documents = max(documents, 1)
        self.max_sentences = max_sentences
        self._vectors: dict[tuple[str, int, int], np.ndarray] = {}

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; unseen terms weigh the most."""
        df = self.document_frequency(term)
        return math.log(1 + (self.documents - df + 0.5) / (df + 0.5))

    def unknown_names(self, question: str) -> list[str]:
        """Names in the question that no chunk contains."""
        return [name for name in names(question) if not self.known(name)]

    def known(self, name: str) -> bool:
        """Whether some chunk holds a word of the name."""
        terms = content_terms(name)
        return not terms or any(self.document_frequency(t) > 0 for t in terms)

    @property
    def name(self) -> str:
        """'extractive'."""
        return "extractive"

    @property
    def model_name(self) -> str | None:
        """No model writes the answer: it quotes the sources."""
        return None

    @property
    def streams(self) -> bool:
        """The answer comes whole."""
        return False

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: TokenSink | None = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """Quote the best sentences with their `[n]`, or nothing when the sources do not cover it.

        A compound question is answered part by part; it gets no answer only when no part does.
        """
        sources = [h.chunk for h in hits]
        if not sources:
            return Draft("", [], self.name, notes=["no sources"])
        parts = question.parts
        budget = self.max_sentences if len(parts) == 1 else 2
        chosen: list[Candidate] = []
        reasons: list[str] = []
        for part in parts:
            picked, reason = self.answer_part(part, question, sources, budget)
            # Two parts may pick the same sentence, alone or with the one before it: quote it once.
            chosen += [c for c in picked if not any(overlap(c, k) for k in chosen)]
            reasons += [reason] if reason else []
        return Draft(self.compose(chosen), sources, self.name, notes=reasons)

    def answer_part(
        self, part: str, question: ParsedQuestion, sources: Sequence[Chunk], budget: int
    ) -> tuple[list[Candidate], str | None]:
        """The sentences answering one part of the question, or none and the reason why.

        A part with a pronoun ("how much of it …", "who were they …") borrows the whole
        question's terms, which the pronoun points back to (`ParsedQuestion.part_terms`).
        """
        terms = question.part_terms(part)
        if not terms:
            return [], "no question terms"
        candidates = self.candidates(part, terms, sources, limit=budget)
        if not candidates:
            return [], "no sentence fits the question"
        scorer = self.scorer
        # The best-scored sentence, or a close runner-up that answers when the best does not.
        best = next((c for c in candidates[: scorer.best_of] if self.qualifies(c)), candidates[0])
        unknown = self.unknown_names(part)
        if unknown and best.similarity < scorer.unknown_similarity:
            return [], f"the documents never mention {unknown}"
        # The chosen sentence must also reach the floor fitted on answer deletions: the topic
        # is covered but the detail asked for may be missing (scorer.py).
        if not scorer.answers(best.coverage, best.similarity):
            return [], (
                f"best sentence covers {best.coverage:.2f} of the question, "
                f"similarity {best.similarity:.2f}"
            )
        chosen = [best]
        named = {t for name in question.names for t in content_terms(name)} & best.found
        follow = self.follow_on(best, candidates, terms)
        if follow is not None and len(best.sentences) + len(follow.sentences) <= budget:
            chosen.append(follow)
        for other in candidates[:RUNNERS_UP]:
            # The budget counts sentences: a quote that reaches back spends one more.
            if sum(len(c.sentences) for c in chosen) + len(other.sentences) > budget:
                continue
            # Each quoted sentence must answer by itself, and score nearly as well as the best; a
            # lead-in without what it introduces adds nothing beside the answer. One from another
            # document must concern the names the best one does ("the MPL", "Docker"): the same
            # clause of another licence, or product, answers another question.
            if (
                other is not best
                and not other.leads_in
                and not any(overlap(c, other) for c in chosen)
                and self.qualifies(other)
                and other.names_a_term
                and other.score >= scorer.second_share * best.score
                and (other.chunk.source == best.chunk.source or named <= other.found)
            ):
                chosen.append(other)
        return chosen, None

    @staticmethod
    def follow_on(
        best: Candidate, candidates: Sequence[Candidate], terms: list[str]
    ) -> Candidate | None:
        """The sentence right after the best one in its paragraph, when it holds a question
        term the best one lacks ("Adjust the maximum depth of the stack." "The default is
        3000."): the paragraph's topic is in the first, the detail asked for in the next."""
        missing = {t for t in terms if t not in best.covered}
        if not missing:
            return None
        spans = best.chunk.answer_spans()
        try:
            at = spans.index(best.spans[-1])
        except ValueError:
            return None
        if at + 1 >= len(spans):
            return None
        following = spans[at + 1]
        gap = best.chunk.text[best.end - best.chunk.start : following[0] - best.chunk.start]
        if "\n" in gap:
            return None
        for other in candidates:
            if other.chunk is best.chunk and other.spans == (following,):
                return other if other.covered & missing else None
        return None

    def qualifies(self, candidate: Candidate) -> bool:
        """Whether a sentence covers enough of the question, or is similar enough, to answer."""
        return self.scorer.qualifies(candidate.coverage, candidate.similarity)

    @staticmethod
    def compose(chosen: list[Candidate]) -> str:
        """The draft: verbatim sentences, each followed by its `[n]` (a quote of two sentences,
        a row's or a demonstrative's with the one it points back to, cites each). A lead-in and
        its list are one claim, the list's lines set apart as a row's cells are (a semicolon
        would end the claim for the sentence splitter)."""
        parts: list[str] = []
        for c in chosen:
            sentences = c.sentences
            if c.lists:
                # A snippet's lines too, each marked as code: a line break would end the claim
                # for the splitter.
                prose = set(c.chunk.answer_spans())
                lines = [
                    line.strip().rstrip(".;,") if span in prose else f"`{' '.join(line.split())}`"
                    for span, s in zip(c.spans[1:], sentences[1:], strict=True)
                    for line in s.splitlines()
                    if line.strip()
                ]
                sentences = [f"{sentences[0].rstrip()} {CELL_SEPARATOR.join(lines)}"]
            for sentence in sentences:
                body = neutralise_markers(sentence.rstrip())  # a document's "[2]" is no citation
                end_mark = "" if body.endswith((".", "!", "?", '"', "”")) else "."
                parts.append(f"{body}{end_mark} [{c.source_number}]")
        return " ".join(parts)

    def candidates(
        self,
        question: str,
        terms: list[str],
        sources: Sequence[Chunk],
        *,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Every sentence of the sources that fits the question's answer type, best first. A
        quote holds at most `limit` sentences (the answer's sentence budget; `max_sentences` by
        default)."""
        asked = term_weights(question)
        weights = {t: self.idf(t) * asked.get(t, 1.0) for t in terms}
        total = sum(weights.values()) or 1.0
        answer_type = expected_answer_type(question)
        spans: list[tuple[int, Chunk, tuple[Span, ...], int, str]] = []
        seen: set[tuple[str, str]] = set()
        for number, chunk in enumerate(sources, start=1):
            answer_spans = chunk.answer_spans()
            for index in range(len(answer_spans)):
                quoted, read = quoted_spans(chunk, answer_spans, index, limit or self.max_sentences)
                sentence = " ".join(span_texts(chunk, quoted))
                # Overlapping chunks, or a caption repeated, hold the same sentence: it is a
                # candidate once.
                where = (chunk.source, sentence)
                heading = chunk.section_at(quoted[0][0])
                if where in seen or not self.fits(question, sentence, answer_type, heading):
                    continue
                seen.add(where)
                spans.append((number, chunk, quoted, index, read))
        # A lead-in that ends its chunk is quoted without its list (alone, or after the sentence
        # it points back to); an overlapping chunk that holds both quotes the lead-in with it,
        # and that quote is the candidate.
        listing = [is_listing(s[1], s[2]) for s in spans]
        listed = {(s[1].source, s[2][0]) for s, lists in zip(spans, listing, strict=True) if lists}
        spans = [
            s
            for s, lists in zip(spans, listing, strict=True)
            if lists or (s[1].source, s[2][-1]) not in listed
        ]
        if not spans:
            return []
        similarities = self._similarities(
            question, [(s[1], s[2][0][0], s[2][-1][1], s[4]) for s in spans]
        )
        asked_pairs = bigrams(content_terms(question))
        rows: list[list[float]] = []
        term_sets: list[tuple[frozenset[str], frozenset[str]]] = []  # covered, found
        for (number, chunk, quoted, index, sentence), similarity in zip(
            spans, similarities, strict=True
        ):
            start = quoted[0][0]
            sentence_list = content_terms(sentence)
            sentence_terms = set(sentence_list)
            covered = frozenset(t for t in terms if matches(t, sentence_terms))
            context = context_terms(chunk, chunk.section_at(start))
            around = [t for t in terms if t not in covered and matches(t, context)]
            pairs = asked_pairs & bigrams(sentence_list)
            rows.append(
                sentence_features(
                    coverage=sum(weights[t] for t in covered) / total,
                    coverage_exact=sum(weights[t] for t in covered if t in sentence_terms) / total,
                    coverage_context=sum(weights[t] for t in around) / total,
                    similarity=similarity,
                    source_number=number,
                    sentence_index=index,
                    word_count=len(words(sentence)),
                    bigram_overlap=len(pairs) / len(asked_pairs) if asked_pairs else 0.0,
                    typed=answer_type is not None,
                    term_count=len(terms),
                )
            )
            term_sets.append((covered, covered | frozenset(around)))
        matrix = with_gaps(rows)
        scores = self.scorer.scores(matrix)
        coverages = self.scorer.coverages(matrix)
        out = []
        for span, similarity, (covered, found), row, score, coverage in zip(
            spans, similarities, term_sets, matrix, scores, coverages, strict=True
        ):
            number, chunk, quoted = span[:3]
            features = tuple(float(x) for x in row)
            out.append(
                Candidate(
                    number,
                    chunk,
                    quoted,
                    float(coverage),
                    similarity,
                    float(score),
                    covered,
                    features,
                    found,
                )
            )
        out.sort(key=lambda c: -c.score)
        return out

    @staticmethod
    def fits(question: str, sentence: str, answer_type: str | None, heading: str = "") -> bool:
        """Whether the sentence could answer the question: a value of the asked type, the
        asked-about speaker or office, and more than a fragment (a field is not one, nor a short
        sentence under the heading that names its subject), a question (an FAQ's) or a clause's
        title. `heading` is the one the sentence sits under."""
        return (
            (
                len(words(sentence)) >= _MIN_SENTENCE_WORDS
                or is_field(sentence)
                or headed(sentence, heading)
            )
            and not is_question(sentence)
            and not is_run_in_heading(sentence)
            and adds_answer(question, sentence, answer_type, heading)
            and not speaker_conflict(question, sentence)
            and not office_conflict(question, sentence)
            and not (answer_type == "name" and office_missing(question, sentence))
        )

    def _embed_one(self, text: str) -> list[float]:
        assert self.embed is not None
        return self.embed([text])[0]

    def _similarities(self, question: str, spans: list[tuple[Chunk, int, int, str]]) -> list[float]:
        """Cosine similarity of the question and each span's text as read (`quoted_spans`)."""
        if self.embed is None:
            return [0.0] * len(spans)
        missing = [s for s in spans if (s[0].chunk_id, s[1], s[2]) not in self._vectors]
        if missing:
            for span, vector in zip(missing, self.embed([s[3] for s in missing]), strict=True):
                self._vectors[(span[0].chunk_id, span[1], span[2])] = np.asarray(
                    vector, dtype=np.float32
                )
        query = np.asarray(self.embed_query(question), dtype=np.float32)
        matrix = np.stack([self._vectors[(s[0].chunk_id, s[1], s[2])] for s in spans])
        return [float(v) for v in matrix @ query]
