"""The real ChatOpenAI / openai client against a loopback OpenAI-compatible server."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from fake_openai import FakeOpenAI, fake_openai, seed_answerer, split_pieces, with_llm
from langchain_openai import ChatOpenAI

from bot.answering.conversation import Conversation
from bot.answering.llm import describe_error, make_chat_model
from bot.answering.prompts import REFUSAL
from bot.answering.service import Answerer
from bot.errors import ConfigError
from bot.settings import LLMSettings, Settings, load_settings
from bot.wiring import make_llm_backend

__all__ = ["fake_openai", "seed_answerer"]  # fixtures, imported so pytest finds them

KEY = "sk-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
QUESTION = "How many people did the Thai-Cambodian border dispute displace?"
NEWS = "000_a03238ee93841bab.txt"
# The promise: a server that accepts the request and never answers costs at most this.
WORST_CASE_BUDGET_S = 60.0
pytestmark = pytest.mark.slow


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAI) -> FakeOpenAI:
    """Settings pointing at the fake server: 1 s per try, one retry."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("CITEBOT_CHAT_MODEL", "fake-model")
    monkeypatch.setenv("CITEBOT_LLM_TIMEOUT", "1")
    monkeypatch.setenv("CITEBOT_LLM_MAX_RETRIES", "1")
    return fake_openai


@pytest.fixture
def answerer(seed_answerer: Answerer, llm_env: FakeOpenAI) -> Answerer:
    """The seed-corpus answerer with the LLM backend the environment configures."""
    return with_llm(seed_answerer, load_settings(env_file=None))


@pytest.fixture(scope="module")
def cited_reply(seed_answerer: Answerer) -> str:
    hits = seed_answerer.searcher.search(QUESTION)
    n = next(i for i, hit in enumerate(hits, start=1) if "300,000" in hit.chunk.text)
    return f"The dispute displaced an estimated 300,000 people [{n}]."


def assert_key_never_leaked(*texts: str | None, caplog: pytest.LogCaptureFixture) -> None:
    for text in texts:
        assert KEY not in (text or "")
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in str(record.args)
    assert KEY not in caplog.text


def test_answer_through_the_real_client(
    answerer: Answerer, llm_env: FakeOpenAI, cited_reply: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm_env.reply(cited_reply)

    answer = answerer.answer(QUESTION)

    assert (answer.backend, answer.model, answer.notice) == ("llm", "fake-model", None)
    assert answer.text == cited_reply
    assert answer.citations[0].source == NEWS
    assert answer.usage["total_tokens"] == 18
    [request] = llm_env.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "fake-model"
    assert not request.body.get("stream")
    assert request.body.get("max_completion_tokens", request.body.get("max_tokens")) == 512
    system, human = request.body["messages"]
    assert system["role"] == "system" and REFUSAL in system["content"]
    assert human["role"] == "user" and '<source n="1"' in human["content"]
    assert_key_never_leaked(answer.text, caplog=caplog)


def test_streaming_through_the_real_client(
    answerer: Answerer, llm_env: FakeOpenAI, cited_reply: str
) -> None:
    llm_env.reply(cited_reply)
    pieces: list[str] = []

    answer = answerer.answer(QUESTION, on_token=pieces.append)

    # The server sent it piece by piece; the user sees it sentence by sentence, once checked.
    assert len(split_pieces(cited_reply)) > 1
    assert "".join(pieces).strip() == cited_reply
    assert answer.text == cited_reply and answer.backend == "llm"
    assert answer.usage["total_tokens"] == 18  # from the final usage chunk
    [request] = llm_env.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}


def test_server_error_is_retried_then_falls_back(
    answerer: Answerer, llm_env: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    llm_env.fail(500, "upstream exploded")
    llm_env.fail(500, "upstream exploded")

    answer = answerer.answer(QUESTION)

    assert len(llm_env.requests) == 2  # CITEBOT_LLM_MAX_RETRIES=1: one retry
    assert answer.backend == "extractive" and answer.model is None
    assert answer.notice is not None and "\n" not in answer.notice
    assert "(500)" in answer.notice and "extractive" in answer.notice
    assert "300,000" in answer.text and answer.citations
    assert "LLM call failed: the model server failed (500)" in caplog.text


def test_streaming_failure_falls_back_before_any_token(
    answerer: Answerer, llm_env: FakeOpenAI
) -> None:
    llm_env.fail(502, "bad gateway")
    llm_env.fail(502, "bad gateway")
    pieces: list[str] = []

    answer = answerer.answer(QUESTION, on_token=pieces.append)

    assert pieces == []
    assert llm_env.requests[0].body["stream"] is True
    assert answer.notice is not None and "(502)" in answer.notice
    assert answer.backend == "extractive" and "300,000" in answer.text


def test_rate_limit_is_retried_and_can_succeed(
    answerer: Answerer, llm_env: FakeOpenAI, cited_reply: str
) -> None:
    llm_env.fail(429, "slow down")
    llm_env.reply(cited_reply)

    answer = answerer.answer(QUESTION)

    assert len(llm_env.requests) == 2
    assert answer.backend == "llm" and answer.notice is None
    assert answer.text == cited_reply


def test_bad_key_is_not_retried_and_never_shown(
    answerer: Answerer, llm_env: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Real servers echo (part of) the rejected key; none of it may reach the user or the log.
    llm_env.fail(401, f"Incorrect API key provided: {KEY}.")

    answer = answerer.answer(QUESTION)

    assert len(llm_env.requests) == 1  # a 401 is never retried
    assert answer.notice is not None
    assert "OPENAI_API_KEY" in answer.notice and "401" in answer.notice
    assert answer.backend == "extractive" and "300,000" in answer.text
    assert_key_never_leaked(answer.text, answer.notice, str(answer.to_dict()), caplog=caplog)


def test_slow_server_falls_back_within_bounded_time(
    answerer: Answerer, llm_env: FakeOpenAI, cited_reply: str
) -> None:
    llm_env.reply(cited_reply, delay_s=10)
    llm_env.reply(cited_reply, delay_s=10)

    started = time.monotonic()
    answer = answerer.answer(QUESTION)
    elapsed = time.monotonic() - started

    # Two 1 s tries and a backoff under 1 s, plus the extractive answer; a missing timeout
    # would wait for the 10 s reply (or the client's own 10 minutes).
    assert elapsed < 8, f"took {elapsed:.1f} s"
    assert len(llm_env.requests) == 2
    assert answer.notice is not None and "did not answer in time" in answer.notice
    assert answer.backend == "extractive" and "300,000" in answer.text


def test_slow_server_costs_one_timeout_for_a_follow_up(
    seed_answerer: Answerer, llm_env: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEBOT_LLM_MAX_RETRIES", "0")
    answerer = with_llm(seed_answerer, load_settings(env_file=None))
    llm_env.default.delay_s = 10  # every request hangs
    conversation = Conversation()
    conversation.add(QUESTION, "An estimated 300,000 people [1].")

    started = time.monotonic()
    answer = answerer.answer("and since when?", conversation)
    elapsed = time.monotonic() - started

    assert len(llm_env.requests) == 1  # the condense call timed out; no second wait
    assert elapsed < 6, f"took {elapsed:.1f} s"
    assert answer.backend == "extractive" and answer.notice is not None


def test_connection_refused_falls_back(
    seed_answerer: Answerer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request: nothing listens
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("CITEBOT_LLM_MAX_RETRIES", "0")

    answer = with_llm(seed_answerer, load_settings(env_file=None)).answer(QUESTION)

    assert answer.notice is not None and "cannot reach the model server" in answer.notice
    assert answer.backend == "extractive" and "300,000" in answer.text


# --- configuration -----------------------------------------------------------------------------


def test_chat_model_carries_the_bounds_from_settings() -> None:
    settings = LLMSettings(
        _env_file=None,  # type: ignore[call-arg]
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        CITEBOT_LLM_TIMEOUT=7,
        CITEBOT_LLM_MAX_RETRIES=1,
        CITEBOT_MAX_TOKENS=300,
    )

    model = make_chat_model(settings)
    backend = make_llm_backend(Settings(llm=settings), None)

    assert isinstance(model, ChatOpenAI)
    assert (model.request_timeout, model.max_tokens) == (7, 300)
    # The client's own retries are off: the backend retries, under its deadline.
    assert model.max_retries == 0 and model.root_client.max_retries == 0
    assert backend is not None
    assert (backend.timeout_s, backend.max_retries, backend.deadline_s) == (7, 1, 55)
    assert model.stream_usage is True
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def test_unconfigured_llm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_chat_model(LLMSettings(_env_file=None))  # type: ignore[call-arg]


def test_default_settings_bound_a_silent_server_to_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CITEBOT_LLM_TIMEOUT", "CITEBOT_LLM_MAX_RETRIES", "CITEBOT_LLM_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    settings = LLMSettings(_env_file=None)  # type: ignore[call-arg]

    # Every try is cut at min(timeout, time left before the deadline), and no retry starts
    # past it, so the deadline bounds the whole call whatever the server does.
    assert settings.deadline_s < WORST_CASE_BUDGET_S
    assert settings.timeout_s <= settings.deadline_s
    with pytest.raises(ValueError):
        LLMSettings(_env_file=None, CITEBOT_LLM_DEADLINE=90)  # type: ignore[call-arg]


def test_deadline_cuts_retries_short(
    seed_answerer: Answerer, llm_env: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEBOT_LLM_MAX_RETRIES", "10")
    monkeypatch.setenv("CITEBOT_LLM_DEADLINE", "2.5")
    answerer = with_llm(seed_answerer, load_settings(env_file=None))
    llm_env.default.delay_s = 10  # every request hangs

    started = time.monotonic()
    answer = answerer.answer(QUESTION)
    elapsed = time.monotonic() - started

    # Ten retries of 1 s each would take over 10 s; the 2.5 s deadline stops them.
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert 1 <= len(llm_env.requests) <= 3
    assert answer.backend == "extractive" and answer.notice is not None


def test_a_long_retry_after_is_not_waited_for(answerer: Answerer, llm_env: FakeOpenAI) -> None:
    llm_env.fail(429, "slow down", headers={"Retry-After": "120"})

    started = time.monotonic()
    answer = answerer.answer(QUESTION)
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert len(llm_env.requests) == 1
    assert answer.notice is not None and "429" in answer.notice


def test_a_short_retry_after_is_honoured(
    answerer: Answerer, llm_env: FakeOpenAI, cited_reply: str
) -> None:
    llm_env.fail(429, "slow down", headers={"Retry-After": "0.2"})
    llm_env.reply(cited_reply)

    answer = answerer.answer(QUESTION)

    assert len(llm_env.requests) == 2
    assert answer.backend == "llm" and answer.notice is None and "300,000" in answer.text


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "the API key was refused (401): check OPENAI_API_KEY"),
        (403, "the API refused access (403)"),
        (404, "the model or URL was not found (404)"),
        (429, "rate-limited by the API (429)"),
        (503, "the model server failed (503)"),
    ],
)
def test_status_errors_get_a_one_line_reason(
    status: int, reason: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail(status, f"nope, {KEY}")
    client = make_chat_model(
        LLMSettings(
            _env_file=None,  # type: ignore[call-arg]
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=fake_openai.base_url,
            CITEBOT_LLM_MAX_RETRIES=0,
        )
    )

    with pytest.raises(Exception) as raised:
        client.invoke("hello")

    described = describe_error(raised.value)
    assert described.startswith(reason)
    assert "\n" not in described and KEY not in described
