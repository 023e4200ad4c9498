"""Ingest and search against a real `chroma run` server on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fakes import WordOverlapEmbeddings, shared_minilm

import bot.wiring
from bot.doors.cli import cli

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"
CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A `chroma run` process on a free port; always stopped when the module is done."""
    binary = CHROMA if CHROMA.exists() else shutil.which("chroma")
    if binary is None:
        pytest.skip("the `chroma` command is not installed (pip install chromadb provides it)")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "run",
            "--path",
            str(folder / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"chroma run exited with {process.returncode}: {(folder / 'server.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2
                ) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_ingest_and_search_through_a_chroma_server(
    chroma_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_paths: Path
) -> None:
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    # The real MiniLM, loaded once per session, handed to the CLI through the wiring.
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda settings, **_: shared_minilm())
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)

    first = run("ingest", str(corpus), "--quiet")
    assert first.exit_code == 0, first.output
    assert "2 added" in first.stdout
    again = run("ingest", str(corpus), "--quiet")
    assert "2 unchanged, 0 skipped; 0 chunks embedded" in again.stdout

    result = run(
        "search", "How many people did the Thai-Cambodian border dispute displace?", "--json"
    )
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert any("300,000" in row["text"] for row in rows[:3])

    stats = run("stats").stdout
    assert f"index location:  chroma://127.0.0.1:{chroma_server}/citebot" in stats
    assert "sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)" in stats
    # Nothing was written to the embedded store: the chunks live on the server.
    assert not (isolated_paths / "data" / "chroma").exists()
    with urllib.request.urlopen(
        f"http://127.0.0.1:{chroma_server}/api/v2/tenants/default_tenant/databases/default_database/collections"
    ) as reply:
        names = [c["name"] for c in json.loads(reply.read())]
    assert "citebot" in names


def test_an_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setattr(
        bot.wiring, "make_embeddings", lambda settings, **_: WordOverlapEmbeddings()
    )

    result = run("stats")

    assert result.exit_code == 1
    assert "Cannot open the Chroma server at 127.0.0.1" in result.stderr
    assert "chroma run" in result.stderr and "Traceback" not in result.output


# Process B: a separate Python process with its own empty data folder and no corpus folder. It
# answers each question read from stdin with one JSON line, through the same wiring as `ask`.
READER_SCRIPT = """
import json, sys
from bot.settings import load_settings
from bot.wiring import build_answerer

answerer = build_answerer(load_settings(None))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    print(json.dumps(answerer.answer(line.strip()).to_dict()), flush=True)
"""

NEW_FACT = (
    "Harbour lights\n\nThe Varnholt lighthouse was repainted in teal during the spring of 1987. "
    "Exactly 412 volunteers from the harbour guild carried out the repainting over six weeks.\n"
)


class Reader:
    """A long-running reader process, asked one question at a time."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", READER_SCRIPT],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = self._line()
        assert json.loads(first) == {"ready": True}, first

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            pytest.fail(f"the reader process died: {self.process.stderr.read()[-3000:]}")
        return line

    def ask(self, question: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(question + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line())
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def reader_env(port: int, collection: str, data_dir: Path, missing_corpus: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "CHROMA_"))}
    env.update(
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(port),
        CITEBOT_COLLECTION=collection,
        CITEBOT_DATA_DIR=str(data_dir),
        CITEBOT_CORPUS_DIR=str(missing_corpus),
        CITEBOT_BACKEND="extractive",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.mark.slow
def test_a_reader_with_an_empty_data_folder_answers_and_follows_another_machines_ingest(
    chroma_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    collection = "stateless-readers"
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    monkeypatch.setenv("CITEBOT_COLLECTION", collection)
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda settings, **_: shared_minilm())
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    first = run("ingest", str(corpus), "--quiet")  # process A (this one)
    assert first.exit_code == 0, first.output

    reader_data = tmp_path / "reader-data"
    reader = Reader(
        reader_env(chroma_server, collection, reader_data, tmp_path / "no-corpus-here"), tmp_path
    )
    try:
        answer = reader.ask("How many people did the Thai-Cambodian border dispute displace?")
        assert "300,000" in answer["answer"], answer["answer"]
        assert {"dense", "bm25"} <= set(answer["retrieved"][0]["found_by"])
        # The reader keeps only its BM25 cache locally: the chunks stay on the server.
        assert (reader_data / "lexical").is_dir()
        assert not (reader_data / "chroma").exists()

        (corpus / "harbour.txt").write_text(NEW_FACT, encoding="utf-8")
        second = run("ingest", str(corpus), "--quiet")  # process A again: one new document
        assert "1 added" in second.stdout, second.output

        answer = reader.ask("How many volunteers repainted the Varnholt lighthouse?")
        assert "412" in answer["answer"], answer["answer"]
        top = answer["retrieved"][0]
        assert top["source"] == "harbour.txt"
        assert {"dense", "bm25"} <= set(top["found_by"])
    finally:
        reader.close()


def server_client(port: int) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.HttpClient(
        host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
    )


@pytest.mark.slow
def test_after_a_killed_ingest_stats_ask_and_chat_say_it_did_not_finish(
    chroma_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    collection = "killed-ingest"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Enough text that the embedding takes many seconds: the kill lands mid-way.
    for n in range(40):
        for seed in SEED_CORPUS.glob("*.txt"):
            text = seed.read_text(encoding="utf-8")
            (corpus / f"copy{n:02d}_{seed.name}").write_text(f"Copy {n}.\n\n{text}", "utf-8")
    env = reader_env(chroma_server, collection, tmp_path / "writer-data", corpus)
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bot.doors.cli import cli; cli()",
            "ingest",
            str(corpus),
            "--quiet",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = server_client(chroma_server)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert ingest.poll() is None, "the ingest finished before it could be killed"
            assert time.monotonic() < deadline, "no chunk was stored within 120 s"
            try:
                if client.get_collection(collection).count() > 0:
                    break
            except Exception:  # not created yet
                pass
            time.sleep(0.2)
        ingest.send_signal(signal.SIGKILL)
        ingest.wait()
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert 0 < client.get_collection(collection).count() < 40 * 13

    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    monkeypatch.setenv("CITEBOT_COLLECTION", collection)
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(tmp_path / "no-corpus-here"))
    monkeypatch.setenv("CITEBOT_BACKEND", "extractive")
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda settings, **_: shared_minilm())

    stats = CliRunner().invoke(cli, ["stats"])
    assert stats.exit_code == 0, stats.output
    assert "The last ingest (started " in stats.stderr and "did not finish" in stats.stderr
    assert "run `citebot ingest` again" in stats.stderr

    ask = CliRunner().invoke(cli, ["ask", "How many people did the dispute displace?", "--json"])
    assert ask.exit_code == 0, ask.output
    assert "did not finish" in ask.stderr and "run `citebot ingest` again" in ask.stderr
    assert "answer" in json.loads(ask.stdout)

    chat = CliRunner().invoke(cli, ["chat"], input="")
    assert "did not finish" in chat.stderr, chat.output
