"""`citebot ingest`, `search` and `stats` through click's runner, with the fake embedding injected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fakes import WordOverlapEmbeddings, write_bad_files

import bot.wiring
from bot.doors.cli import cli
from retrieval.config import RetrievalSettings
from retrieval.loaders import load_document

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DISPLACED = "How many people did the Thai-Cambodian border dispute displace?"


@pytest.fixture(autouse=True)
def fake_embeddings(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every command builds its embeddings through the wiring; hand it the fake instead of MiniLM.

    The returned dict sets which model id the next command's embeddings claim to be.
    """
    model = {"id": "fake:word-overlap-256"}
    monkeypatch.setattr(
        bot.wiring,
        "make_embeddings",
        lambda settings, **_: WordOverlapEmbeddings(model_id=model["id"]),
    )
    return model


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, folder)
    return folder


def test_ingest_prints_a_summary_and_one_warning_per_bad_file(corpus: Path) -> None:
    expected = write_bad_files(corpus / "bad")

    result = run("ingest", str(corpus), "--quiet")

    assert result.exit_code == 0
    assert "2 added, 0 updated, 0 removed, 0 unchanged" in result.stdout
    assert f"{len(expected)} skipped" in result.stdout
    warnings = result.stderr.splitlines()
    assert len(warnings) == len(expected)
    for name, word in expected.items():
        line = next(w for w in warnings if w.startswith(f"warning: skipped bad/{name}: "))
        assert word in line


def test_ingest_defaults_to_the_configured_corpus() -> None:
    # conftest points CITEBOT_CORPUS_DIR at the seed corpus.
    result = run("ingest")
    assert result.exit_code == 0 and "2 added" in result.stdout

    again = run("ingest")
    assert (
        "0 added, 0 updated, 0 removed, 2 unchanged, 0 skipped; 0 chunks embedded" in again.stdout
    )


def test_ingest_fails_only_when_nothing_could_be_ingested(tmp_path: Path) -> None:
    bad_only = tmp_path / "bad"
    write_bad_files(bad_only)

    result = run("ingest", str(bad_only))

    assert result.exit_code == 1
    assert "Nothing could be ingested" in result.stderr
    assert "warning: skipped empty.txt: it is empty" in result.stderr
    assert "Traceback" not in result.output


def test_ingest_of_a_missing_folder_says_how_to_fix_it(tmp_path: Path) -> None:
    result = run("ingest", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "CITEBOT_CORPUS_DIR" in result.stderr


def test_search_json_lists_hits_best_first() -> None:
    run("ingest")

    result = run("search", DISPLACED, "-k", "3", "--json")

    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"source", "title", "chunk_id", "score", "found_by", "text"}
        text = load_document(SEED_CORPUS / row["source"], row["source"]).text
        assert row["text"] in text
    assert "300,000" in rows[0]["text"]
    assert rows[0]["found_by"] == {"dense": 1, "bm25": 1}
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_search_text_output_and_k_beyond_the_chunk_count() -> None:
    run("ingest")
    chunks = int(run("stats").stdout.split("chunks:")[1].split()[0])

    result = run("search", DISPLACED, "-k", str(chunks + 5))

    assert result.exit_code == 0
    assert f"(only {chunks} chunks in the index)" in result.stderr
    assert result.stdout.startswith("1. 000_a03238ee93841bab.txt (score ")
    assert f"\n{chunks}. " in result.stdout and f"\n{chunks + 1}. " not in result.stdout

    rows = json.loads(run("search", DISPLACED, "-k", str(chunks + 5), "--json").stdout)
    assert len(rows) == chunks


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_a_usage_error(query: str) -> None:
    result = run("search", query)
    assert result.exit_code == 2
    assert "The query is empty" in result.stderr


def test_searching_an_empty_index_says_to_ingest_first() -> None:
    result = run("search", DISPLACED)
    assert result.exit_code == 1
    assert "The index is empty: run `citebot ingest`" in result.stderr
    assert "Traceback" not in result.output


def test_stats_shows_counts_model_and_location(isolated_paths: Path) -> None:
    empty = run("stats")
    assert "documents:       0" in empty.stdout

    run("ingest")
    result = run("stats")

    assert result.exit_code == 0
    assert "documents:       2" in result.stdout
    assert "embedding model: fake:word-overlap-256 (256 dimensions)" in result.stdout
    defaults = RetrievalSettings()
    assert (
        f"chunking:        cl100k_base:{defaults.chunk_tokens}/{defaults.chunk_overlap}"
        in result.stdout
    )
    assert f"index location:  {(isolated_paths / 'data').resolve()}" in result.stdout


def test_another_model_needs_rebuild(fake_embeddings: dict[str, str]) -> None:
    run("ingest")
    fake_embeddings["id"] = "fake:other-model"

    refused = run("search", DISPLACED)
    assert refused.exit_code == 1
    assert "fake:word-overlap-256" in refused.stderr and "fake:other-model" in refused.stderr
    assert "citebot ingest --rebuild" in refused.stderr

    rebuilt = run("ingest", "--rebuild")
    assert rebuilt.exit_code == 0 and "2 added" in rebuilt.stdout
    assert "fake:other-model" in run("stats").stdout
    assert run("search", DISPLACED).exit_code == 0
