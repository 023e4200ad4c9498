"""The answer service: parse, retrieve, draft (any backend), check citations, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from langchain_core.messages import HumanMessage

from bot.answering.answer import Answer, Suggestion
from bot.answering.backends import Backend, Draft
from bot.answering.citations import CheckedAnswer, check_citations
from bot.answering.conversation import Conversation, expand_follow_up, is_follow_up
from bot.answering.llm import LLMBackend
from bot.answering.prompts import REFUSAL, PromptSet
from bot.answering.question import ParsedQuestion, parse_question
from bot.errors import LLMError
from bot.settings import LLMSettings
from retrieval.documents import ScoredChunk
from retrieval.hybrid import HybridSearcher
from retrieval.index import CorpusIndex, IndexStats
from retrieval.text.terms import content_terms

log = logging.getLogger(__name__)

TokenSink = Callable[[str], None]
MAX_SUGGESTIONS = 3  # passages listed under a refusal as places to look


class Timer:
    """Per-stage wall-clock timings in milliseconds."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block under `name` (accumulating if repeated)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - started) * 1000


class Answerer:
    """Answers one question at a time; every door (CLI, REPL, Telegram, eval) goes through here."""

    def __init__(
        self,
        *,
        index: CorpusIndex,
        searcher: HybridSearcher,
        backend: Backend,
        condenser: LLMBackend | None,
        prompts: PromptSet,
        settings: LLMSettings,
    ) -> None:
        self.index = index
        self.searcher = searcher
        self.backend = backend
        self.condenser = condenser  # rewrites follow-ups as standalone questions, when an LLM runs
        self.prompts = prompts
        self.settings = settings

    @property
    def backend_name(self) -> str:
        """'llm' or 'extractive'."""
        return self.backend.name

    @property
    def streams(self) -> bool:
        """Whether answers stream token by token to `on_token`."""
        return self.backend.streams

    def describe(self) -> str:
        """One line: which backend answers and how to switch."""
        if self.backend.name == "llm":
            where = self.settings.openai_base_url or "OpenAI"
            return (
                f"LLM backend: {self.backend.model_name} at {where} (falls back to the offline "
                "extractive answer on failure; CITEBOT_BACKEND=extractive to stay offline)."
            )
        return (
            "Offline extractive backend: answers quote the documents verbatim. For written "
            "answers set OPENAI_API_KEY, or OPENAI_BASE_URL for a local OpenAI-compatible server."
        )

    def stats(self) -> IndexStats:
        """What the index holds."""
        return self.index.stats()

    def answer(
        self,
        question: str,
        conversation: Conversation | None = None,
        *,
        k: int | None = None,
        on_token: TokenSink | None = None,
        deadline: float | None = None,
    ) -> Answer:
        """Answer `question` from the documents, with checked citations.

        `deadline` (monotonic seconds) ends the LLM's part early, e.g. when the question waited
        for a free slot; by default the LLM gets its whole `deadline_s` from now.
        """
        timer = Timer()
        started = time.perf_counter()
        question = question.strip()
        standalone = question
        usage: dict[str, int] = {}
        failure: LLMError | None = None
        # One wall-clock deadline for everything the LLM does for this answer.
        if deadline is None and self.condenser:
            deadline = self.condenser.start_deadline()
        if conversation and conversation.turns and is_follow_up(question):
            with timer.stage("condense"):
                standalone, failure = self._standalone(question, conversation, usage, deadline)
        parsed = parse_question(standalone)
        with timer.stage("retrieve"):
            hits = self.searcher.search(standalone, k) if standalone else []
        draft: Draft | None = None
        unknown = self.unknown_identifiers(parsed)
        if not hits:
            checked = CheckedAnswer(REFUSAL, True, [], ["nothing retrieved"])
        elif unknown:
            checked = CheckedAnswer(REFUSAL, True, [], [f"no document mentions {unknown}"])
        else:
            with timer.stage("generate"):
                draft = self.backend.draft(
                    parsed,
                    hits,
                    on_token=on_token if self.streams else None,
                    failed=failure,
                    deadline=deadline,
                )
            _add_usage(usage, draft.usage)
            for stage, ms in draft.timings_ms.items():
                timer.ms[stage] = timer.ms.get(stage, 0.0) + ms
            with timer.stage("check"):
                checked = check_citations(draft.text, draft.sources)
            checked.dropped[:0] = draft.notes
            if not checked.abstained:
                checked.text += uncovered_note(parsed, checked.text)
        for reason in checked.dropped:
            log.info("citation check: %s", reason)
        timer.ms["total"] = (time.perf_counter() - started) * 1000
        if conversation is not None:
            conversation.add(standalone, checked.text)
        return Answer(
            question=question,
            text=checked.text,
            abstained=checked.abstained,
            citations=checked.citations,
            retrieved=hits,
            backend=draft.backend if draft else self.backend.name,
            model=draft.model if draft else self.backend.model_name,
            notice=draft.notice if draft else None,
            standalone_question=standalone if standalone != question else None,
            usage=usage,
            timings_ms=timer.ms,
            suggestions=suggestions(hits) if checked.abstained else [],
        )

    def unknown_identifiers(self, question: ParsedQuestion) -> list[str]:
        """The codes and model numbers in the question that no indexed passage contains."""
        frequency = self.searcher.lexical.document_frequency
        return [
            code
            for code in question.identifiers
            if any(frequency(term) == 0 for term in content_terms(code))
        ]

    def _standalone(
        self,
        question: str,
        conversation: Conversation,
        usage: dict[str, int],
        deadline: float | None = None,
    ) -> tuple[str, LLMError | None]:
        """The follow-up as a standalone question, and the LLM error if condensing failed."""
        previous = conversation.last_question or ""
        if not self.condenser:
            return expand_follow_up(question, previous), None
        prompt = self.prompts.condense.format(history=conversation.render(), question=question)
        try:
            generation = self.condenser.generate([HumanMessage(prompt)], deadline=deadline)
        except LLMError as error:
            return expand_follow_up(question, previous), error
        _add_usage(usage, generation.usage)
        rewritten = generation.text.strip().strip('"').splitlines()
        return (rewritten[0].strip() if rewritten and rewritten[0].strip() else question), None


def suggestions(hits: list[ScoredChunk], limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """The closest passages' documents, once each, as places a user could look."""
    out: dict[str, Suggestion] = {}
    for hit in hits:
        chunk = hit.chunk
        if chunk.source not in out:
            out[chunk.source] = Suggestion(chunk.title, chunk.source, chunk.page, chunk.section)
        if len(out) >= limit:
            break
    return list(out.values())


def uncovered_note(question: ParsedQuestion, answer: str) -> str:
    """For a compound question, a sentence naming the parts the answer does not cover."""
    parts = question.parts
    if len(parts) < 2:
        return ""
    shared = set.intersection(*(set(question.part_terms(p)) for p in parts))
    said = set(content_terms(answer))
    missing = [
        part
        for part in parts
        if (own := set(question.part_terms(part)) - shared) and not own & said
    ]
    if not missing or len(missing) == len(parts):
        return ""
    listed = "; ".join(f"“{part.rstrip('?').strip()}?”" for part in missing)
    return f" The documents do not cover this part of the question: {listed}"


def _add_usage(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
