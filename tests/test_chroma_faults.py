"""A real `chroma run` server killed mid-session and started again: one clear error, then answers."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from fakes import WordOverlapEmbeddings
from test_chroma_server import CHROMA, SEED_CORPUS, free_port

import bot.wiring
from bot.answering.conversation import Conversation
from bot.doors.repl import Repl
from bot.settings import load_settings
from bot.wiring import build_answerer
from retrieval.errors import IndexUnavailableError

QUESTION = "How many people did the Thai-Cambodian border dispute displace?"
pytestmark = pytest.mark.slow


class ChromaServer:
    """`chroma run` on a fixed port and folder, so it can be killed and started again."""

    def __init__(self, folder: Path) -> None:
        binary = CHROMA if CHROMA.exists() else shutil.which("chroma")
        if binary is None:
            pytest.skip("the `chroma` command is not installed")
        self.binary = str(binary)
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(self.binary, "run", "--path", str(self.folder / "data")),
                *("--host", "127.0.0.1", "--port", str(self.port)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()
            try:
                url = f"http://127.0.0.1:{self.port}/api/v2/heartbeat"
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail("chroma run did not answer its heartbeat within 60 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> ChromaServer:
    running = ChromaServer(tmp_path)
    running.start()
    yield running  # type: ignore[misc]
    running.kill()


def test_a_server_that_dies_mid_session_is_one_clear_error_then_answers_again(
    server: ChromaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(server.port))
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda s, **_: WordOverlapEmbeddings())
    answerer = build_answerer(load_settings(env_file=None))
    assert "300,000" in answerer.answer(QUESTION).text

    server.kill()
    with pytest.raises(IndexUnavailableError) as raised:
        answerer.answer(QUESTION)
    message = str(raised.value)
    assert f"127.0.0.1:{server.port}" in message and "chroma run" in message
    assert "\n" not in message and "?." not in message
    with pytest.raises(IndexUnavailableError):
        answerer.stats()

    # The REPL turns it into one line, and keeps going.
    lines: list[str] = []
    repl = Repl(answerer=answerer, conversation=Conversation())
    repl.say = lambda text="": lines.append(text)  # type: ignore[method-assign]
    repl.ask(QUESTION)
    assert len(lines) == 1 and lines[0].startswith("\nerror: Cannot reach the Chroma server")

    server.start()
    answer = answerer.answer(QUESTION)  # the same process, the same objects: it reconnects
    assert "300,000" in answer.text and not answer.abstained
