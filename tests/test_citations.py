"""Citation checks on real seed-corpus text: what survives, what is dropped, where quotes point."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answering.citations import check_citations, is_refusal, numbers_supported, support_ratio
from bot.answering.prompts import REFUSAL
from retrieval.documents import Chunk
from retrieval.loaders import load_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NEWS = "000_a03238ee93841bab.txt"
READOUT = "004_7bcb2394e0e0540d.txt"


def document_text(source: str) -> str:
    """The corpus file's stored text (as a person reads it), which citation offsets index."""
    return load_document(CORPUS / source, source).text


def chunk_between(source: str, first: str, last: str) -> Chunk:
    """A chunk of `source` from the start of `first` to the end of `last`, at its true offsets."""
    text = document_text(source)
    start = text.index(first)
    end = text.index(last, start) + len(last)
    return Chunk(
        chunk_id=f"{source}:{start}",
        source=source,
        title=source,
        index=0,
        start=start,
        end=end,
        text=text[start:end],
    )


@pytest.fixture
def sources() -> list[Chunk]:
    """[1] the displacement and prisoner paragraph; [2] the Malaysia meeting readout."""
    return [
        chunk_between(NEWS, "The Kuala Lumpur Peace Accord", "withdraw heavy weapons."),
        chunk_between(READOUT, "The U.S. Secretary of War", "October 30, 2025."),
    ]


DISPLACED = "The dispute displaced an estimated 300,000 people"
RELEASED = "Thailand will release 18 detained Cambodian soldiers"
MET = "Hegseth and Khaled held bilateral discussions on October 30, 2025"


def test_valid_citations_survive_with_exact_quotes(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED} [1]. {MET} [2].", sources)

    assert not checked.abstained
    assert checked.text == f"{DISPLACED} [1]. {MET} [2]."
    assert [c.n for c in checked.citations] == [1, 2]
    for citation, chunk in zip(checked.citations, sources, strict=True):
        # The quote is the document's own text at the recorded offsets, inside the cited chunk.
        assert document_text(citation.source)[citation.start : citation.end] == citation.quote
        assert chunk.start <= citation.start < citation.end <= chunk.end
        assert citation.chunk_id == chunk.chunk_id
    assert "300,000" in checked.citations[0].quote
    assert "October 30, 2025" in checked.citations[1].quote


def test_quote_is_the_sentence_that_supports_the_claim(sources: list[Chunk]) -> None:
    checked = check_citations(f"{RELEASED} [1].", sources)

    [citation] = checked.citations
    assert citation.quote == (
        "Thailand will release 18 detained Cambodian soldiers, "
        "and Cambodia will withdraw heavy weapons."
    )
    assert document_text(NEWS)[citation.start : citation.end] == citation.quote


def test_invented_source_number_is_removed(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED} [1][9].", sources)

    assert checked.text == f"{DISPLACED} [1]."
    assert "[9]" not in checked.text
    assert [c.n for c in checked.citations] == [1]
    assert any("[9]" in reason for reason in checked.dropped)


def test_sentence_citing_only_an_invented_source_is_dropped(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED} [1]. {RELEASED} [9].", sources)

    assert checked.text == f"{DISPLACED} [1]."
    assert "18" not in checked.text


def test_uncited_answer_becomes_the_refusal(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED}. {RELEASED}.", sources)

    assert checked.abstained
    assert checked.text == REFUSAL
    assert checked.citations == []


def test_uncited_sentence_never_reaches_the_user(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED} [1]. Both armies have since disarmed.", sources)

    assert checked.text == f"{DISPLACED} [1]."
    assert "disarmed" not in checked.text
    assert any(reason.startswith("uncited") for reason in checked.dropped)


def test_sentence_with_a_number_not_in_its_source_is_dropped(sources: list[Chunk]) -> None:
    wrong = "The dispute displaced an estimated 400,000 people [1]."
    checked = check_citations(f"{wrong} {RELEASED} [1].", sources)

    assert "400,000" not in checked.text
    assert checked.text == f"{RELEASED} [1]."
    assert not checked.abstained


def test_sentence_its_source_does_not_support_is_dropped(sources: list[Chunk]) -> None:
    # Cites a real source, but the source says nothing about Taiwan or a budget.
    checked = check_citations("Taiwan praised the Pentagon budget [2].", sources)

    assert checked.abstained
    assert checked.text == REFUSAL


def test_claim_checked_against_the_source_it_cites_not_any_source(sources: list[Chunk]) -> None:
    # True of source 1, but it cites source 2.
    checked = check_citations(f"{DISPLACED} [2].", sources)

    assert checked.abstained


@pytest.mark.parametrize(
    "reply",
    [
        REFUSAL,
        REFUSAL.replace("'", "\u2019"),  # curly apostrophes from a model
        f"  {REFUSAL.lower()}  ",
    ],
)
def test_model_refusal_means_abstained(reply: str, sources: list[Chunk]) -> None:
    checked = check_citations(reply, sources)

    assert checked.abstained
    assert checked.text == REFUSAL
    assert checked.citations == []


def test_empty_reply_is_a_refusal(sources: list[Chunk]) -> None:
    assert check_citations("   ", sources).abstained


def test_marker_after_the_full_stop_stays_with_its_sentence(sources: list[Chunk]) -> None:
    checked = check_citations(f"{DISPLACED}. [1] {MET}. [2]", sources)

    assert checked.text == f"{DISPLACED} [1]. {MET} [2]."


def test_grouped_citations_are_checked_against_all_they_name(sources: list[Chunk]) -> None:
    both = "Hegseth met Khaled on October 30, 2025, and Thailand will release 18 soldiers"
    checked = check_citations(f"{both} [1, 2].", sources)

    assert checked.text == f"{both} [1][2]."
    assert sorted(c.n for c in checked.citations) == [1, 2]


def test_support_helpers() -> None:
    assert support_ratio("displaced 300,000 people", "an estimated 300,000 people were displaced")
    assert support_ratio("Taiwan budget", "the Pentagon chief") == 0.0
    assert numbers_supported("300000 people", "300,000 people")
    assert not numbers_supported("18 or 19 soldiers", "18 detained soldiers")
    assert is_refusal(f"Sorry. {REFUSAL}")
    assert not is_refusal("The documents say 300,000 [1].")


def test_a_stream_passes_on_only_checked_sentences() -> None:
    from bot.answering.citations import CheckedStream
    from retrieval.documents import Chunk

    source = Chunk(
        "c1", "a.txt", "A", 0, 0, 60, "The dispute displaced an estimated 300,000 people."
    )
    shown: list[str] = []
    stream = CheckedStream([source], shown.append)
    reply = (
        "The dispute displaced 300,000 people [1]. It also displaced 900,000 cats [1]. "
        "Nobody cited this. An invented source [7]. It displaced 300,000 people. [1]"
    )
    for start in range(0, len(reply), 7):  # arrives in small pieces, as tokens do
        stream.feed(reply[start : start + 7])
    stream.finish()

    streamed = "".join(shown)
    assert streamed.count("300,000 people [1].") == 2
    assert "900,000" not in streamed and "Nobody" not in streamed and "[7]" not in streamed
    assert streamed.strip() == check_citations(reply, [source]).text


def test_a_citation_names_the_heading_its_quote_sits_under() -> None:
    """Where a claim comes from is the file, its page, and the section: a changelog's line is
    found under its version's heading."""
    text = (
        "Version History\n\nv1.2.6\nFix the changelog numbers.\n\n"
        "v1.2.5\nAdd prompt customization to the shell."
    )
    sections = ((17, "v1.2.6"), (52, "v1.2.5"))
    assert text[17:23] == "v1.2.6" and text[52:58] == "v1.2.5"
    chunk = Chunk("c0", "CHANGES.md", "Version History", 0, 0, len(text), text, sections=sections)
    checked = check_citations("Add prompt customization to the shell [1].", [chunk])
    assert [(c.section, c.quote) for c in checked.citations] == [
        ("v1.2.5", "Add prompt customization to the shell.")
    ]
