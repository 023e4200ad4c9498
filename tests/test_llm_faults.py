"""The fault suite for the LLM: the real client against a loopback server that misbehaves.

Drip (a few bytes or one token at a time, each within the read timeout), stall (a stream that
stops), malformed JSON, 429 with Retry-After, 500, 401: every one ends in the extractive answer
with a notice, within the one wall-clock deadline.
"""

from __future__ import annotations

import threading
import time

import pytest
from fake_openai import FakeOpenAI, fake_openai, seed_answerer, with_llm

from bot.answering.conversation import Conversation
from bot.answering.service import Answerer
from bot.settings import load_settings

__all__ = ["fake_openai", "seed_answerer"]  # fixtures, imported so pytest finds them

QUESTION = "How many people did the Thai-Cambodian border dispute displace?"
DEADLINE_S = 3.0
# The extractive fallback and the client's own set-up on a loaded 2-CPU machine.
SLACK_S = 3.0
pytestmark = pytest.mark.slow


@pytest.fixture
def answerer(
    seed_answerer: Answerer, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Answerer:
    """The seed answerer over the fake server: 2 s per read, one retry, a 3 s deadline."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("CITEBOT_LLM_TIMEOUT", "2")
    monkeypatch.setenv("CITEBOT_LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("CITEBOT_LLM_DEADLINE", str(DEADLINE_S))
    return with_llm(seed_answerer, load_settings(env_file=None))


@pytest.fixture(scope="module")
def long_reply(seed_answerer: Answerer) -> str:
    hits = seed_answerer.searcher.search(QUESTION)
    n = next(i for i, hit in enumerate(hits, start=1) if "300,000" in hit.chunk.text)
    sentence = f"The dispute displaced an estimated 300,000 people [{n}]."
    return " ".join([sentence] * 6)


def timed(call: object) -> tuple[object, float]:
    started = time.monotonic()
    result = call()  # type: ignore[operator]
    return result, time.monotonic() - started


def assert_fallback(answer: object, reason: str) -> None:
    assert answer.backend == "extractive"  # type: ignore[attr-defined]
    assert answer.notice is not None and reason in answer.notice  # type: ignore[attr-defined]
    assert "300,000" in answer.text  # type: ignore[attr-defined]


def test_a_dripping_server_is_cut_at_the_deadline(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    # 20 bytes a second: every read is well inside the 2 s read timeout, the reply takes minutes.
    fake_openai.reply(long_reply, drip_s=1.0)
    answer, elapsed = timed(lambda: answerer.answer(QUESTION))
    assert elapsed < DEADLINE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert_fallback(answer, "deadline")
    assert len(fake_openai.requests) == 1  # past the deadline nothing is retried


def test_a_dripping_stream_shows_nothing_after_the_deadline(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    fake_openai.reply(long_reply, drip_s=0.2)  # one word every 0.2 s: about 10 s in all
    pieces: list[tuple[float, str]] = []
    started = time.monotonic()
    answer, elapsed = timed(
        lambda: answerer.answer(
            QUESTION, on_token=lambda p: pieces.append((time.monotonic() - started, p))
        )
    )
    assert elapsed < DEADLINE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert pieces, "sentences that passed the checks before the deadline are shown"
    assert all(at <= DEADLINE_S + 0.5 for at, _ in pieces)
    assert_fallback(answer, "deadline")


def test_a_stalled_stream_falls_back_within_the_deadline(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    fake_openai.reply(long_reply, stall_after=3)
    answer, elapsed = timed(lambda: answerer.answer(QUESTION, on_token=lambda _: None))
    assert elapsed < DEADLINE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert answer.backend == "extractive" and answer.notice is not None  # type: ignore[attr-defined]


def test_a_malformed_reply_falls_back(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    fake_openai.reply(long_reply, malformed=True)
    fake_openai.reply(long_reply, malformed=True)
    answer, elapsed = timed(lambda: answerer.answer(QUESTION))
    assert elapsed < DEADLINE_S + SLACK_S
    assert answer.backend == "extractive" and answer.notice is not None  # type: ignore[attr-defined]
    assert "300,000" in answer.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        (429, {"Retry-After": "30"}, "429"),
        (500, {}, "500"),
        (401, {}, "401"),
    ],
)
def test_status_faults_fall_back_within_the_deadline(
    answerer: Answerer,
    fake_openai: FakeOpenAI,
    status: int,
    headers: dict[str, str],
    reason: str,
) -> None:
    fake_openai.fail(status, "nope", headers=headers)
    fake_openai.fail(status, "nope", headers=headers)
    answer, elapsed = timed(lambda: answerer.answer(QUESTION))
    assert elapsed < DEADLINE_S + SLACK_S
    assert_fallback(answer, reason)
    if status == 401:
        assert len(fake_openai.requests) == 1  # a refused key is never retried


def test_the_follow_up_and_the_answer_share_one_deadline(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    # The condense call takes 2 s (inside its read timeout), the answer call drips: together
    # they must still stop at one deadline, not one each.
    fake_openai.reply(QUESTION, delay_s=2.0)
    fake_openai.reply(long_reply, drip_s=1.0)
    conversation = Conversation()
    conversation.add(QUESTION, "An estimated 300,000 people [1].")
    answer, elapsed = timed(lambda: answerer.answer("and how many exactly?", conversation))
    assert elapsed < DEADLINE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert answer.backend == "extractive"  # type: ignore[attr-defined]


def test_no_helper_threads_pile_up_after_deadlines(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    for _ in range(3):
        fake_openai.reply(long_reply, drip_s=0.3)
        answerer.answer(QUESTION, on_token=lambda _: None)
    time.sleep(1.0)  # the helpers notice the deadline at their next streamed chunk
    alive = [t for t in threading.enumerate() if t.name == "citebot-llm"]
    assert len(alive) == 0, alive


def test_a_deadline_already_spent_waiting_goes_straight_to_the_fallback(
    answerer: Answerer, fake_openai: FakeOpenAI, long_reply: str
) -> None:
    # A Telegram question that waited for a free answer slot past its deadline.
    fake_openai.reply(long_reply)
    answer = answerer.answer(QUESTION, deadline=time.monotonic() - 1)
    assert fake_openai.requests == []
    assert_fallback(answer, "deadline")
