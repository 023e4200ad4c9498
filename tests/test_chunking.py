"""Chunking: exact offsets (a citation can quote the source), token limits, overlap, stable ids."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import tiktoken

from retrieval.chunking import chunk_document, chunk_id
from retrieval.documents import Chunk, Document, PageSpan
from retrieval.loaders import load_corpus, load_document
from retrieval.passages import passage_spans, passage_texts
from retrieval.text.sentences import sentence_spans
from retrieval.tokens import CHUNKING_ENCODING, get_encoding

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def encoding() -> tiktoken.Encoding:
    return get_encoding(CHUNKING_ENCODING)


def tokens(text: str, encoding: tiktoken.Encoding) -> int:
    return len(encoding.encode(text, disallowed_special=()))


def doc(text: str, source: str = "doc.txt") -> Document:
    return Document(source=source, title="A title", text=text, content_hash="hash")


def assert_well_formed(
    document: Document, chunks: list[Chunk], encoding: tiktoken.Encoding, limit: int
) -> None:
    """Offsets quote the text exactly, every chunk fits, every word is covered, indexes count up."""
    assert chunks, "a document with text yields at least one chunk"
    covered = [False] * len(document.text)
    for position, chunk in enumerate(chunks):
        assert document.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip(), "no chunk is only white space"
        assert tokens(chunk.text, encoding) <= limit, (chunk.index, tokens(chunk.text, encoding))
        assert chunk.index == position
        assert (chunk.source, chunk.title) == (document.source, document.title)
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    lost = [i for i, seen in enumerate(covered) if not seen and not document.text[i].isspace()]
    assert lost == [], f"characters in no chunk: {document.text[lost[0] : lost[0] + 40]!r}"
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


@pytest.mark.parametrize(("limit", "overlap"), [(200, 40), (64, 16), (16, 4)])
def test_seed_documents_chunk_with_exact_offsets_within_the_token_limit(
    encoding: tiktoken.Encoding, limit: int, overlap: int
) -> None:
    documents, skipped = load_corpus(SEED_CORPUS)
    assert len(documents) == 2 and skipped == []
    for document in documents:
        assert_well_formed(
            document, chunk_document(document, encoding, limit, overlap), encoding, limit
        )


def test_a_sentence_longer_than_the_limit_is_cut_into_token_windows(
    encoding: tiktoken.Encoding,
) -> None:
    # One "sentence" (no full stop) of about 900 tokens, with numbers whose tokens join oddly.
    text = " ".join(f"word{i} 300,000 people" for i in range(200))
    document = doc(text)
    chunks = chunk_document(document, encoding, 50, 10)
    assert_well_formed(document, chunks, encoding, 50)
    assert len(chunks) >= tokens(text, encoding) // 50


def test_multibyte_text_without_sentence_ends_stays_within_the_limit(
    encoding: tiktoken.Encoding,
) -> None:
    # Chinese and emoji split across tokens: windows must map back to characters without drift.
    text = (
        "北京是中华人民共和国的首都，也是全国的政治和文化中心🎉" * 40
        + "\n"
        + "Party 🎉 time 😀 " * 200
    )
    document = doc(text)
    assert_well_formed(document, chunk_document(document, encoding, 40, 8), encoding, 40)


def test_chunks_close_at_paragraph_breaks(encoding: tiktoken.Encoding) -> None:
    # Five paragraphs of about 70 tokens: two would fit in 150 tokens, but a chunk that is half
    # full closes at a paragraph break rather than run into the next paragraph.
    text = "\n\n".join(
        " ".join(f"In part {n} the border dispute displaced families {m}." for m in range(6))
        for n in range(5)
    )
    document = doc(text)
    chunks = chunk_document(document, encoding, 100, 0)
    assert_well_formed(document, chunks, encoding, 100)
    assert len(chunks) == 5
    for chunk in chunks:
        assert text[chunk.end : chunk.end + 2] in ("\n\n", ""), (
            "a chunk ends where a paragraph does"
        )


def test_neighbouring_chunks_overlap_by_whole_sentences(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"Sentence number {n} is short." for n in range(60))
    document = doc(text)
    chunks = chunk_document(document, encoding, 60, 20)
    assert_well_formed(document, chunks, encoding, 60)
    assert len(chunks) > 3
    for left, right in itertools.pairwise(chunks):
        assert right.start < left.end, "the next chunk repeats the end of this one"
        shared = text[right.start : left.end]
        assert shared.endswith("."), "the overlap is whole sentences"
        assert 0 < tokens(shared, encoding) <= 20
        assert right.start > left.start, "chunking always moves forward"


def test_no_overlap_when_asked_for_none(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"Sentence number {n} is short." for n in range(60))
    chunks = chunk_document(doc(text), encoding, 60, 0)
    assert all(right.start > left.end for left, right in itertools.pairwise(chunks))


def test_overlap_not_below_the_size_is_tamed(encoding: tiktoken.Encoding) -> None:
    # overlap >= size would never move forward; it falls back to a quarter of the size.
    text = " ".join(f"Sentence number {n} is short." for n in range(40))
    document = doc(text)
    chunks = chunk_document(document, encoding, 30, 30)
    assert_well_formed(document, chunks, encoding, 30)
    assert len(chunks) < 40


def test_abbreviations_do_not_end_sentences() -> None:
    text = (
        "Hegseth met Adm. Dong Jun late November 1. Minister Khaled welcomed the U.S. commitment "
        "to observers. Dr. Smith arrived on Monday. It rained!"
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "Hegseth met Adm. Dong Jun late November 1.",
        "Minister Khaled welcomed the U.S. commitment to observers.",
        "Dr. Smith arrived on Monday.",
        "It rained!",
    ]


def test_closing_quotes_and_line_breaks_end_sentences() -> None:
    text = 'He said "never better." Then he left\nA new line starts here'
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ['He said "never better."', "Then he left", "A new line starts here"]


def test_an_abbreviation_is_not_cut_even_in_a_tiny_chunk(encoding: tiktoken.Encoding) -> None:
    text = "After meeting his counterpart Adm. Dong Jun, Hegseth spoke. " * 3
    document = doc(text.strip())
    chunks = chunk_document(document, encoding, 16, 0)
    assert_well_formed(document, chunks, encoding, 16)
    assert all(not c.text.endswith("Adm.") for c in chunks)


def test_chunk_ids_are_stable_and_follow_content(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"Sentence number {n} is short." for n in range(60))
    first = chunk_document(doc(text), encoding, 60, 20)
    again = chunk_document(doc(text), encoding, 60, 20)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first), "ids are unique within a document"

    edited = chunk_document(doc(text.replace("number 59", "number fifty-nine")), encoding, 60, 20)
    assert first[0].chunk_id == edited[0].chunk_id, "an edit at the end keeps earlier ids"
    assert first[-1].chunk_id != edited[-1].chunk_id, "the edited chunk gets a new id"

    elsewhere = chunk_document(doc(text, source="copy.txt"), encoding, 60, 20)
    assert not {c.chunk_id for c in first} & {c.chunk_id for c in elsewhere}


def test_pdf_chunks_carry_their_page(encoding: tiktoken.Encoding) -> None:
    page_one = " ".join(f"First page sentence {n}." for n in range(20))
    page_two = " ".join(f"Second page sentence {n}." for n in range(20))
    text = f"{page_one}\n\n{page_two}"
    document = Document(
        "report.pdf",
        "Report",
        text,
        "hash",
        pages=(PageSpan(1, 0, len(page_one)), PageSpan(2, len(page_one) + 2, len(text))),
    )
    chunks = chunk_document(document, encoding, 40, 0)
    assert_well_formed(document, chunks, encoding, 40)
    for chunk in chunks:
        expected = 1 if chunk.text.startswith("First") else 2
        assert chunk.page == expected
        assert chunk.metadata()["page"] == expected
    assert {c.page for c in chunks} == {1, 2}


def test_text_documents_have_no_page(encoding: tiktoken.Encoding) -> None:
    chunk = chunk_document(doc("One sentence."), encoding, 40, 0)[0]
    assert chunk.page is None
    assert "page" not in chunk.metadata()


def test_white_space_only_text_yields_no_chunks(encoding: tiktoken.Encoding) -> None:
    assert chunk_document(doc(" \n\n \t "), encoding, 40, 0) == []


def test_chunk_round_trips_through_store_metadata(
    tmp_path: Path, encoding: tiktoken.Encoding
) -> None:
    chunk = chunk_document(doc("One sentence. Two sentences."), encoding, 40, 0)[0]
    assert Chunk.from_metadata(chunk.chunk_id, chunk.text, dict(chunk.metadata())) == chunk


def test_each_sentence_knows_the_heading_it_sits_under(
    tmp_path: Path, encoding: tiktoken.Encoding
) -> None:
    path = tmp_path / "opts.md"
    path.write_text(
        "# Options\n\n## cache.size\n\n- **Default:** `64`\n\nIt caps the cache.\n\n"
        "## cache.dir\n\n- **Default:** `~/.cache`\n\nWhere the cache lives.\n",
        encoding="utf-8",
    )
    document = load_document(path, "opts.md")
    [chunk] = chunk_document(document, encoding, 200, 0)
    assert chunk.section == "Options"
    under = {
        chunk.text[s - chunk.start : e - chunk.start]: chunk.section_at(s)
        for s, e in chunk.answer_spans()
    }
    assert under == {
        "Default: 64": "cache.size",
        "It caps the cache.": "cache.size",
        "Default: ~/.cache": "cache.dir",
        "Where the cache lives.": "cache.dir",
    }
    assert Chunk.from_metadata(chunk.chunk_id, chunk.text, dict(chunk.metadata())) == chunk
    # The inner headings are part of what is stored, so they are part of the id.
    assert chunk.chunk_id != chunk_id(chunk.source, chunk.start, chunk.text)


def test_chunk_ids_are_the_same_in_every_process() -> None:
    # A content hash, not Python's salted hash(): a re-ingest in a new process finds the same ids.
    assert chunk_id("a.txt", 0, "Hello.") == "a11002ea467b9a581407946fbb5ee3a8"


def test_passages_are_overlapping_sentence_pairs_headed_by_the_title() -> None:
    text = "First one. Second one? Third one! Fourth one."
    spans = passage_spans(text)
    assert [text[start:end] for start, end in spans] == [
        "First one. Second one?",
        "Second one? Third one!",
        "Third one! Fourth one.",
    ]
    chunk = Chunk("id", "notes/a.txt", "Field notes", 0, 0, len(text), text)
    assert passage_texts(chunk)[0] == "Field notes\nFirst one. Second one?"
    untitled = Chunk("id", "notes/a.txt", "a", 0, 0, len(text), text)
    assert passage_texts(untitled)[0] == "First one. Second one?", "a file-name title adds nothing"


@pytest.mark.parametrize("text", ["Just one sentence.", "One sentence. And a second.", "   "])
def test_a_text_of_two_sentences_or_fewer_is_one_passage(text: str) -> None:
    assert len(passage_spans(text)) == 1


def test_answer_sentences_pages_and_section_survive_the_store_metadata() -> None:
    from retrieval.documents import Block

    text = "Rules\n\nThe first rule is short. The second rule runs on.\n\nlamp --on"
    code = text.index("lamp")
    document = Document(
        "r.pdf",
        "Rules",
        text,
        "hash",
        (PageSpan(1, 0, 30), PageSpan(2, 30, len(text))),
        (
            Block("heading", 0, 5, "Rules"),
            Block("paragraph", 7, code - 2, "Rules"),
            Block("code", code, len(text), "Rules"),
        ),
    )
    (chunk,) = chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50)
    assert [text[s:e] for s, e in chunk.answer_spans()] == [
        "The first rule is short.",
        "The second rule runs on.",
    ]
    assert chunk.section == "Rules"
    second = text.index("The second")
    assert chunk.page_of(second, second + 10) == 2 and chunk.page_of(7, 20) == 1
    rebuilt = Chunk.from_metadata(chunk.chunk_id, chunk.text, dict(chunk.metadata()))
    assert rebuilt == chunk


def test_a_sentence_is_not_cut_before_a_bracket_or_an_ellipsis_inside_it() -> None:
    # syntok ends a sentence before some brackets; a piece that ends with no stop is part of
    # the sentence after it on the same line.
    text = (
        "The check covers every well known name (os, doc, test, …) and the values of each. "
        "Most (if not all) small missions at the centre use it (e.g. by showing a console). "
        "It rained!"
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "The check covers every well known name (os, doc, test, …) and the values of each.",
        "Most (if not all) small missions at the centre use it (e.g. by showing a console).",
        "It rained!",
    ]


def test_a_stop_inside_a_dotted_name_ends_no_sentence_and_a_bracketed_one_does() -> None:
    # syntok ends a sentence at a stop glued to a capital ("os.Path"); a stop that the next
    # word touches is inside a name. A bracketed sentence's own stop ends the sentence after it.
    text = (
        "Import the os.Path module and call Example.Group to read it (as a plain string.) "
        "Such names are used below. It rose 3.5 percent."
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "Import the os.Path module and call Example.Group to read it (as a plain string.)",
        "Such names are used below.",
        "It rose 3.5 percent.",
    ]
