"""Answer backends: one Protocol, drafts with `[n]` markers, and fallback by composition.

A backend only drafts. The service runs `check_citations` on every draft, whichever backend
wrote it, so no backend can put an unchecked sentence in front of a user.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from langchain_core.messages import HumanMessage, SystemMessage

from bot.answering.budget import pack_sources
from bot.answering.citations import CheckedStream
from bot.answering.llm import LLMBackend
from bot.answering.prompts import REFUSAL, PromptSet
from bot.answering.question import ParsedQuestion
from bot.errors import LLMError
from bot.settings import LLMSettings
from retrieval.documents import Chunk, ScoredChunk
from retrieval.tokens import encoding_for_model

TokenSink = Callable[[str], None]


@dataclass
class Draft:
    """A backend's answer before the checks: sentences ending in `[n]`, n into `sources`."""

    text: str
    sources: list[Chunk]
    backend: str
    model: str | None = None
    notice: str | None = None  # one line for the user, e.g. the LLM failed and this is the fallback
    usage: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why the backend wrote nothing, for the log
    timings_ms: dict[str, float] = field(default_factory=dict)  # the backend's own stages


class Backend(Protocol):
    """Anything that drafts a cited answer from a parsed question and the retrieved passages."""

    @property
    def name(self) -> str:
        """'llm', 'extractive', … as `Answer.backend` reports it."""
        ...

    @property
    def model_name(self) -> str | None:
        """The model that writes the drafts, if any."""
        ...

    @property
    def streams(self) -> bool:
        """Whether `on_token` receives the answer while it is written."""
        ...

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: TokenSink | None = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """Draft the answer; raise LLMError when the model behind it fails.

        `failed` says the model already failed on this question (while condensing it): a
        backend that needs the model raises it again at once instead of a second call.
        `deadline` (monotonic seconds) is when the model's part of this answer must be done.
        """
        ...


class LLMAnswerBackend:
    """The LLM writes the answer from the packed sources, streaming checked sentences."""

    def __init__(self, *, llm: LLMBackend, prompts: PromptSet, settings: LLMSettings) -> None:
        self.llm = llm
        self.prompts = prompts
        self.settings = settings
        # The prompt's token counter, loaded now: built by the first questions, it made them
        # wait for it past their deadline when many arrived at once.
        self.encoding = encoding_for_model(llm.model_name)

    @property
    def name(self) -> str:
        """'llm'."""
        return "llm"

    @property
    def model_name(self) -> str | None:
        """The chat model's name."""
        return self.llm.model_name

    @property
    def streams(self) -> bool:
        """The LLM streams."""
        return True

    def build_messages(
        self, question: str, hits: Sequence[ScoredChunk]
    ) -> tuple[list[SystemMessage | HumanMessage], list[ScoredChunk]]:
        """The prompt messages for `question`, with the hits that fit the token budget."""
        kept, sources, _ = pack_sources(list(hits), self.settings.context_tokens, self.encoding)
        system = self.prompts.answer_system.format(refusal=REFUSAL)
        human = self.prompts.answer_human.format(sources=sources, question=question)
        return [SystemMessage(system), HumanMessage(human)], kept

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: TokenSink | None = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """Ask the model; what streams to `on_token` passes the checks sentence by sentence."""
        if failed is not None:
            raise failed
        started = time.perf_counter()
        messages, kept = self.build_messages(question.text, hits)
        pack_ms = (time.perf_counter() - started) * 1000
        sources = [h.chunk for h in kept]
        stream = CheckedStream(sources, on_token) if on_token else None
        generation = self.llm.generate(
            list(messages), stream.feed if stream else None, deadline=deadline
        )
        if stream:
            stream.finish()
        return Draft(
            generation.text,
            sources,
            self.name,
            self.model_name,
            usage=generation.usage,
            timings_ms={"pack": pack_ms},
        )


class Fallback:
    """`primary` drafts; when its model fails, `secondary` drafts instead, with a notice.

    The secondary's draft is started beside the primary's, not after it fails: a model that
    runs out the deadline then leaves no work to do before the user gets the fallback, however
    busy the machine is by then. The cost is one offline draft per question (milliseconds
    when warm) that is thrown away when the model answers.
    """

    def __init__(self, primary: Backend, secondary: Backend, *, workers: int = 4) -> None:
        self.primary = primary
        self.secondary = secondary
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fallback")

    @property
    def name(self) -> str:
        """The primary backend's name."""
        return self.primary.name

    @property
    def model_name(self) -> str | None:
        """The primary backend's model."""
        return self.primary.model_name

    @property
    def streams(self) -> bool:
        """Whether the primary streams."""
        return self.primary.streams

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: TokenSink | None = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """The primary's draft, or the secondary's when the primary fails."""
        started = time.perf_counter()
        prepared = self._pool.submit(self.secondary.draft, question, hits)
        try:
            draft = self.primary.draft(
                question, hits, on_token=on_token, failed=failed, deadline=deadline
            )
        except LLMError as error:
            failed_at = time.perf_counter()
            draft = prepared.result()
            draft.notice = f"The LLM failed ({error}); this is the offline {draft.backend} answer."
            # Where a late fallback's time went: the primary until it failed, then waiting for
            # the fallback's draft (nothing, when it was ready).
            draft.timings_ms["primary_failed"] = (failed_at - started) * 1000
            draft.timings_ms["fallback"] = (time.perf_counter() - failed_at) * 1000
            return draft
        prepared.cancel()  # not needed: drop it if it has not started yet
        return draft
