"""The Telegram bot end to end: the real PTB application against a Bot API emulator (npm)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from conftest import SEED_CORPUS, SETTING_NAMES
from telegram_emulator import (
    BOT_USERNAME,
    CORPUS_SOURCE,
    ChatUser,
    Emulator,
    FakeAnswerer,
    Recording,
    bot_session,
    emulator_installed,
    new_token,
    running_bot,
    telegram_settings,
)

from bot.answering.prompts import REFUSAL

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not emulator_installed(), reason="run `npm ci --prefix tests` first"),
]

ALICE, BOB, MALLORY = 1001, 1002, 6666
CORPUS_QUESTION = "How many detained Cambodian soldiers will Thailand release under the peace deal?"
FOLLOW_UP = "And how many were released?"
GROUP = -200


@pytest.fixture(scope="module")
def real_answerer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real answer service (MiniLM, Chroma, BM25, extractive backend) on the seed corpus."""
    from bot.settings import LLMSettings, Settings
    from bot.wiring import build_answerer
    from retrieval.config import PathSettings

    with pytest.MonkeyPatch.context() as patch:
        for name in SETTING_NAMES:
            patch.delenv(name, raising=False)
        patch.setenv("HF_HUB_OFFLINE", "1")
        settings = Settings(
            paths=PathSettings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=tmp_path_factory.mktemp("telegram-data"),
                corpus_dir=SEED_CORPUS,
            ),
            llm=LLMSettings(_env_file=None, backend="extractive"),  # type: ignore[call-arg]
        )
        answerer = build_answerer(settings)
        answerer.answer(CORPUS_QUESTION)  # load the model before the first timed test
        return answerer


def user(
    emulator: Emulator, http: httpx.AsyncClient, token: str, user_id: int = ALICE, **chat: object
) -> ChatUser:
    return ChatUser(emulator, token, http, user_id=user_id, **chat)  # type: ignore[arg-type]


async def test_corpus_question_answered_with_citation_sources_and_buttons(
    emulator: Emulator, real_answerer: Any
) -> None:
    async with bot_session(emulator, real_answerer, allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send(CORPUS_QUESTION)
        [reply] = await alice.replies(1)
        assert reply.parse_mode == "HTML"
        assert "18" in reply.text
        assert "[1]" in reply.text
        assert "<b>Sources</b>\n[1] <b>US leaders tout military" in reply.text
        assert f"<code>{CORPUS_SOURCE}</code>\n<i>“" in reply.text
        labels = [label for label, _ in reply.buttons]
        assert labels[0].startswith("[1] US leaders tout")
        # [n] is the source's number among the retrieved chunks: increasing, not always 1, 2, …
        numbers = [int(label[1 : label.index("]")]) for label in labels]
        assert numbers == sorted(set(numbers))
        assert all(
            label.startswith(f"[{n}] ") and f"[{n}]" in reply.text
            for n, label in zip(numbers, labels, strict=True)
        )

        for label, data in reply.buttons:
            await alice.tap(reply, data)
            [quote] = await alice.replies(1)
            assert quote.text.startswith(label.split()[0] + " ")
            assert "<blockquote>" in quote.text
        assert "18 detained Cambodian soldiers" in reply.text + quote.text


async def test_document_and_model_text_is_escaped(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("What did Hegseth say in the ASEAN trip?")
        [reply] = await alice.replies(1)
        assert "&lt;cooperation&gt;" in reply.text
        assert "its allies &amp;…”</i>" in reply.text  # short quote, cut at a word
        assert reply.buttons == [("[1] US leaders tout military <cooperati…", "quote:1:1")]
        await alice.tap(reply, "quote:1:1")
        [quote] = await alice.replies(1)
        assert "allies &amp; opposition to &lt;Chinese&gt; expansionism.</blockquote>" in quote.text


async def test_unanswerable_question_is_refused_with_places_to_look(
    emulator: Emulator, real_answerer: Any
) -> None:
    async with bot_session(emulator, real_answerer, allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("What did Hegseth say about Myanmar's civil war?")
        [reply] = await alice.replies(1)
        # The fixed refusal, then the closest documents as places to look, never as sources.
        refusal, _, places = reply.text.partition("\n\n")
        assert refusal == REFUSAL
        assert "Closest passages, places to look" in places.split("\n")[0]
        assert "000_a03238ee93841bab.txt" in places and "[1]" not in places
        assert reply.buttons == []


async def test_disallowed_user_gets_one_refusal_and_nothing_is_asked(
    emulator: Emulator, real_answerer: Any
) -> None:
    answerer = Recording(real_answerer)
    async with bot_session(emulator, answerer, allowed_users=[ALICE]) as (_, http, token):
        mallory = user(emulator, http, token, MALLORY)
        await mallory.send(CORPUS_QUESTION)
        [reply] = await mallory.replies(1)
        assert "only for the people it was set up for" in reply.text
        assert str(MALLORY) in reply.text
        assert answerer.calls == []

        alice = user(emulator, http, token, ALICE)
        await alice.send(CORPUS_QUESTION)
        [answer] = await alice.replies(1)
        assert "[1]" in answer.text
        assert len(answerer.calls) == 1


async def test_group_answers_only_when_mentioned_replied_or_asked(emulator: Emulator) -> None:
    answerer = FakeAnswerer()  # echoes the question it got, so mention stripping shows
    async with bot_session(emulator, answerer, allowed_chats=[GROUP]) as (_, http, token):
        member = user(emulator, http, token, BOB, chat_id=GROUP, chat_type="group")
        await member.send("Hegseth was in Asia last week, right?")
        assert await member.silence() == []
        assert answerer.calls == []

        await member.send(f"@{BOT_USERNAME} what did Hegseth say?")
        [reply] = await member.replies(1)
        assert "[1]" in reply.text
        assert answerer.calls[-1][0] == "what did Hegseth say?"

        await member.send("And ASEAN?", reply_to=reply)
        [reply_answer] = await member.replies(1)
        assert "asked: And ASEAN?" in reply_answer.text

        await member.send(f"/ask@{BOT_USERNAME} What about Hegseth?")
        [asked] = await member.replies(1)
        assert "asked: What about Hegseth?" in asked.text
        assert len(answerer.calls) == 3


async def test_long_answer_is_split_at_boundaries(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("Give me the long version")
        parts = await alice.replies(2)
        assert len(parts) >= 2
        for part in parts:
            assert len(part.text) <= 4096
            assert part.text.count("<b>") == part.text.count("</b>")
            assert part.text.count("<i>") == part.text.count("</i>")
            # cut at paragraph or sentence ends only
            assert part.text.rstrip().endswith((".", "</i>", "</b>"))
        # buttons go on the last part, the Sources block ends the answer
        assert [bool(p.buttons) for p in parts] == [False] * (len(parts) - 1) + [True]
        assert "<b>Sources</b>" in parts[-1].text
        assert sum(p.text.count("[1]") for p in parts) == 6 * 40 + 1  # + the Sources entry


async def test_reset_forgets_the_conversation_and_follow_ups_use_it(
    emulator: Emulator, real_answerer: Any
) -> None:
    from bot.doors.telegram.state import STATE_KEY

    async with bot_session(emulator, real_answerer, allowed_users=[ALICE]) as (app, http, token):
        alice = user(emulator, http, token)
        memory = app.bot_data[STATE_KEY].memory(ALICE)
        await alice.send(CORPUS_QUESTION)
        await alice.replies(1)
        await alice.send(FOLLOW_UP)
        await alice.replies(1)
        assert len(memory.conversation.turns) == 2
        assert memory.last_answer.standalone_question.startswith(FOLLOW_UP + " (")

        await alice.send("/reset")
        [done] = await alice.replies(1)
        assert "forgotten" in done.text
        assert memory.conversation.turns == []

        await alice.send(FOLLOW_UP)
        await alice.replies(1)
        assert memory.last_answer.standalone_question is None  # nothing to follow up on
        assert len(memory.conversation.turns) == 1


async def test_sources_command_shows_last_answer_sources_in_full(
    emulator: Emulator, real_answerer: Any
) -> None:
    async with bot_session(emulator, real_answerer, allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("/sources")
        [nothing] = await alice.replies(1)
        assert "No answer yet" in nothing.text

        await alice.send(CORPUS_QUESTION)
        await alice.replies(1)
        await alice.send("/sources")
        [full] = await alice.replies(1)
        assert full.text.startswith("[1] <b>US leaders tout military")
        assert f"<code>{CORPUS_SOURCE}</code>\n<blockquote>" in full.text
        assert "18 detained Cambodian soldiers" in full.text


async def test_two_chats_are_answered_at_once(emulator: Emulator) -> None:
    answerer = FakeAnswerer(delay=1.0)
    async with bot_session(emulator, answerer, allowed_users=[ALICE, BOB]) as (_, http, token):
        alice, bob = user(emulator, http, token, ALICE), user(emulator, http, token, BOB)
        started = time.monotonic()
        await asyncio.gather(alice.send("Hegseth?"), bob.send("ASEAN?"))
        a, b = await asyncio.gather(alice.replies(1, settle=0), bob.replies(1, settle=0))
        elapsed = time.monotonic() - started
        assert "asked: Hegseth?" in a[0].text
        assert "asked: ASEAN?" in b[0].text
        assert elapsed < 1.9, f"answers were serialised: {elapsed:.2f} s"


async def test_start_and_help(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("/start")
        [hello] = await alice.replies(1)
        assert "2 documents" in hello.text
        assert "Backend: extractive" in hello.text
        assert FakeAnswerer().stats().location not in hello.text  # no server paths to users
        await alice.send("/help")
        [help_text] = await alice.replies(1)
        assert "/sources" in help_text.text and "/reset" in help_text.text


async def test_hints_for_non_text_and_long_messages(emulator: Emulator) -> None:
    answerer = FakeAnswerer()
    async with bot_session(emulator, answerer, allowed_users=[ALICE], max_question_chars=50) as (
        _,
        http,
        token,
    ):
        alice = user(emulator, http, token)
        await alice.send_photo()
        [photo] = await alice.replies(1)
        assert "only read text" in photo.text

        await alice.send("Hegseth? " * 10)
        [too_long] = await alice.replies(1)
        assert "89 characters long" in too_long.text
        assert answerer.calls == []


async def test_quota_message(emulator: Emulator) -> None:
    answerer = FakeAnswerer()
    async with bot_session(emulator, answerer, allowed_users=[ALICE], questions_per_minute=1) as (
        _,
        http,
        token,
    ):
        alice = user(emulator, http, token)
        await alice.send("Hegseth?")
        await alice.replies(1, settle=0)
        await alice.send("ASEAN?")
        [over] = await alice.replies(1)
        assert "1 questions in the last minute" in over.text
        assert len(answerer.calls) == 1


async def test_llm_failure_notice_and_errors_never_show_a_traceback(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("fallback please")
        [fallback] = await alice.replies(1)
        assert fallback.text.startswith("<i>⚠️ The LLM failed (timeout)")

        await alice.send("boom")
        [sorry] = await alice.replies(1)
        assert sorry.text.startswith("Sorry, something went wrong")
        assert "Traceback" not in sorry.text and "secret internal detail" not in sorry.text

        # The index unreachable (a Chroma server down): a polite line, nothing about servers.
        await alice.send("index down")
        [unavailable] = await alice.replies(1)
        assert unavailable.text.startswith("Sorry, I cannot reach my documents right now")
        assert "Chroma" not in unavailable.text and "127.0.0.1" not in unavailable.text


async def test_flood_wait_is_waited_out_not_dropped(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.fail_next("flood", 1)
        started = time.monotonic()
        await alice.send("Hegseth?")
        [reply] = await alice.replies(1)
        assert "[1]" in reply.text
        assert time.monotonic() - started >= 1.0  # Telegram's retry_after was honoured


async def test_rejected_html_is_resent_as_plain_text(emulator: Emulator) -> None:
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.fail_next("html", 1)
        await alice.send("Hegseth?")
        [reply] = await alice.replies(1)
        assert reply.parse_mode is None
        assert "<b>" not in reply.text
        assert "Sources\n[1] US leaders tout military <cooperation>" in reply.text


async def test_token_never_appears_in_logs(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with bot_session(emulator, FakeAnswerer(), allowed_users=[ALICE]) as (_, http, token):
        alice = user(emulator, http, token)
        await alice.send("Hegseth?")
        await alice.replies(1)
        await alice.send("boom")  # an error with a traceback in the log
        await alice.replies(1)
    formatter = logging.Formatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any("Error while handling update" in line for line in lines)
    assert len(lines) > 10
    secret = token.split(":")[1]
    assert not [line for line in lines if secret in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_webhook_refuses_updates_without_the_secret(emulator: Emulator) -> None:
    from bot.doors.telegram.app import build_application, webhook_options

    answerer = FakeAnswerer()
    token = new_token()
    application = build_application(
        telegram_settings(emulator, token, allowed_users=[ALICE]), answerer
    )
    port = _free_port()
    options = webhook_options(f"http://127.0.0.1:{port}/citebot", "127.0.0.1", port)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
            "from": {"id": ALICE, "is_bot": False, "first_name": "Alice"},
            "text": "Hegseth?",
        },
    }
    await application.initialize()
    await application.updater.start_webhook(**options)
    await application.start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"http://127.0.0.1:{port}/citebot"
            missing = await http.post(url, json=update)
            wrong = await http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
            assert (missing.status_code, wrong.status_code) == (403, 403)
            alice = user(emulator, http, token)
            assert await alice.silence(0.5) == []
            assert answerer.calls == []

            right = await http.post(
                url,
                json={**update, "update_id": 2},
                headers={"X-Telegram-Bot-Api-Secret-Token": options["secret_token"]},
            )
            assert right.status_code == 200
            [reply] = await alice.replies(1)
            assert "[1]" in reply.text
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def test_starts_although_the_command_menu_fails(emulator: Emulator) -> None:
    """post_init publishes commands best effort: the emulator lacks setMyCommands."""
    from bot.doors.telegram.app import build_application

    application = build_application(
        telegram_settings(emulator, new_token(), allowed_users=[ALICE]), FakeAnswerer()
    )
    async with running_bot(application):
        assert application.bot.username == BOT_USERNAME


class SlowCountingAnswerer(FakeAnswerer):
    """A FakeAnswerer whose answers block like a slow model, counting how many run at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def answer(self, question: str, conversation: Any = None, **options: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().answer(question, conversation, **options)
        finally:
            with self._lock:
                self.running -= 1


async def test_a_slow_model_never_holds_every_thread_and_help_stays_quick(
    emulator: Emulator,
) -> None:
    from bot.doors.telegram.app import ANSWER_SLOTS, ANSWER_THREADS

    assert ANSWER_SLOTS < ANSWER_THREADS
    slow = SlowCountingAnswerer(delay=2.0)
    askers = [2000 + i for i in range(ANSWER_THREADS + 2)]
    async with bot_session(emulator, slow, allowed_users=[*askers, ALICE]) as (_, http, token):
        users = [user(emulator, http, token, user_id=uid) for uid in askers]
        await asyncio.gather(*(u.send("What did Hegseth say?") for u in users))
        await asyncio.sleep(0.5)  # every answer slot is now taken by the slow model
        alice = user(emulator, http, token)
        for command in ("/help", "/start"):  # /start needs an answer thread
            started = time.monotonic()
            await alice.send(command)
            [reply] = await alice.replies(1, settle=0)
            assert time.monotonic() - started < 1.5, command
        assert "/ask" in reply.text or "Hello" in reply.text
        replies = await asyncio.gather(*(u.replies(1, timeout=30, settle=0) for u in users))
        assert all("Hegseth reiterated" in r[0].text for r in replies)
    assert slow.most <= ANSWER_SLOTS
