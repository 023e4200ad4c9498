"""A real Telegram Bot API emulator (npm `telegram-test-api`) for end-to-end tests of the bot.

`Emulator` starts the emulator in a Node subprocess on a free loopback port; `ChatUser` talks to it
as a Telegram user through its client API; `running_bot` runs the real PTB `Application` polling it.
Install the emulator once with `npm ci --prefix tests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.answering.answer import Answer, Citation

TESTS = Path(__file__).resolve().parent
BOT_USERNAME = "citebot_test_bot"

# The emulator wrapped to fit python-telegram-bot 22.8:
# - its getMe has no `is_bot`, which PTB requires: answer that route ourselves;
# - the messages it returns to the bot carry dates in milliseconds: give seconds; they also echo
#   the request's JSON-encoded fields (link_preview_options...) as strings: decode them;
# - its callback queries have no `chat_instance`, which PTB requires: add one;
# - its updates carry the bot token in a `botToken` field, which Telegram never sends: drop it.
# It leaves sendChatAction unimplemented (HTTP 500), as the bot must survive that anyway.
# It also counts each token's getUpdates calls, so a test can wait for a bot in another process.
# The script prints the port it listens on and exits when its stdin closes.
NODE_SCRIPT = r"""
const http = require('http');
const express = require('express');
const TelegramServer = require('telegram-test-api');

const server = new TelegramServer({ host: '127.0.0.1', port: 1, storeTimeout: 3600 });
const addBotMessage = server.addBotMessage.bind(server);
server.addBotMessage = (raw, token) => {
  const message = addBotMessage(raw, token);
  message.date = Math.floor(message.date / 1000);
  for (const [key, value] of Object.entries(message)) {
    if (key !== 'text' && typeof value === 'string' && /^[[{]/.test(value)) {
      try { message[key] = JSON.parse(value); } catch (e) { /* keep the string */ }
    }
  }
  return message;
};
const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => {
  const formatted = JSON.parse(JSON.stringify(formatUpdate(update)));
  if (formatted.message) delete formatted.message.botToken;
  if (formatted.callback_query) {
    delete formatted.callback_query.botToken;
    const message = formatted.callback_query.message || {};
    formatted.callback_query.chat_instance = String((message.chat || {}).id || 0);
  }
  return formatted;
};

const app = express();
app.all('/bot:token/getMe', (req, res) => {
  res.json({ ok: true, result: {
    id: Number(String(req.params.token).split(':')[0]) || 1,
    is_bot: true, first_name: 'citebot', username: '__USERNAME__',
    can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
  } });
});
// Test switches: make the next `count` sendMessage calls fail as Telegram would, with a flood
// wait (429, retry after 1 s) or, for HTML ones, with an entity parse error (400).
const failures = { flood: 0, html: 0 };
app.post('/test/fail', express.json(), (req, res) => {
  failures[req.body.kind] = Number(req.body.count || 1);
  res.json({ ok: true });
});
app.all('/bot:token/sendMessage', express.urlencoded({ extended: true }), express.json(),
  (req, res, next) => {
    if (failures.flood > 0) {
      failures.flood -= 1;
      res.status(429).json({ ok: false, error_code: 429,
        description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
    } else if (failures.html > 0 && req.body.parse_mode) {
      failures.html -= 1;
      res.status(400).json({ ok: false, error_code: 400,
        description: "Bad Request: can't parse entities: unsupported start tag" });
    } else {
      next();
    }
  });
const polls = {};
app.all('/bot:token/getUpdates', (req, res, next) => {
  polls[req.params.token] = (polls[req.params.token] || 0) + 1;
  next();
});
app.post('/test/polls', express.json(), (req, res) => {
  res.json({ ok: true, result: polls[req.body.token] || 0 });
});
app.use(server.webServer);
const listener = http.createServer(app).listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: listener.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
""".replace("__USERNAME__", BOT_USERNAME)


def emulator_installed() -> bool:
    """True when Node and the npm package are there (`npm ci --prefix tests`)."""
    return (
        shutil.which("node") is not None and (TESTS / "node_modules" / "telegram-test-api").is_dir()
    )


def new_token() -> str:
    """A fresh BotFather-shaped token, so each bot has its own queues in a shared emulator."""
    return f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(26)[:35]}"


class Emulator:
    """The emulator running in a Node subprocess on a free loopback port."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> Emulator:
        """Start Node and wait for the port it listens on."""
        self.process = subprocess.Popen(
            ["node", "-e", NODE_SCRIPT],
            cwd=TESTS,  # so `require` finds tests/node_modules
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the script prints its port, or exits
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the Telegram emulator did not start: {error}")
        self.port = int(json.loads(line)["port"])
        return self

    def stop(self) -> None:
        """Close stdin (the script exits) and reap the process."""
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def url(self) -> str:
        """The emulator's root URL (client API)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Bot API base URL for PTB (`TELEGRAM_BASE_URL`)."""
        return f"{self.url}/bot"


@dataclass
class Sent:
    """One message the bot sent, as the emulator stored it."""

    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    buttons: list[tuple[str, str]]  # (label, callback data), in order
    reply_to: int | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Sent:
        """Read an entry of the emulator's bot-message store."""
        message = stored["message"]
        markup = message.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        buttons = [
            (button["text"], button.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]
        reply = message.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        return cls(
            message_id=int(stored["messageId"]),
            chat_id=int(message["chat_id"]),
            text=str(message.get("text", "")),
            parse_mode=message.get("parse_mode"),
            buttons=buttons,
            reply_to=int(reply["message_id"]) if reply else None,
            raw=stored,
        )


class ChatUser:
    """A Telegram user in one chat (private by default), speaking through the client API."""

    def __init__(
        self,
        emulator: Emulator,
        token: str,
        http: httpx.AsyncClient,
        *,
        user_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
    ) -> None:
        self.emulator = emulator
        self.token = token
        self.http = http
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat_type = chat_type
        self.first_name = first_name

    def _message(self, text: str | None, **extra: Any) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": self.chat_type}
        if self.chat_type == "private":
            chat["first_name"] = self.first_name
        else:
            chat["title"] = f"Group {self.chat_id}"
        message: dict[str, Any] = {
            "botToken": self.token,
            "from": {"id": self.user_id, "is_bot": False, "first_name": self.first_name},
            "chat": chat,
            "date": int(time.time()),
            **extra,
        }
        if text is not None:
            message["text"] = text
        return message

    async def _post(self, route: str, payload: dict[str, Any]) -> Any:
        response = await self.http.post(f"{self.emulator.url}/{route}", json=payload)
        response.raise_for_status()
        return response.json()

    async def send(self, text: str, *, reply_to: Sent | None = None) -> None:
        """Send a text message; a leading /command gets its bot_command entity, @mentions theirs."""
        entities: list[dict[str, Any]] = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append({"type": "bot_command", "offset": 0, "length": len(command)})
        mention = f"@{BOT_USERNAME}"
        if mention in text:
            entities.append(
                {"type": "mention", "offset": text.index(mention), "length": len(mention)}
            )
        extra: dict[str, Any] = {"entities": entities} if entities else {}
        if reply_to is not None:
            extra["reply_to_message"] = {
                "message_id": reply_to.message_id,
                "date": int(time.time()),
                "chat": {"id": self.chat_id, "type": self.chat_type},
                "from": {
                    "id": int(self.token.split(":")[0]),
                    "is_bot": True,
                    "first_name": "citebot",
                    "username": BOT_USERNAME,
                },
                "text": reply_to.text,
            }
        await self._post("sendMessage", self._message(text, **extra))

    async def send_photo(self) -> None:
        """Send a photo without caption (a non-text message)."""
        photo = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 10, "height": 10}]
        await self._post("sendMessage", self._message(None, photo=photo))

    async def tap(self, sent: Sent, data: str) -> None:
        """Tap an inline button of a bot message."""
        message = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": self.chat_id, "type": self.chat_type},
            "text": sent.text,
        }
        payload = {
            "botToken": self.token,
            "from": {"id": self.user_id, "is_bot": False, "first_name": self.first_name},
            "message": message,
            "data": data,
        }
        await self._post("sendCallback", payload)

    async def fail_next(self, kind: str, count: int = 1) -> None:
        """Make the next `count` sendMessage calls fail: "flood" (429) or "html" (400 on parse)."""
        await self._post("test/fail", {"kind": kind, "count": count})

    async def bot_polls(self) -> int:
        """How often the bot has called getUpdates so far (0: it is not polling yet)."""
        body = await self._post("test/polls", {"token": self.token})
        return int(body["result"])

    async def fetch(self) -> list[Sent]:
        """What the bot sent to this chat since the last fetch."""
        body = await self._post("getUpdates", {"token": self.token, "chatId": self.chat_id})
        return [Sent.from_stored(item) for item in body.get("result", [])]

    async def replies(
        self, count: int = 1, timeout: float = 20.0, settle: float = 0.3, poll: float = 0.03
    ) -> list[Sent]:
        """Wait for at least `count` bot messages, then `settle` seconds more to catch extras."""
        received: list[Sent] = []
        deadline = time.monotonic() + timeout
        while len(received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"got {len(received)} of {count} replies: {received}")
            received += await self.fetch()
            if len(received) < count:
                await asyncio.sleep(poll)
        if settle:
            await asyncio.sleep(settle)
            received += await self.fetch()
        return received

    async def silence(self, wait: float = 0.8) -> list[Sent]:
        """Whatever the bot sent within `wait` seconds (expected: nothing)."""
        await asyncio.sleep(wait)
        return await self.fetch()


@contextlib.asynccontextmanager
async def running_bot(application: Any, poll_interval: float = 0.02) -> AsyncIterator[Any]:
    """Run a built PTB application with long polling, as `run_polling` would, then stop it."""
    from bot.doors.telegram.app import ALLOWED_UPDATES

    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.updater.start_polling(
        poll_interval=poll_interval, allowed_updates=ALLOWED_UPDATES
    )
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)
        await application.shutdown()


# --- A fake answer service with the real one's methods, for tests that need exact answers -------


FAKE_REFUSAL = "The documents don't say."
CORPUS_SOURCE = "000_a03238ee93841bab.txt"
CORPUS_QUOTE = (
    "During a week-long swing through Asia, US President Donald Trump and Secretary of Defense "
    "Pete Hegseth reiterated Washington's commitment to its allies & opposition to <Chinese> "
    "expansionism."
)


@dataclass
class FakeStats:
    """What `Answerer.stats()` returns."""

    documents: int = 2
    chunks: int = 7
    location: str = "corpus/"


@dataclass
class Recording:
    """Wraps an answer service and records every question it is asked."""

    inner: Any
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def answer(self, question: str, conversation: Any = None, **options: Any) -> Answer:
        """Record, then delegate."""
        self.calls.append((question, conversation))
        result: Answer = self.inner.answer(question, conversation, **options)
        return result

    def describe(self) -> str:
        """Delegate."""
        return str(self.inner.describe())

    def stats(self) -> Any:
        """Delegate."""
        return self.inner.stats()


@dataclass
class FakeAnswerer:
    """Answers by keyword: "ASEAN"/"Hegseth" cited, "long" a long cited answer, "boom" raises,
    "fallback" with an LLM-failure notice, anything else refused. Records every call."""

    delay: float = 0.0
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def answer(
        self, question: str, conversation: Any = None, *, deadline: float | None = None
    ) -> Answer:
        """Answer like the real service, after `delay` seconds of (blocking) work."""
        self.calls.append((question, conversation))
        if self.delay:
            time.sleep(self.delay)
        lowered = question.lower()
        if "boom" in lowered:
            raise RuntimeError("secret internal detail")
        if "index down" in lowered:
            from retrieval.errors import IndexUnavailableError

            raise IndexUnavailableError("Cannot reach the Chroma server at 127.0.0.1:9 (…).")
        citation = Citation(
            n=1,
            source=CORPUS_SOURCE,
            title="US leaders tout military <cooperation>",
            page=None,
            chunk_id="c1",
            quote=CORPUS_QUOTE,
            start=0,
            end=len(CORPUS_QUOTE),
        )
        if "long" in lowered:
            paragraph = " ".join(
                f"Sentence {i} says that trade & security go together [1]." for i in range(40)
            )
            text = "\n\n".join([paragraph] * 6)
            answer = Answer(question, text, False, [citation], [], "extractive", None)
        elif "asean" in lowered or "hegseth" in lowered or "follow" in lowered:
            text = f"Hegseth reiterated the US commitment to its allies [1]. (asked: {question})"
            answer = Answer(question, text, False, [citation], [], "extractive", None)
        elif "fallback" in lowered:
            answer = Answer(
                question,
                "Trade and security go together [1].",
                False,
                [citation],
                [],
                "extractive",
                None,
                notice="The LLM failed (timeout); this is the extractive answer.",
            )
        else:
            answer = Answer(question, FAKE_REFUSAL, True, [], [], "extractive", None)
        if conversation is not None:
            conversation.add(question, answer.text)
        return answer

    def describe(self) -> str:
        """One line: backend and how to switch."""
        return "extractive (offline); set OPENAI_API_KEY for an LLM"

    def stats(self) -> FakeStats:
        """Corpus size and location."""
        return FakeStats()


def telegram_settings(emulator: Emulator, token: str, **telegram: Any) -> Any:
    """Settings whose Telegram group points at the emulator (other groups from the environment)."""
    from bot.settings import Settings, TelegramSettings

    values: dict[str, Any] = {"bot_token": token, "base_url": emulator.base_url, **telegram}
    return Settings(telegram=TelegramSettings(_env_file=None, **values))  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def bot_session(
    emulator: Emulator, answerer: Any, **telegram: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, str]]:
    """A fresh bot (own token) running against the emulator: yields (application, http, token)."""
    from bot.doors.telegram.app import build_application

    token = new_token()
    application = build_application(telegram_settings(emulator, token, **telegram), answerer)
    async with httpx.AsyncClient(timeout=10) as http, running_bot(application):
        yield application, http, token
