"""What the Telegram handlers keep between updates: a per-user quota and each chat's memory."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from bot.answering.answer import Answer
from bot.answering.conversation import Conversation
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.answering.service import Answerer

T = TypeVar("T")

STATE_KEY = "citebot"  # where the BotState lives in `application.bot_data`
MAX_CHATS = 1000  # chats whose memory is kept; the least recently used is forgotten first
KEPT_ANSWERS = 20  # answers per chat whose source buttons still work
# The LLM stops this long before the user's deadline at least, so the extractive fallback,
# formatting and sending land within it: 15% of the deadline, 1 to 5 s.
FALLBACK_RESERVE_SHARE = 0.15
FALLBACK_RESERVE_MIN_S, FALLBACK_RESERVE_MAX_S = 1.0, 5.0
# Beyond that floor, the reserve covers the slowest recent finish (LLM stop to reply sent) with
# this margin: the fallback is CPU work, and under load it takes longer than on a quiet machine.
RESERVE_MARGIN = 1.25
RESERVE_WINDOW = 50  # recent finishes the reserve is sized from
KEPT_TIMINGS = 1000


class Quota:
    """A sliding one-minute window of questions per user."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}

    def wait_for(self, user_id: int) -> float:
        """Seconds until `user_id` may ask again (0: allowed now, and counted)."""
        now = self._clock()
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - 60:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return asked[0] + 60 - now
        asked.append(now)
        if len(self._asked) > 10 * MAX_CHATS:  # keep only users seen in the last minute
            self._asked = {user: times for user, times in self._asked.items() if times}
        return 0.0


@dataclass(frozen=True)
class AnswerTiming:
    """Where one answer's time went, in seconds from the question's arrival."""

    waited: float  # until a free answer slot
    made: float  # until the answer service returned
    sent: float  # until its last message was sent
    llm_stop: float  # when the LLM had to stop
    fallback: bool  # the answer carries a notice (the extractive fallback)

    @property
    def finish(self) -> float:
        """Seconds from the LLM's stop to the reply sent: what the reserve must cover."""
        return self.sent - self.llm_stop


class AnswerTimes:
    """The door's own measure of its answers; the LLM's reserve is sized from it.

    The LLM is given the user's deadline less a reserve for what runs after it stops (the
    extractive fallback, formatting, sending). A fixed reserve was measured on one machine at one
    load; this one also covers the slowest finish seen recently, so a loaded machine that slows
    the fallback down takes its time from the LLM, not from the user.
    """

    def __init__(self) -> None:
        self.recent: deque[AnswerTiming] = deque(maxlen=KEPT_TIMINGS)

    def note(self, timing: AnswerTiming) -> None:
        """Record one answer delivered."""
        self.recent.append(timing)

    def reserve(self, deadline_s: float) -> float:
        """Seconds the LLM stops before the deadline: the floor, or the slowest recent finish."""
        floor = min(
            FALLBACK_RESERVE_MAX_S,
            max(FALLBACK_RESERVE_MIN_S, FALLBACK_RESERVE_SHARE * deadline_s),
        )
        window = list(self.recent)[-RESERVE_WINDOW:]
        slowest = max((t.finish for t in window), default=0.0)
        return max(floor, slowest * RESERVE_MARGIN)


@dataclass
class ChatMemory:
    """One chat's conversation, its recent answers (for source buttons) and its answer lock."""

    conversation: Conversation
    answers: OrderedDict[int, Answer] = field(default_factory=OrderedDict)
    # One answer at a time per chat, so follow-ups see the previous turn and replies stay ordered.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def remember(self, answer_id: int, answer: Answer) -> None:
        """Keep an answer for its buttons and /sources, forgetting the oldest beyond the bound."""
        self.answers[answer_id] = answer
        while len(self.answers) > KEPT_ANSWERS:
            self.answers.popitem(last=False)

    @property
    def last_answer(self) -> Answer | None:
        """The most recent answer in this chat, if any is remembered."""
        return next(reversed(self.answers.values()), None)


@dataclass
class BotState:
    """What the handlers share: settings, the answer service, and bounded per-chat memory."""

    settings: Settings
    answerer: Answerer
    quota: Quota
    executor: ThreadPoolExecutor | None = None
    chats: OrderedDict[int, ChatMemory] = field(default_factory=OrderedDict)
    answer_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # How many answers may run at once (set below the thread count by the app).
    answer_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    times: AnswerTimes = field(default_factory=AnswerTimes)

    def memory(self, chat_id: int) -> ChatMemory:
        """This chat's memory, created on first use; the least recently used chat is dropped."""
        memory = self.chats.get(chat_id)
        if memory is None:
            memory = ChatMemory(Conversation(max_tokens=self.settings.llm.history_tokens))
            self.chats[chat_id] = memory
            while len(self.chats) > MAX_CHATS:
                self.chats.popitem(last=False)
        self.chats.move_to_end(chat_id)
        return memory

    def is_allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        """Whether to answer here: both allow-lists empty (--public), or this chat may ask.

        A private chat (its id is the user's id) may ask when the user or the chat is listed.
        In a group everyone reads the answers, so the group itself must be on the chat list:
        an allowed user cannot pull private documents into an unlisted group.
        """
        telegram = self.settings.telegram
        if not telegram.allowed_users and not telegram.allowed_chats:
            return True
        if chat_id is not None and chat_id != user_id:
            return chat_id in telegram.allowed_chats
        return user_id in telegram.allowed_users or chat_id in telegram.allowed_chats

    async def run(self, call: Callable[[], T]) -> T:
        """Run blocking work on the answer threads, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)
