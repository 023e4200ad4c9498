"""A document's own "[2][3]" never shows up as one of the answer's citations, in any door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.answering.answer import Answer, Citation
from bot.answering.markers import neutralise_markers
from bot.doors.cli import cli
from bot.doors.repl import format_answer, format_sources
from bot.doors.telegram.format import format_answer as telegram_answer
from bot.doors.telegram.format import format_quotes

REPORT = (
    "Harbour freight report for the autumn season\n\n"
    "The northern harbour handled 900 tonnes of grain in October [2][3]. "
    "Storms closed the southern quay for four days in November [4].\n"
)
CITATION_MARKER = re.compile(r"\[\d+\]")


def test_bracketed_numbers_become_superscripts() -> None:
    assert neutralise_markers("900 tonnes [2][3].") == "900 tonnes ⁽²⁾⁽³⁾."
    assert neutralise_markers("see [12, 14] and [1-3]") == "see ⁽¹²˒ ¹⁴⁾ and ⁽¹⁻³⁾"
    assert neutralise_markers("a [note] and arr[i]") == "a [note] and arr[i]"


def quoted(quote: str, source: str = "report.txt", title: str = "Harbour") -> Answer:
    citation = Citation(1, source, title, None, "c1", quote, 0, len(quote))
    return Answer("q?", "It handled 900 tonnes [1].", False, [citation], [], "extractive", None)


def test_every_door_shows_document_markers_neutralised() -> None:
    answer = quoted("The northern harbour handled 900 tonnes of grain in October [2][3].")
    repl = format_answer(answer, width=200) + format_sources(answer, width=200)
    telegram = "".join(telegram_answer(answer) + format_quotes(answer.citations))
    for shown in (repl, telegram):
        assert "[2]" not in shown and "[3]" not in shown
        assert "⁽²⁾⁽³⁾" in shown
        assert "[1]" in shown  # the real citation is untouched


def test_a_source_name_with_a_newline_is_printed_escaped() -> None:
    answer = quoted("A quote.", source="evil\nname.txt", title="Title\nwith a break")
    shown = format_answer(answer, width=200)
    assert "evil\\nname.txt" in shown and "Title\\nwith a break" in shown
    assert all("name.txt" not in line or "evil" in line for line in shown.splitlines())
    assert "evil\\nname.txt" in "".join(telegram_answer(answer))


@pytest.mark.slow
def test_ask_through_the_cli_cites_only_its_own_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text(REPORT, encoding="utf-8")
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(corpus))
    result = CliRunner().invoke(
        cli,
        ["ask", "How many tonnes of grain did the northern harbour handle in October?"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    answer_text = result.stdout.split("Sources:")[0]
    assert "900 tonnes" in answer_text
    # Only one document was retrieved, so the only real citation is [1].
    assert set(CITATION_MARKER.findall(result.stdout)) == {"[1]"}
    assert "⁽²⁾⁽³⁾" in answer_text
