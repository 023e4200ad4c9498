"""The Telegram door when the Bot API is slow: a delaying proxy in front of the real emulator."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from telegram_emulator import (
    ChatUser,
    Emulator,
    FakeAnswerer,
    emulator_installed,
    new_token,
    running_bot,
    telegram_settings,
)

from bot.doors.telegram.app import build_application

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not emulator_installed(), reason="run `npm ci --prefix tests` first"),
]

ASKERS = [3001, 3002, 3003]
SLOW_METHODS = ("/sendMessage", "/sendChatAction")
DELAY_S = 1.5


class SlowBotAPI:
    """Forwards the bot's Bot API calls to the emulator, answering the send* ones `delay_s` late."""

    def __init__(self, emulator: Emulator, delay_s: float) -> None:
        self.delay_s = delay_s
        self.slowed = 0
        self.chat_actions: list[float] = []
        upstream = emulator.url
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/sendChatAction"):
                    # The emulator lacks it (500); Telegram answers `true`.
                    proxy.chat_actions.append(time.monotonic())
                    data = b'{"ok": true, "result": true}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                request = urllib.request.Request(
                    upstream + self.path,
                    data=body,
                    method="POST",
                    headers={"Content-Type": self.headers.get("Content-Type", "")},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as reply:
                        status, data = reply.status, reply.read()
                        kind = reply.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                    kind = error.headers.get("Content-Type", "application/json")
                if self.path.endswith(SLOW_METHODS):
                    proxy.slowed += 1
                    time.sleep(proxy.delay_s)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"


@pytest.fixture
def slow_api(emulator: Emulator) -> Iterator[SlowBotAPI]:
    proxy = SlowBotAPI(emulator, DELAY_S)
    proxy.thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


async def test_a_slow_bot_api_delays_replies_but_loses_none(
    emulator: Emulator, slow_api: SlowBotAPI
) -> None:
    token = new_token()
    settings = telegram_settings(
        SimpleNamespace(base_url=slow_api.base_url), token, allowed_users=ASKERS
    )
    answerer = FakeAnswerer(delay=1.0)  # slow enough that "typing…" is sent too
    application = build_application(settings, answerer)
    async with httpx.AsyncClient(timeout=30) as http, running_bot(application):
        users = [ChatUser(emulator, token, http, user_id=uid) for uid in ASKERS]
        started = time.monotonic()
        await asyncio.gather(*(u.send("What did Hegseth say in the ASEAN trip?") for u in users))
        await users[0].send("/help")
        replies = await asyncio.gather(*(u.replies(2, timeout=30, settle=1.0) for u in users[:1]))
        others = await asyncio.gather(*(u.replies(1, timeout=30, settle=1.0) for u in users[1:]))
        elapsed = time.monotonic() - started
    texts = [r.text for r in replies[0]]
    assert any("/ask" in t for t in texts)  # /help
    assert any("Hegseth reiterated" in t for t in texts)
    assert all(len(o) == 1 and "Hegseth reiterated" in o[0].text for o in others)  # no duplicates
    assert slow_api.slowed >= len(ASKERS) + 1  # every reply really went through the slow path
    # The answers ran side by side: one delay each, not one after another.
    assert elapsed < 1.0 + 3 * DELAY_S + 5, f"took {elapsed:.1f} s"


async def test_typing_is_shown_for_as_long_as_a_slow_answer_takes(
    emulator: Emulator, slow_api: SlowBotAPI
) -> None:
    token = new_token()
    settings = telegram_settings(
        SimpleNamespace(base_url=slow_api.base_url), token, allowed_users=ASKERS
    )
    application = build_application(settings, FakeAnswerer(delay=6.0))
    async with httpx.AsyncClient(timeout=30) as http, running_bot(application):
        asker = ChatUser(emulator, token, http, user_id=ASKERS[0])
        started = time.monotonic()
        await asker.send("What did Hegseth say in the ASEAN trip?")
        [reply] = await asker.replies(1, timeout=30)
        answered = time.monotonic()
    assert "Hegseth reiterated" in reply.text
    # "typing…" lasts 5 s: it is sent again while the answer is being made, and not after.
    assert len(slow_api.chat_actions) >= 2
    assert all(started < at < answered for at in slow_api.chat_actions)
