"""Questions about small files of every format, answered through `citebot ingest` and `ask --json`
with the real MiniLM and the offline backend: each quote is the stored text at its offsets, a PDF
quote names its page, and no heading, navigation or code is quoted."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import shared_minilm
from test_text_layer import pdf

import bot.wiring
from bot.doors.cli import cli
from retrieval.loaders import load_document

HTML = (
    "<html><head><title>Snorkel Museum</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/visit'>Plan your visit</a></nav>"
    "<h1>The Snorkel Museum</h1>"
    "<p>The Snorkel Museum has <b>3,400</b> exhibits and opened in <a href='/y'>1975</a>.</p>"
    "<footer>All rights reserved.</footer></body></html>"
)
MARKDOWN = (
    "# The Lighthouse of Varnholm\n\n"
    "The lighthouse keeper in the stormy winter was\nMatilda Oskarsdottir, who kept the log.\n\n"
    "```\nlamp --start --keeper\n```\n"
)
WRAPPED = (
    "The survey team spent three weeks on the island and counted the nesting\n"
    "pairs on the northern cliffs. The lead botanist\n"
    "was Kwame Asante-Bello, who had studied the island for many years.\n"
)


def word_file() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Release checklist", level=1)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Release step", "Responsible person"
    table.cell(1, 0).text, table.cell(1, 1).text = "Tagging the build", "Priya Raman"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats") / "corpus"
    folder.mkdir()
    (folder / "museum.html").write_text(HTML, encoding="utf-8")
    (folder / "lighthouse.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "survey.txt").write_text(WRAPPED, encoding="utf-8")
    (folder / "checklist.docx").write_bytes(word_file())
    pages = [
        ["Field report on the valley", "This report covers the valley in the year of the flood."],
        ["In spring the river rose by four metres and closed the old road."],
        ["The stone bridge reopened in October 1987 after the repairs."],
    ]
    (folder / "report.pdf").write_bytes(pdf(pages, header="Valley Field Report", numbers=True))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("formats-data")


@pytest.fixture(autouse=True)
def index(corpus: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("CITEBOT_BACKEND", "extractive")
    monkeypatch.setattr(bot.wiring, "make_embeddings", lambda settings, **_: shared_minilm())
    result = CliRunner().invoke(cli, ["ingest", str(corpus)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def ask(question: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["ask", "--json", question], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(
    ("question", "key", "source", "page"),
    [
        (
            "Who was the lead botanist of the island survey?",
            "Kwame Asante-Bello",
            "survey.txt",
            None,
        ),
        ("How many exhibits does the Snorkel Museum have?", "3,400", "museum.html", None),
        ("When did the Snorkel Museum open?", "1975", "museum.html", None),
        ("Who was the lighthouse keeper in the stormy winter?", "Matilda", "lighthouse.md", None),
        ("How much did the river rise in spring?", "four metres", "report.pdf", 2),
        ("When did the stone bridge reopen?", "1987", "report.pdf", 3),
        ("Who is responsible for tagging the build?", "Priya Raman", "checklist.docx", None),
    ],
)
def test_each_format_is_answered_with_exact_quotes_and_pages(
    corpus: Path, question: str, key: str, source: str, page: int | None
) -> None:
    answer = ask(question)
    assert not answer["abstained"], answer["answer"]
    assert key in answer["answer"]
    cited = [c for c in answer["citations"] if c["source"] == source]
    assert cited, answer["citations"]
    for citation in answer["citations"]:
        document = load_document(corpus / citation["source"], citation["source"])
        assert document.text[citation["start"] : citation["end"]] == citation["quote"]
        for block in document.blocks:
            overlaps = block.start < citation["end"] and citation["start"] < block.end
            assert block.prose or not overlaps, f"{block.kind} quoted: {citation['quote']!r}"
    if page is not None:
        assert any(key in c["quote"] and c["page"] == page for c in cited), cited
    for leftover in ("Home", "Plan your visit", "All rights reserved", "#", "lamp --start"):
        assert leftover not in answer["answer"]
