"""What a user meets at the command line: the folder, --version, JSON errors, plurals, logging."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fakes import shared_minilm

import bot.wiring
from bot.doors.cli import cli

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
QUESTION = "How many people did the Thai-Cambodian border dispute displace?"
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def shared_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real MiniLM, loaded once per session; no CITEBOT_CORPUS_DIR, as for a new user."""
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda settings, **_: shared_minilm())
    monkeypatch.delenv("CITEBOT_CORPUS_DIR", raising=False)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "my-docs"
    shutil.copytree(SEED_CORPUS, folder)
    return folder


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("citebot ") and result.stdout.strip()[-1].isdigit()


def test_ingesting_a_path_is_enough_to_ask(docs: Path) -> None:
    ingested = run("ingest", str(docs), "--quiet")
    assert ingested.exit_code == 0, ingested.output
    asked = run("ask", "--json", QUESTION)
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert "300,000" in answer["answer"]


def test_ask_and_chat_take_the_folder(docs: Path) -> None:
    asked = run("ask", "--corpus", str(docs), QUESTION)
    assert asked.exit_code == 0, asked.output
    assert "300,000" in asked.stdout
    chatted = run("chat", str(docs), input=f"{QUESTION}\n")
    assert chatted.exit_code == 0, chatted.output
    assert f"Indexing {docs}" in chatted.stderr
    assert "300,000" in chatted.stdout


def test_ask_json_errors_are_json_on_stdout_with_the_exit_code(docs: Path, tmp_path: Path) -> None:
    assert run("ingest", str(docs), "--quiet").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("Another folder, another index.\n")
    result = run("ask", "--json", "--corpus", str(other), QUESTION)
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert list(error) == ["error"] and "--rebuild" in error["error"]
    plain = run("ask", "--corpus", str(other), QUESTION)
    assert plain.exit_code == 1 and plain.stdout == "" and "--rebuild" in plain.stderr


def test_one_chunk_is_singular(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "short.txt").write_text("A single short sentence makes one chunk.\n")
    result = run("ingest", str(folder), "--quiet")
    assert "; 1 chunk embedded," in result.stdout


def test_verbose_keeps_http_client_loggers_quiet() -> None:
    assert run("-v", "--version").exit_code == 0
    run("-v", "stats")
    for name in ("httpx", "httpx2", "openai"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
