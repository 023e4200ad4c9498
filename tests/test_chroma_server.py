"""Ingest and search against a real `chroma run` server on a free loopback port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fakes import WordOverlapEmbeddings, shared_minilm

import bot.wiring
from bot.doors.cli import cli

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
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
