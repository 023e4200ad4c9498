"""Loaders: every supported format read into plain text with a title; bad files skipped, one reason each."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fakes import encrypted_pdf, make_pdf, write_bad_files

from retrieval.errors import UnreadableFileError
from retrieval.loaders import load_corpus, load_document

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_seed_corpus_loads_with_titles_and_hashes() -> None:
    documents, skipped = load_corpus(SEED_CORPUS)
    assert skipped == []
    assert [d.source for d in documents] == ["000_a03238ee93841bab.txt", "004_7bcb2394e0e0540d.txt"]
    first = documents[0]
    assert (
        first.title == "US leaders tout military, trade cooperation as avenue for peace in SE Asia"
    )
    assert "displaced an estimated 300,000 people" in first.text
    raw = (SEED_CORPUS / first.source).read_bytes()
    assert first.content_hash == hashlib.sha256(raw).hexdigest()
    assert first.pages == () and first.page_at(10) is None


def test_txt_keeps_its_text_with_unix_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "\ufeffFirst line.\r\nSecond line.\rThird line.\r\n")
    document = load_document(path, "notes.txt")
    assert document.text == "First line.\n\nSecond line.\n\nThird line.", "short lines stay apart"
    assert document.title == "notes", "no headline-like line: the file name is the title"
    assert document.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_txt_title_is_a_leading_headline(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "Ceasefire signed between two neighbours\n\nThe body text.\n")
    assert load_document(path, "a.txt").title == "Ceasefire signed between two neighbours"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        # A short title-cased name set above its version, as licences and manuals open.
        ("      Harbour Licence\n   Version 2.0, May 2004\n\nThe body text.\n", "Harbour Licence"),
        # A label before the headline.
        (
            "Capabilities\n\nCeasefire signed between two neighbours\n\nThe body.\n",
            "Ceasefire signed between two neighbours",
        ),
        # Past the first paragraph, a line without its stop is a sentence, not a headline.
        (
            "This file lists the harbour rules.\n\nThe rules for ferries are described in "
            "the file FERRY.rules\n\nMore text.\n",
            "a",
        ),
        # Title-cased later on: a headline.
        (
            "This file lists the harbour rules.\n\nHarbour Rules For Ferries\n\nText.\n",
            "Harbour Rules For Ferries",
        ),
    ],
)
def test_txt_title_is_a_headline_not_a_sentence_without_its_stop(
    tmp_path: Path, text: str, title: str
) -> None:
    assert load_document(write(tmp_path / "a.txt", text), "a.txt").title == title


def test_markdown_title_comes_from_its_heading(tmp_path: Path) -> None:
    path = write(
        tmp_path / "guide.md", "Some preamble.\n\n## Setting up citebot ##\n\nRun make chat.\n"
    )
    document = load_document(path, "guide.md")
    assert document.title == "Setting up citebot"
    assert "Run make chat." in document.text


def test_markdown_sections_are_not_its_title(tmp_path: Path) -> None:
    readme = (
        "Tidewater reads tide tables.\n\n## Features\n\n* Fast lookups.\n\n"
        "## Installation\n\nRun pip install tidewater.\n"
    )
    document = load_document(write(tmp_path / "tidewater.md", readme), "tidewater.md")
    assert document.title == "tidewater"
    assert [document.text[b.start : b.end] for b in document.blocks if b.kind == "heading"] == [
        "Features",
        "Installation",
    ]


def test_html_keeps_only_visible_text(tmp_path: Path) -> None:
    page = """<!doctype html><html><head><title>Border  report</title>
    <style>body { color: red }</style><script>var secret = "tracking";</script></head>
    <body><h1>Heading one</h1>
    <p>Visible   paragraph about the <b>ceasefire</b>.</p>
    <div hidden>hidden div</div><span aria-hidden="true">aria hidden</span>
    <noscript>enable javascript</noscript><template><p>template text</p></template>
    <script>alert("x")</script><p>Last line.</p></body></html>"""
    document = load_document(write(tmp_path / "page.html", page), "page.html")
    assert document.title == "Border report"
    assert document.text == "Heading one\n\nVisible paragraph about the ceasefire.\n\nLast line."
    assert [b.kind for b in document.blocks] == ["heading", "paragraph", "paragraph"]
    for invisible in ("color", "tracking", "hidden div", "aria hidden", "javascript", "template"):
        assert invisible not in document.text


def test_html_without_title_takes_its_first_heading(tmp_path: Path) -> None:
    page = "<html><body><h2>Talks in Seoul</h2><p>Text.</p></body></html>"
    assert load_document(write(tmp_path / "p.htm", page), "p.htm").title == "Talks in Seoul"


def test_pdf_text_keeps_page_numbers(tmp_path: Path) -> None:
    data = make_pdf(["Page one says hello.", "", "Page three says goodbye."], title="Field Report")
    document = load_document(write(tmp_path / "report.pdf", data), "report.pdf")
    assert document.title == "Field Report"
    assert document.text == "Page one says hello. Page three says goodbye.", "one flowing text"
    assert [span.page for span in document.pages] == [1, 3], "the blank page keeps its number"
    for span in document.pages:
        assert document.page_at(span.start) == span.page
    third = document.pages[1]
    assert document.text[third.start : third.end] == "Page three says goodbye."


def test_pdf_without_metadata_title_falls_back_to_its_name(tmp_path: Path) -> None:
    path = write(tmp_path / "minutes.pdf", make_pdf(["Short."]))
    assert load_document(path, "minutes.pdf").title == "minutes"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "it is empty"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("broken.pdf", b"%PDF-1.4\ngarbage", "not a readable PDF"),
        ("blank.pdf", make_pdf([""]), "no extractable text"),
        ("tags.html", b"<html><script>x()</script></html>", "no text"),
    ],
)
def test_unusable_file_raises_with_its_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    with pytest.raises(UnreadableFileError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        load_document(write(tmp_path / name, data), name)


def test_encrypted_pdf_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypted_pdf(["Secret."]))
    with pytest.raises(UnreadableFileError, match="encrypted; save an unencrypted copy"):
        load_document(path, "locked.pdf")


def test_corpus_skips_each_bad_file_once_and_loads_the_rest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    expected = write_bad_files(corpus / "bad")
    write(corpus / "good.txt", "A good text file.")
    write(corpus / "deep" / "er" / "guide.md", "# Guide\n\nDeep text.")
    write(corpus / "report.pdf", make_pdf(["PDF text."]))
    write(corpus / ".hidden.txt", "ignored")
    write(corpus / ".git" / "config.txt", "ignored too")

    documents, skipped = load_corpus(corpus)

    assert [d.source for d in documents] == ["deep/er/guide.md", "good.txt", "report.pdf"]
    reasons = {s.source: s.reason for s in skipped}
    assert len(skipped) == len(reasons), "one reason per file"
    assert set(reasons) == {f"bad/{name}" for name in expected}
    for name, word in expected.items():
        assert word in reasons[f"bad/{name}"], (name, reasons[f"bad/{name}"])


def test_a_folder_named_like_a_file_is_not_a_document(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "folder.txt").mkdir(parents=True)
    write(corpus / "folder.txt" / "inner.txt", "Inner text.")
    documents, skipped = load_corpus(corpus)
    assert [d.source for d in documents] == ["folder.txt/inner.txt"] and skipped == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its permissions")
def test_a_file_without_read_permission_is_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "ok.txt", "Readable text.")
    write(corpus / "locked.txt", "Secret text.").chmod(0)
    documents, skipped = load_corpus(corpus)
    assert [d.source for d in documents] == ["ok.txt"]
    assert [(s.source, s.reason) for s in skipped] == [
        ("locked.txt", "cannot read it (Permission denied)")
    ]


def test_a_file_without_a_suffix_is_read_by_what_its_bytes_hold(tmp_path: Path) -> None:
    """README, LICENSE, "GPL-3" or "notes.2024": a name without a real suffix is read as text,
    HTML or PDF by its first bytes; a binary one is skipped, saying why."""
    corpus = tmp_path / "corpus"
    write(corpus / "LICENSE", "Permission is granted to copy this software freely.")
    write(corpus / "notes.2024", "The roof was fixed in March.")
    write(corpus / "saved-page", "<!DOCTYPE html><title>Opening hours</title><p>Open at nine.</p>")
    write(corpus / "scan", make_pdf(["Printed page text."]))
    write(corpus / "photo", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")

    documents, skipped = load_corpus(corpus)

    by_source = {d.source: d for d in documents}
    assert sorted(by_source) == ["LICENSE", "notes.2024", "saved-page", "scan"]
    assert by_source["LICENSE"].text == "Permission is granted to copy this software freely."
    assert by_source["saved-page"].title == "Opening hours"
    assert by_source["saved-page"].text == "Open at nine."
    assert "Printed page text." in by_source["scan"].text
    assert [(s.source, "binary" in s.reason) for s in skipped] == [("photo", True)]


@pytest.mark.parametrize(
    ("name", "fix"),
    [("minutes.doc", "save it as .docx or PDF"), ("song.mp3", "citebot reads text, Markdown")],
)
def test_an_unreadable_type_is_skipped_with_what_to_do(tmp_path: Path, name: str, fix: str) -> None:
    write(tmp_path / "corpus" / name, b"\xd0\xcf\x11\xe0 old binary")
    documents, skipped = load_corpus(tmp_path / "corpus")
    assert documents == []
    assert len(skipped) == 1 and fix in skipped[0].reason, skipped
