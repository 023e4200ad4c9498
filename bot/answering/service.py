"""The answer service: retrieve, pack, generate (LLM or extractive), check citations, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from langchain_core.messages import HumanMessage, SystemMessage

from bot.answering.answer import Answer
from bot.answering.budget import pack_sources
from bot.answering.citations import CheckedAnswer, CheckedStream, check_citations
from bot.answering.conversation import Conversation, expand_follow_up, is_follow_up
from bot.answering.extractive.answerer import ExtractiveAnswerer
from bot.answering.llm import LLMBackend
from bot.answering.prompts import REFUSAL, PromptSet
from bot.errors import LLMError
from bot.settings import LLMSettings
from retrieval.documents import ScoredChunk
from retrieval.hybrid import HybridSearcher
from retrieval.index import CorpusIndex, IndexStats
from retrieval.tokens import encoding_for_model

log = logging.getLogger(__name__)

TokenSink = Callable[[str], None]


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
        extractive: ExtractiveAnswerer,
        llm: LLMBackend | None,
        prompts: PromptSet,
        settings: LLMSettings,
    ) -> None:
        self.index = index
        self.searcher = searcher
        self.extractive = extractive
        self.llm = llm
        self.prompts = prompts
        self.settings = settings

    @property
    def backend_name(self) -> str:
        """'llm' or 'extractive'."""
        return "llm" if self.llm else "extractive"

    def describe(self) -> str:
        """One line: which backend answers and how to switch."""
        if self.llm:
            where = self.settings.openai_base_url or "OpenAI"
            return (
                f"LLM backend: {self.llm.model_name} at {where} (falls back to the offline "
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
        condense_failure: LLMError | None = None
        # One wall-clock deadline for everything the LLM does for this answer.
        if deadline is None and self.llm:
            deadline = self.llm.start_deadline()
        if conversation and conversation.turns and is_follow_up(question):
            with timer.stage("condense"):
                standalone, condense_failure = self._standalone(
                    question, conversation, usage, deadline
                )
        with timer.stage("retrieve"):
            hits = self.searcher.search(standalone, k) if standalone else []
        notice: str | None = None
        backend, model = self.backend_name, self.llm.model_name if self.llm else None
        failure = condense_failure
        checked: CheckedAnswer | None = None
        if not hits:
            checked = CheckedAnswer(REFUSAL, True, [], ["nothing retrieved"])
        elif self.llm and failure is None:
            # A failed condense call already waited out its retries: no second LLM call then.
            try:
                checked = self._generate(standalone, hits, timer, usage, on_token, deadline)
            except LLMError as error:
                failure = error
        if checked is None:
            if failure is not None:
                notice = _fallback_notice(failure)
                backend, model = "extractive", None
            with timer.stage("generate"):
                checked = self.extractive.answer(standalone, [h.chunk for h in hits])
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
            backend=backend,
            model=model,
            notice=notice,
            standalone_question=standalone if standalone != question else None,
            usage=usage,
            timings_ms=timer.ms,
        )

    def _standalone(
        self,
        question: str,
        conversation: Conversation,
        usage: dict[str, int],
        deadline: float | None = None,
    ) -> tuple[str, LLMError | None]:
        """The follow-up as a standalone question, and the LLM error if condensing failed."""
        previous = conversation.last_question or ""
        if not self.llm:
            return expand_follow_up(question, previous), None
        prompt = self.prompts.condense.format(history=conversation.render(), question=question)
        try:
            generation = self.llm.generate([HumanMessage(prompt)], deadline=deadline)
        except LLMError as error:
            return expand_follow_up(question, previous), error
        _add_usage(usage, generation.usage)
        rewritten = generation.text.strip().strip('"').splitlines()
        return (rewritten[0].strip() if rewritten and rewritten[0].strip() else question), None

    def build_messages(
        self, question: str, hits: list[ScoredChunk]
    ) -> tuple[list[SystemMessage | HumanMessage], list[ScoredChunk]]:
        """The prompt messages for `question`, with the hits that fit the token budget."""
        encoding = encoding_for_model(self.llm.model_name if self.llm else None)
        kept, sources, _ = pack_sources(hits, self.settings.context_tokens, encoding)
        system = self.prompts.answer_system.format(refusal=REFUSAL)
        human = self.prompts.answer_human.format(sources=sources, question=question)
        return [SystemMessage(system), HumanMessage(human)], kept

    def _generate(
        self,
        question: str,
        hits: list[ScoredChunk],
        timer: Timer,
        usage: dict[str, int],
        on_token: TokenSink | None,
        deadline: float | None = None,
    ) -> CheckedAnswer:
        assert self.llm is not None
        with timer.stage("pack"):
            messages, kept = self.build_messages(question, hits)
        sources = [h.chunk for h in kept]
        stream = CheckedStream(sources, on_token) if on_token else None
        with timer.stage("generate"):
            generation = self.llm.generate(
                list(messages), stream.feed if stream else None, deadline=deadline
            )
            if stream:
                stream.finish()
        _add_usage(usage, generation.usage)
        with timer.stage("check"):
            return check_citations(generation.text, sources)


def _fallback_notice(error: LLMError) -> str:
    return f"The LLM failed ({error}); this is the offline extractive answer."


def _add_usage(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
