"""`citebot ask`, `eval` and the help texts through CliRunner, with the real MiniLM on the seed corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import bot.wiring
from bot.answering.prompts import REFUSAL
from bot.doors.cli import cli
from retrieval.embeddings import MiniLMEmbeddings
from retrieval.loaders import load_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NEWS = "000_a03238ee93841bab.txt"
DISPLACED_Q = "How many people did the Thai-Cambodian border dispute displace?"
# A question the seed documents never answer (and the extractive backend refuses).
TAIWAN_Q = "What did Hegseth say about Myanmar's civil war?"


@pytest.fixture(scope="module")
def module_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index for the whole module, so the seed corpus is ingested once."""
    return tmp_path_factory.mktemp("cli-answer-data")


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbeddings:
    """The real MiniLM, loaded once for the module instead of once per command."""
    return MiniLMEmbeddings()


@pytest.fixture(autouse=True)
def shared_index(
    isolated_paths: Path,
    module_data_dir: Path,
    minilm: MiniLMEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Point every command at the module's index and its already-loaded model."""
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(module_data_dir))

    def make_embeddings(settings: Any, **_: Any) -> MiniLMEmbeddings:
        assert settings.embedding_provider == "minilm"
        return minilm

    monkeypatch.setattr(bot.wiring, "make_embeddings", make_embeddings)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ask_json(question: str) -> dict[str, Any]:
    result = run("ask", "--json", question)
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(parsed, dict)
    return parsed


ANSWER_FIELDS = {
    "question",
    "answer",
    "abstained",
    "citations",
    "retrieved",
    "backend",
    "model",
    "timings_ms",
}
CITATION_FIELDS = {"n", "source", "title", "chunk_id", "quote", "start", "end"}
RETRIEVED_FIELDS = {"source", "chunk_id", "score"}


# --- ask -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ask_json_answers_with_a_verbatim_citation() -> None:
    answer = ask_json(DISPLACED_Q)
    assert answer.keys() >= ANSWER_FIELDS
    assert answer["question"] == DISPLACED_Q
    assert answer["abstained"] is False
    assert "300,000" in answer["answer"]
    assert answer["backend"] == "extractive"
    assert answer["model"] is None
    assert answer["timings_ms"]["total"] > 0
    assert answer["retrieved"]
    for hit in answer["retrieved"]:
        assert hit.keys() >= RETRIEVED_FIELDS
        assert isinstance(hit["score"], float)
    assert answer["citations"]
    for citation in answer["citations"]:
        assert citation.keys() >= CITATION_FIELDS
        assert f"[{citation['n']}]" in answer["answer"]
        text = load_document(CORPUS / citation["source"], citation["source"]).text
        assert text[citation["start"] : citation["end"]] == citation["quote"]
    news = [c for c in answer["citations"] if c["source"] == NEWS]
    assert any("300,000" in c["quote"] for c in news)


@pytest.mark.slow
def test_ask_json_refuses_what_the_documents_do_not_say() -> None:
    answer = ask_json(TAIWAN_Q)
    assert answer["abstained"] is True
    assert answer["answer"] == REFUSAL
    assert answer["citations"] == []


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_empty_question_is_a_usage_error(question: str) -> None:
    result = run("ask", question)
    assert result.exit_code == 2
    assert "The question is empty" in result.stderr
    assert result.stdout == ""


def test_ask_with_a_missing_corpus_folder_is_one_line_error(
    isolated_paths: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = isolated_paths / "no-such-corpus"
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(missing))
    result = run("ask", DISPLACED_Q)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert str(missing) in errors[0]
    assert "CITEBOT_CORPUS_DIR" in errors[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


# --- help ------------------------------------------------------------------------------------


def test_group_help_names_the_commands_and_where_to_start() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for word in ("citing", "citebot chat", ".env", "ask", "chat", "eval", "ingest", "telegram"):
        assert word in result.output


def test_ask_help_explains_the_question_and_json() -> None:
    result = run("ask", "--help")
    assert result.exit_code == 0
    for word in ("QUESTION", "--json", "JSON", "citing", "-k"):
        assert word in result.output


# --- eval ------------------------------------------------------------------------------------


@pytest.fixture
def questions_file(isolated_paths: Path) -> Path:
    """One answerable question, one malformed line, one unanswerable question."""
    path = isolated_paths / "questions.jsonl"
    lines = [
        json.dumps(
            {"id": "a1", "question": DISPLACED_Q, "answers": ["300,000"], "sources": [NEWS]}
        ),
        '{"id": "broken", "question": ',
        json.dumps({"id": "u1", "question": TAIWAN_Q, "answers": [], "sources": []}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_eval_writes_the_report_and_warns_about_the_bad_line(
    questions_file: Path, isolated_paths: Path
) -> None:
    out = isolated_paths / "eval-out"
    result = run(
        "eval", str(questions_file), "--out", str(out), "--quiet",
        "--fail-under", "answer_accuracy=0.0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "line 2" in warnings[0] and "not valid JSON" in warnings[0]
    for name in ("report.md", "summary.json", "results.jsonl"):
        assert (out / name).stat().st_size > 0
    for plot in out.glob("*.png"):
        assert plot.read_bytes().startswith(b"\x89PNG")
    assert len(list(out.glob("*.png"))) == 2
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["questions"] == 2
    assert summary["answer_accuracy"] == 1.0
    assert summary["abstention_recall"] == 1.0
    results = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(results) == 2
    assert "answer_accuracy" in result.stdout


@pytest.mark.slow
def test_eval_exits_1_when_a_gate_fails(questions_file: Path, isolated_paths: Path) -> None:
    out = isolated_paths / "eval-out"
    result = run(
        "eval", str(questions_file), "--out", str(out), "--quiet",
        "--fail-under", "answer_accuracy=0.0", "--fail-under", "latency_p95_ms.total=0.001",
    )  # fmt: skip
    assert result.exit_code == 1
    fails = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "latency_p95_ms.total" in fails[0]
    assert (out / "report.md").is_file()  # the report is written before the gate fails


def test_eval_rejects_an_impossible_threshold_before_answering(
    questions_file: Path, isolated_paths: Path
) -> None:
    out = isolated_paths / "eval-out"
    result = run(
        "eval", str(questions_file), "--out", str(out), "--fail-under", "answer_accuracy=1.01"
    )
    assert result.exit_code == 2  # a usage error, told apart from a gate that fails (1)
    assert "between 0 and 1" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
