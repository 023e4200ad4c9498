"""PDF through pypdf, page by page: running headers and footers dropped, wrapped lines and
line-end hyphens joined across pages, and each page's span kept so a quote knows its page."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from retrieval.errors import UnreadableFileError
from retrieval.loaders.assembly import (
    DocumentBuilder,
    flow,
    is_leader_line,
    join_lines,
    looks_like_heading,
)

_BULLET = re.compile(r"^(?:[-•◦▪‣*]|\(?\d{1,3}[.)])\s+(?=\S)")
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[\divxlc]+(?:\s*(?:of|/)\s*\d+)?$", re.IGNORECASE)
_SENTENCE_END = (".", "!", "?", ":", '"', "\u201d")
# A line shorter than this share of the usual line length ends its paragraph when it ends a sentence.
_SHORT_LINE = 0.75


def read_pdf(data: bytes, builder: DocumentBuilder) -> None:
    """Add the blocks of a PDF to `builder`, or raise UnreadableFileError saying why."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    with _pypdf_warnings() as warnings:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableFileError("the PDF is encrypted; save an unencrypted copy")
            pages = [
                [flow(line) for line in (page.extract_text() or "").split("\n")]
                for page in reader.pages
            ]
            metadata_title = (reader.metadata.title if reader.metadata else None) or ""
        except UnreadableFileError:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as error:
            said = f"; pypdf: {warnings[0]}" if warnings else ""
            raise UnreadableFileError(f"it is not a readable PDF ({error}{said})") from error
    if not any(line for page in pages for line in page):
        raise UnreadableFileError("the PDF has no extractable text (scanned images need OCR first)")
    _add_lines(_without_furniture(pages), builder)
    builder.title = str(metadata_title).strip()
    # Without metadata, a heading that opens the file is its title; a first line cut off is not.
    opening = [b for b in builder.blocks[:5] if b.kind == "heading"]
    if not builder.title and opening:
        builder.title = builder.text[opening[0].start : opening[0].end]


@contextmanager
def _pypdf_warnings() -> Iterator[list[str]]:
    """pypdf's log messages while reading, kept for the skip line instead of printed."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("pypdf")
    handler = Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _shape(line: str) -> str:
    """A line without its numbers: "Guide 3.1  page 7" and "page 8  Guide 3.1" are one line."""
    return " ".join(re.sub(r"\d+", " ", line.lower()).split())


def _without_furniture(pages: list[list[str]]) -> list[list[tuple[str, int]]]:
    """Each page's lines with running headers, footers and page numbers removed."""
    counts: Counter[str] = Counter()
    for lines in pages:
        lines = [line for line in lines if line]
        counts.update({_shape(line) for line in lines[:2] + lines[-2:]})
    # On most pages, and on at least two: a line at the edge of every page of a short file counts.
    # A third of the pages: running heads often alternate between odd and even pages.
    needed = max(2, (len(pages) + 2) // 3)
    running = {shape for shape, count in counts.items() if count >= needed and shape}
    out = []
    for number, lines in enumerate(pages, start=1):
        kept = [line for line in lines if line]
        edges = set(range(2)) | {len(kept) - 1, len(kept) - 2}
        out.append(
            [
                (line, number)
                for i, line in enumerate(kept)
                if not (i in edges and (_shape(line) in running or _PAGE_NUMBER.match(line)))
            ]
        )
    return out


def _add_lines(pages: list[list[tuple[str, int]]], builder: DocumentBuilder) -> None:
    lines = [line for page in pages for line in page]
    lengths = sorted(len(text) for text, _ in lines)
    width = lengths[int(len(lengths) * 0.9)] if lengths else 0
    current: list[tuple[str, int]] = []
    kind = "paragraph"

    def emit() -> None:
        nonlocal current, kind
        if current:
            text, marks = join_lines(current)
            builder.add(kind, text, page_marks=marks, tight=kind == "list_item")  # type: ignore[arg-type]
        current, kind = [], "paragraph"

    previous = ""
    for text, page in lines:
        ends_sentence = previous.endswith(_SENTENCE_END)
        short = len(previous) < _SHORT_LINE * width
        # Lines inside a paragraph run to the margin; a short one ends its paragraph unless the
        # next line carries on in lower case.
        ends_paragraph = short and (ends_sentence or not text[:1].islower())
        if is_leader_line(text):
            emit()
            builder.add("furniture", text, page_marks=[(0, page)])
        elif _BULLET.match(text):
            emit()
            kind = "list_item"
            current = [(_BULLET.sub("", text), page)]
        elif (
            looks_like_heading(text, strict=True)
            and (not previous or ends_sentence or not current)
            and (len(text) < _SHORT_LINE * width)
        ):
            emit()
            builder.heading(text, page_marks=[(0, page)])
        else:
            if current and ends_paragraph:
                emit()
            current.append((text, page))
        previous = text
    emit()
