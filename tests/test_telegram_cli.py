"""`citebot telegram`: the real command in a subprocess against the Bot API emulator, its
start-up checks, and strangers in groups."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from telegram_emulator import (
    BOT_USERNAME,
    ChatUser,
    Emulator,
    FakeAnswerer,
    bot_session,
    emulator_installed,
    new_token,
)

import bot.wiring
from bot.doors.cli import cli

CITEBOT = Path(sys.executable).parent / "citebot"
ALICE, MALLORY = 1001, 6666
STRANGERS_GROUP, ALLOWED_GROUP = -300, -200
DISPLACED = "How many people did the Thai-Cambodian border dispute displace?"

needs_emulator = pytest.mark.skipif(
    not emulator_installed(), reason="run `npm ci --prefix tests` first"
)


# --- start-up checks: refused before anything is built ----------------------------------------


@pytest.fixture
def answerer_must_not_be_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("build_answerer was called")

    monkeypatch.setattr(bot.wiring, "build_answerer", refuse)


@pytest.mark.parametrize(
    ("token", "allowed_users", "message"),
    [
        (None, "1001", "No Telegram bot token: set TELEGRAM_BOT_TOKEN"),
        ("12345:too-short", "1001", "TELEGRAM_BOT_TOKEN is malformed"),
        (new_token(), None, "No TELEGRAM_ALLOWED_USERS or TELEGRAM_ALLOWED_CHATS"),
    ],
    ids=["missing-token", "malformed-token", "no-allow-list"],
)
@pytest.mark.usefixtures("answerer_must_not_be_built")
def test_bad_configuration_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, token: str | None, allowed_users: str | None, message: str
) -> None:
    if token:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    if allowed_users:
        monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", allowed_users)

    started = time.monotonic()
    result = CliRunner().invoke(cli, ["telegram"], catch_exceptions=False)

    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {message}")
    if token:
        assert token not in result.output and token.split(":")[1] not in result.output


@pytest.mark.usefixtures("answerer_must_not_be_built")
def test_public_passes_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contrast: a valid token with --public gets as far as building the answerer."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", new_token())
    with pytest.raises(AssertionError, match="build_answerer was called"):
        CliRunner().invoke(cli, ["telegram", "--public"], catch_exceptions=False)


def test_console_script_exits_2_without_a_token(tmp_path: Path) -> None:
    # That the answerer (index, model) is never built is checked in-process above; a wall-clock
    # bound here would only measure how loaded the machine is (interpreter start-up alone took
    # 10 s at a load average of 10). The timeout still catches a hang.
    done = subprocess.run(
        [str(CITEBOT), "telegram"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: No Telegram bot token: set TELEGRAM_BOT_TOKEN to the token @BotFather gave you."
    ]


# --- the real command, polling the emulator ----------------------------------------------------


async def wait_for_polling(alice: ChatUser, process: subprocess.Popen[str], log: Path) -> None:
    """Wait until the bot process has called getUpdates (it ingests and loads MiniLM first,
    which can take over a minute on two loaded cores)."""
    deadline = time.monotonic() + 240
    while await alice.bot_polls() == 0:
        if process.poll() is not None:
            pytest.fail(f"citebot telegram exited with {process.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"citebot telegram did not start polling: {log.read_text()}")
        await asyncio.sleep(0.1)


@needs_emulator
@pytest.mark.slow
@pytest.mark.anyio
async def test_citebot_telegram_answers_and_stops_on_sigint(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = new_token()
    env = {
        **os.environ,  # conftest's: cleaned, data under tmp_path, the seed corpus
        "TELEGRAM_BASE_URL": emulator.base_url,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_ALLOWED_USERS": str(ALICE),
        "CITEBOT_BACKEND": "extractive",
    }
    stdout_path, stderr_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [str(CITEBOT), "telegram"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            alice = ChatUser(emulator, token, http, user_id=ALICE)
            await wait_for_polling(alice, process, stderr_path)
            await alice.send(DISPLACED)
            [reply] = await alice.replies(1, timeout=30)
        assert "300,000" in reply.text
        assert "<b>Sources</b>\n[1] " in reply.text
        assert reply.buttons and reply.buttons[0][1].startswith("quote:")

        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=60)  # raises TimeoutExpired if SIGINT did not stop it
        assert returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    output = stdout_path.read_text() + stderr_path.read_text()
    assert token not in output and token.split(":")[1] not in output
    assert "Traceback" not in output
    assert f"Telegram bot @{BOT_USERNAME} is up" in output


# --- strangers in groups -----------------------------------------------------------------------


@needs_emulator
@pytest.mark.slow
@pytest.mark.anyio
async def test_stranger_in_a_strange_group_is_refused_and_nothing_is_asked(
    emulator: Emulator,
) -> None:
    answerer = FakeAnswerer()
    async with bot_session(
        emulator, answerer, allowed_users=[ALICE], allowed_chats=[ALLOWED_GROUP]
    ) as (_, http, token):
        mallory = ChatUser(
            emulator, token, http, user_id=MALLORY, chat_id=STRANGERS_GROUP, chat_type="group"
        )
        # Not addressed to the bot: not even a refusal (groups are not spammed).
        await mallory.send("What did Hegseth say in the ASEAN trip?")
        assert await mallory.silence() == []

        await mallory.send(f"@{BOT_USERNAME} What did Hegseth say in the ASEAN trip?")
        [refusal] = await mallory.replies(1)
        assert "only for the people it was set up for" in refusal.text
        assert str(MALLORY) in refusal.text
        assert f"chat's id ({STRANGERS_GROUP}) to TELEGRAM_ALLOWED_CHATS" in refusal.text
        assert refusal.reply_to is not None  # a reply to the stranger's message, in the group
        assert refusal.chat_id == STRANGERS_GROUP
        assert refusal.buttons == []

        await mallory.send(f"/ask@{BOT_USERNAME} What did Hegseth say?")
        [second] = await mallory.replies(1)
        assert "only for the people it was set up for" in second.text
        assert answerer.calls == []


@pytest.mark.parametrize(
    "url",
    ["http://bot.example.com/citebot", "ftp://bot.example.com/citebot", "bot.example.com"],
)
@pytest.mark.usefixtures("answerer_must_not_be_built")
def test_a_webhook_that_is_not_https_is_refused_before_start(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", new_token())
    monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", "1001")
    result = CliRunner().invoke(cli, ["telegram", "--webhook-url", url], catch_exceptions=False)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: --webhook-url must") and url in line


@pytest.mark.slow
def test_an_unreachable_bot_api_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": new_token(),
        "TELEGRAM_ALLOWED_USERS": "1001",
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "CITEBOT_BACKEND": "extractive",
    }
    done = subprocess.run(
        [str(CITEBOT), "telegram"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    [line] = [x for x in done.stderr.splitlines() if x.strip()]
    assert line.startswith(f"Error: Cannot reach the Telegram Bot API at http://127.0.0.1:{port}")
    assert env["TELEGRAM_BOT_TOKEN"].split(":")[1] not in done.stderr
