"""OpenAI embeddings through the real langchain-openai client, against the loopback fake server."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fake_openai import FakeOpenAI, fake_openai

from bot.doors.cli import cli
from retrieval.config import RetrievalSettings
from retrieval.embeddings import MINILM_ID
from retrieval.ingest import chunk_corpus
from retrieval.passages import passage_texts

__all__ = ["fake_openai"]  # the fixture, imported so pytest registers it here

API_KEY = "sk-test-embeddings-0123456789abcdef"
MODEL = "text-embedding-3-small"
DISPLACED = "How many people did the Thai-Cambodian border dispute displace?"
BATCH = 3
SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def openai_env(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """Embeddings from the fake server; small batches so ingest needs several requests."""
    monkeypatch.setenv("CITEBOT_EMBEDDING_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("CITEBOT_EMBEDDING_BATCH_SIZE", str(BATCH))
    return fake_openai


def chunk_count(stats: Result) -> int:
    return int(stats.stdout.split("chunks:")[1].split()[0])


def test_ingest_search_and_stats_through_the_openai_api(openai_env: FakeOpenAI) -> None:
    ingested = run("ingest", "--quiet")
    assert ingested.exit_code == 0, ingested.output
    assert "2 added" in ingested.stdout

    stats = run("stats")
    assert stats.exit_code == 0
    chunks = chunk_count(stats)
    assert chunks > BATCH
    assert (
        f"embedding model: openai:{MODEL} ({openai_env.embedding_dimensions} dimensions)"
        in stats.stdout
    )

    batches = openai_env.embedding_requests
    # Ingest embeds each chunk's passages (sentence pairs), at most BATCH texts per request.
    index_chunks, _, _ = chunk_corpus(SEED_CORPUS, RetrievalSettings())
    passages = sorted(text for chunk in index_chunks for text in passage_texts(chunk))
    assert len(index_chunks) == chunks
    assert sorted(text for r in batches for text in r.body["input"]) == passages
    assert all(0 < len(r.body["input"]) <= BATCH for r in batches)
    assert len(batches) < math.ceil(len(passages) / BATCH) + 3, "full batches but for a few"
    assert {r.body["model"] for r in batches} == {MODEL}
    assert {r.headers["authorization"] for r in batches} == {f"Bearer {API_KEY}"}
    assert openai_env.requests == batches  # no chat completion was asked for

    searched = run("search", DISPLACED, "-k", "2", "--json")
    assert searched.exit_code == 0, searched.output
    rows = json.loads(searched.stdout)
    assert "300,000" in rows[0]["text"]
    assert "dense" in rows[0]["found_by"]
    query = openai_env.embedding_requests[len(batches) :]
    assert [r.body["input"] for r in query] == [[DISPLACED]]

    before = len(openai_env.requests)
    again = run("ingest", "--quiet")
    assert again.exit_code == 0
    assert "2 unchanged, 0 skipped; 0 chunks embedded" in again.stdout
    assert len(openai_env.requests) == before


def test_switching_back_to_minilm_needs_rebuild(
    openai_env: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("ingest", "--quiet").exit_code == 0
    monkeypatch.setenv("CITEBOT_EMBEDDING_PROVIDER", "minilm")

    for command in (["ingest", "--quiet"], ["search", DISPLACED]):
        refused = run(*command)
        assert refused.exit_code == 1, command
        assert refused.stdout == ""
        [line] = refused.stderr.splitlines()
        assert line.startswith("Error: ")
        assert f"'openai:{MODEL}'" in line and f"'{MINILM_ID}'" in line
        assert "citebot ingest --rebuild" in line
        assert "Traceback" not in refused.output


def test_a_failing_embeddings_server_gives_a_clear_error(openai_env: FakeOpenAI) -> None:
    openai_env.fail_embeddings(500, f"upstream exploded for key {API_KEY}")

    started = time.monotonic()
    failed = run("ingest", "--quiet")

    assert failed.exit_code == 1
    [line] = failed.stderr.splitlines()
    assert line.startswith("Error: The embeddings API failed (InternalServerError, HTTP 500)")
    assert "OPENAI_BASE_URL" in line and "CITEBOT_EMBEDDING_PROVIDER=minilm" in line
    assert "Traceback" not in failed.output
    assert API_KEY not in failed.output and "upstream exploded" not in failed.output
    # 500 is worth retrying: the first attempt and max_retries=2 more, then give up.
    assert len(openai_env.embedding_requests) == 3
    assert time.monotonic() - started < 15
    assert "documents:       0" in run("stats").stdout
