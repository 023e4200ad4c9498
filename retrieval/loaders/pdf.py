"""PDF through pypdf, page by page: lines in reading order (columns read down, see
reading_order.py), running headers and footers dropped, wrapped lines and line-end hyphens
joined across pages, and each page's span kept so a quote knows its page."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from retrieval.errors import UnreadableFileError
from retrieval.loaders.assembly import (
    DocumentBuilder,
    document_words,
    ends_mid_phrase,
    flow,
    is_code_line,
    is_leader_line,
    join_lines,
    looks_like_heading,
    table_row_text,
)
from retrieval.loaders.reading_order import DISPLAY_RATIO, PageLine, page_lines

# A list item's mark: a bullet (symbol fonts draw theirs as a private-use character, U+F0B7),
# a dash, or a number.
_BULLET = re.compile(r"^(?:[-•◦▪‣*\ue000-\uf8ff]|\(?\d{1,3}[.)])\s+(?=\S)")
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[\divxlc]+(?:\s*(?:of|/)\s*\d+)?$", re.IGNORECASE)
# A page number in lower-case roman numerals (i to cxxxix), as front matter is numbered. Only a
# whole word at a line's start or end counts, and only in lower case: "CLI Guide" or "Book II"
# is a title, while "xii" standing alone at a running line's edge is a page number.
_ROMAN_PAGE = re.compile(r"(?=[ivxlc])c?(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})")
# A number that opens or closes a line: where a running line carries its page's number.
_EDGE_NUMBER = re.compile(r"^(\d{1,4})\s|\s(\d{1,4})$")
_SENTENCE_END = (".", "!", "?", ":", '"', "\u201d")
# An endnote number a PDF sets as a superscript comes out glued to the sentence it marks:
# "… in the field.12 Next …", "… billion by 2026.1 The …". Digits right after a sentence's stop
# that follows a lower-case word (or one digit after a year: "2024.10" may be a version), before a
# new sentence or the line's end.
_ENDNOTE_MARK = re.compile(
    r"(?:(?<=[a-z]{4}[.!?,;:\"\u201d)])\d{1,3}(?:,\d{1,3})*|(?<=\b(?:1[89]|20)\d\d[.!?])\d)"
    r"(?=\s+[A-Z\u201c\"(\[]|$)"
)
# Drawing operators (rectangles, line segments) in a page's content stream: a page with fewer
# cannot hold a ruled table, and pdfplumber (much slower than pypdf) is not opened for it.
_DRAWING = re.compile(rb"(?<![A-Za-z])(?:re|l)(?![A-Za-z])")
_MIN_DRAWING = 8
# A table pdfplumber finds is read as rows when it has this many rows and columns, and no more
# columns (a grid of boxes in a diagram has more), and most of its cells hold text.
_MIN_ROWS, _MIN_COLUMNS, _MAX_COLUMNS = 2, 2, 12
_MIN_FILLED = 0.5
# A section number of several levels opening a line: "3.3.1 ", "4.2 ".
_SECTION_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{1,3})+\.?\s+\S")
# A line ending where a reference to a numbered part goes on: "as shown in Section".
_REFERENCE_END = re.compile(
    r"\b(?:[Ss]ections?|[Cc]hapters?|[Aa]ppendix|[Tt]ables?|[Ff]igures?|§)$"
)
# A line that only numbers a part of a book; its title follows on the next line.
_PART_LABEL = re.compile(
    r"^(?:Chapter|CHAPTER|Appendix|APPENDIX|Part|PART)\s+(?:\d{1,3}|[IVXLC]{1,6}|[A-Z])$"
)
# A short line like "Table 3: Settings" just above a table is its caption: the rows sit under it.
_CAPTION = re.compile(r"^(?:Table|TABLE)\s+[\dA-Z][\w.-]*\b")
# A line shorter than this share of the usual line length ends its paragraph when it ends a sentence.
_SHORT_LINE = 0.75
# A heading's type is larger than the document's usual type by at least this much (section
# headings run about 1.2 to 1.5 times the body); a title page's title is set in a few such lines.
_LARGER_RATIO = 1.15
_TITLE_LINES = 4
# The usual type is read from this many pages: enough body text past a title page.
_USUAL_TYPE_PAGES = 4


def read_pdf(data: bytes, builder: DocumentBuilder) -> None:
    """Add the blocks of a PDF to `builder`, or raise UnreadableFileError saying why."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    with _pypdf_warnings() as warnings:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableFileError("the PDF is encrypted; save an unencrypted copy")
            drawn = [page_lines(page) for page in reader.pages]
            usual = _usual_size(drawn)
            pages = [_typed_lines(lines, usual) for lines in drawn]
            metadata_title = (reader.metadata.title if reader.metadata else None) or ""
            ruled = [
                number
                for number, page in enumerate(reader.pages, start=1)
                if _drawing_count(page) >= _MIN_DRAWING
            ]
        except UnreadableFileError:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as error:
            said = f"; pypdf: {warnings[0]}" if warnings else ""
            raise UnreadableFileError(f"it is not a readable PDF ({error}{said})") from error
    if not any(line for page in pages for line in page):
        raise UnreadableFileError("the PDF has no extractable text (scanned images need OCR first)")
    kept = _without_furniture(pages, builder)
    tables = _find_tables(data, ruled)
    _add_lines([_with_tables(lines, tables.get(n, [])) for n, lines in enumerate(kept, 1)], builder)
    builder.title = str(metadata_title).strip() or _typeset_title(drawn[0], usual)
    # Otherwise a heading that opens the file is its title; a first line cut off is not.
    opening = [b for b in builder.blocks[:5] if b.kind == "heading"]
    if not builder.title and opening:
        builder.title = builder.text[opening[0].start : opening[0].end]


def _usual_size(pages: list[list[PageLine]]) -> float:
    """The type size most characters of the first pages are set in (0 when sizes are unknown)."""
    usual: Counter[float] = Counter()
    for lines in pages[:_USUAL_TYPE_PAGES]:
        for line in lines:
            usual[round(line.size, 1)] += len(line.text.strip())
    return usual.most_common(1)[0][0] if usual else 0.0


def _typeset_title(lines: list[PageLine], usual: float) -> str:
    """The first page's lines in its largest type, when that type is larger than the document's
    usual type: a title page's title, read before the running header that repeats it in small
    type is taken out as furniture. Consecutive lines of that size are one title ("SOFTWARE /
    SUPPLY CHAIN")."""
    drawn = [line for line in lines if line.size > 0 and flow(line.text)]
    if not drawn or usual <= 0:
        return ""
    largest = max(line.size for line in drawn)
    if largest < _LARGER_RATIO * usual:
        return ""
    first = next(i for i, line in enumerate(drawn) if line.size == largest)
    title: list[str] = []
    for line in drawn[first : first + _TITLE_LINES]:
        if abs(line.size - largest) > 0.5:
            break
        title.append(flow(line.text))
    return " ".join(title)


class _Label(str):
    """A line of a figure's labels (see reading_order.py). A str, so the steps that only look at
    the text (running lines, tables) pass it on as it is; `_add_lines` keeps it out of the prose
    and the headings."""

    __slots__ = ()


class _Larger(str):
    """A line in a type larger than the document's usual one: a heading's type, so a short line
    in it may be a heading in sentence case ("2.1 ASN.1 syntax"). `size` is its type size."""

    size: float = 0.0

    @classmethod
    def sized(cls, text: str, size: float) -> _Larger:
        line = cls(text)
        line.size = size
        return line


class _Display(_Larger):
    """A line in a display font, much larger than the lines before and after it (a chapter or
    side label). Drawn where a paragraph goes on, it is not part of that paragraph's sentence."""


def _typed_lines(lines: list[PageLine], usual: float) -> list[str]:
    """A page's lines as flowing text, a figure's labels marked as `_Label` and a line in a
    display font among smaller ones as `_Display` and one in a type larger than the `usual`
    size as `_Larger`."""
    drawn = [i for i, line in enumerate(lines) if line.size > 0 and line.text.strip()]
    display: set[int] = set()
    for n, i in enumerate(drawn):
        around = [lines[j].size for j in drawn[max(n - 1, 0) : n] + drawn[n + 1 : n + 2]]
        if around and all(lines[i].size >= DISPLAY_RATIO * size for size in around):
            display.add(i)
    typed: list[str] = []
    for i, line in enumerate(lines):
        text = _without_endnote_marks(flow(line.text))
        larger = usual > 0 and line.size >= _LARGER_RATIO * usual
        if line.label:
            typed.append(_Label(text))
        elif i in display:
            typed.append(_Display.sized(text, line.size))
        else:
            typed.append(_Larger.sized(text, line.size) if larger else text)
    return typed


@dataclass(frozen=True)
class _Table:
    """A table pdfplumber found on a page: its header row and its data rows."""

    headers: list[str]
    rows: list[list[str]]

    def words(self) -> Counter[str]:
        """The words of every cell, counted."""
        return Counter(
            w for row in [self.headers, *self.rows] for cell in row for w in cell.split()
        )


def _drawing_count(page: object) -> int:
    """How many rectangles and line segments a pypdf page's content stream draws."""
    try:
        contents = page.get_contents()  # type: ignore[attr-defined]
        return len(_DRAWING.findall(contents.get_data())) if contents is not None else 0
    except Exception:  # a stream pypdf cannot decode holds no table we can read
        return 0


def _find_tables(data: bytes, numbers: list[int]) -> dict[int, list[_Table]]:
    """The ruled tables on the given pages (1-based), by pdfplumber's table finder.

    Only pages that draw lines are opened: pdfplumber reads a page many times slower than pypdf.
    pypdf keeps the page's text; the tables replace the lines that hold their cells.
    """
    if not numbers:
        return {}
    import pdfplumber

    found: dict[int, list[_Table]] = {}
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for number in numbers:
                page = pdf.pages[number - 1]
                for table in page.find_tables():
                    rows = [row for raw in table.extract() for row in _split_stacked(raw)]
                    if _is_data_table(rows):
                        found.setdefault(number, []).append(_Table(rows[0], rows[1:]))
                page.close()
    except Exception:  # pdfplumber failing where pypdf read: keep pypdf's text
        return found
    return found


def _split_stacked(raw: list[str | None]) -> list[list[str]]:
    """One row of pdfplumber's grid as rows of text.

    A table ruled only between columns comes out as one grid row whose cells hold several lines
    each; when every filled cell holds the same number of lines, line k of each is row k.
    """
    cells = [(cell or "").split("\n") for cell in raw]
    filled = {len(lines) for lines, cell in zip(cells, raw, strict=True) if cell}
    if len(filled) == 1 and (count := filled.pop()) > 1 and sum(bool(c) for c in raw) >= 2:
        return [
            [flow(lines[k]) if len(lines) == count else "" for lines in cells] for k in range(count)
        ]
    return [[flow(cell or "") for cell in raw]]


def _is_data_table(rows: list[list[str]]) -> bool:
    """Whether pdfplumber's grid reads as a table of data rather than boxes around a figure."""
    if len(rows) < _MIN_ROWS or not _MIN_COLUMNS <= max(len(r) for r in rows) <= _MAX_COLUMNS:
        return False
    cells = [cell for row in rows for cell in row]
    return sum(bool(cell) for cell in cells) >= _MIN_FILLED * len(cells) and bool(any(rows[0]))


def _with_tables(
    lines: list[tuple[str, int]], tables: list[_Table]
) -> list[tuple[str | _Table, int]]:
    """A page's lines with each table's lines replaced by the table, where its first line was.

    pypdf reads a table across, cell after cell; a line whose words all belong to a table's cells
    is that table's, and the table takes the place of the first of them.
    """
    out: list[tuple[str | _Table, int]] = list(lines)
    for table in tables:
        words = table.words()
        placed = False
        kept: list[tuple[str | _Table, int]] = []
        for text, page in out:
            if isinstance(text, str) and _all_in(text.split(), words):
                words.subtract(text.split())
                if not placed:
                    kept.append((table, page))
                    placed = True
                continue
            kept.append((text, page))
        if not placed:  # no line matched (text drawn apart from the grid): the rows go at the end
            kept.append((table, lines[-1][1] if lines else 0))
        out = kept
    return out


def _all_in(words: list[str], available: Counter[str]) -> bool:
    need = Counter(words)
    return bool(words) and all(available[w] >= n for w, n in need.items())


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


def _without_endnote_marks(line: str) -> str:
    """The line without endnote numbers glued to its words; the stored text is the text without
    them, so a quote that ends at the stop is still exactly the stored text."""
    return _ENDNOTE_MARK.sub("", line)


def _shape(line: str) -> str:
    """A line without its numbers: "Guide 3.1  page 7" and "page 8  Guide 3.1" are one line, and
    so are "iv  Guide" and "v  Guide": front matter is numbered in lower-case roman numerals, and
    a running line that carries one must count as the same line on every page."""
    words = line.split()
    if words and _ROMAN_PAGE.fullmatch(words[0]):
        words = words[1:]
    if words and _ROMAN_PAGE.fullmatch(words[-1]):
        words = words[:-1]
    return " ".join(re.sub(r"\d+", " ", " ".join(words).lower()).split())


def _without_furniture(
    pages: list[list[str]], builder: DocumentBuilder
) -> list[list[tuple[str, int]]]:
    """Each page's lines with running headers, footers and page numbers removed; each running
    line is kept once as the document's metadata (bare page numbers are not)."""
    counts: Counter[str] = Counter()
    # A running line that carries its page's number ("Chapter 2: Setup 3") may head only the few
    # pages of one chapter; its number advancing with the page shows what it is.
    paged: dict[str, list[int]] = {}
    for number, lines in enumerate(pages, start=1):
        lines = [line for line in lines if line]
        edge = lines[:2] + lines[-2:]
        counts.update({_shape(line) for line in edge})
        for line in edge:
            found = _EDGE_NUMBER.search(line)
            if found and _shape(line):
                paged.setdefault(_shape(line), []).append(
                    int(found.group(1) or found.group(2)) - number
                )
    # On most pages, and on at least two: a line at the edge of every page of a short file counts.
    # A third of the pages: running heads often alternate between odd and even pages.
    needed = max(2, (len(pages) + 2) // 3)
    running = {shape for shape, count in counts.items() if count >= needed and shape}
    running |= {
        shape for shape, offsets in paged.items() if len(offsets) >= 2 and len(set(offsets)) == 1
    }
    out = []
    seen: set[str] = set()
    for number, lines in enumerate(pages, start=1):
        kept = [line for line in lines if line]
        edges = set(range(2)) | {len(kept) - 1, len(kept) - 2}
        page: list[tuple[str, int]] = []
        for i, line in enumerate(kept):
            if i in edges and _PAGE_NUMBER.match(line):
                continue
            if i in edges and _shape(line) in running:
                if _shape(line) not in seen:
                    seen.add(_shape(line))
                    builder.keep_furniture(line)
                continue
            page.append((line, number))
        out.append(page)
    return out


def _goes_on(lines: list[tuple[str | _Table, int]], index: int) -> bool:
    """Whether the line after `index` carries on a sentence: it starts in lower case."""
    following = lines[index + 1][0] if index + 1 < len(lines) else ""
    return isinstance(following, str) and following[:1].islower()


def _ends_in_roman_page(line: str) -> bool:
    """Whether a line ends with a lower-case roman page number after its words ("Foreword  iii"):
    a contents entry for the front matter, as "Setup  12" is one for the body."""
    words = line.split()
    return len(words) >= 2 and bool(_ROMAN_PAGE.fullmatch(words[-1]))


def _numbered_after(previous: str, line: str) -> bool:
    """Whether `line` opens with a section number of several levels ("4.2.1 Fan Mounts")
    after a line that does not run on into it: such a heading follows code, a table or a
    figure's label as often as a sentence. After "see Section" it is a reference, not a heading.
    """
    return (
        bool(_SECTION_NUMBER.match(line))
        and not ends_mid_phrase(previous)
        and not _REFERENCE_END.search(previous)
    )


def _wrapped_headings(lines: list[tuple[str | _Table, int]]) -> list[tuple[str | _Table, int]]:
    """Lines in a heading's type with the lines that carry them on joined: a heading wrapped
    onto a second line goes on in lower case ("Use SSH keys to provide developers access to
    upstream source code / repositories")."""
    out: list[tuple[str | _Table, int]] = []
    for text, page in lines:
        last, last_page = out[-1] if out else (None, 0)
        if (
            type(text) is _Larger
            and type(last) is _Larger
            and last_page == page
            and abs(text.size - last.size) < 0.5
            and text[:1].islower()
            and not last.endswith(_SENTENCE_END)
        ):
            out[-1] = (_Larger.sized(f"{last} {text}", last.size), page)
        else:
            out.append((text, page))
    return out


def _add_lines(pages: list[list[tuple[str | _Table, int]]], builder: DocumentBuilder) -> None:
    lines = _wrapped_headings([line for page in pages for line in page])
    words = document_words([text for text, _ in lines if isinstance(text, str)])
    lengths = sorted(len(text) for text, _ in lines if isinstance(text, str))
    width = lengths[int(len(lengths) * 0.9)] if lengths else 0
    current: list[tuple[str, int]] = []
    kind = "paragraph"

    # Display lines met inside a paragraph, added after it.
    held: list[tuple[str, int]] = []

    def emit() -> None:
        nonlocal current, kind, held
        if current and kind == "code":  # a figure's labels keep their lines
            marks: list[tuple[int, int]] = []
            offset = 0
            for line, page in current:
                if not marks or marks[-1][1] != page:
                    marks.append((offset, page))
                offset += len(line) + 1
            text = "\n".join(line for line, _ in current)
            builder.add("code", text, page_marks=marks)
        elif current:
            text, marks = join_lines(current, words)
            builder.add(kind, text, page_marks=marks, tight=kind == "list_item")  # type: ignore[arg-type]
        # A label drawn over a paragraph belongs to no place in the text: kept as furniture, it
        # is searchable but neither a sentence nor a heading that the text after would sit under.
        for label, page in held:
            builder.add("furniture", label, page_marks=[(0, page)])
        current, kind, held = [], "paragraph", []

    previous = ""
    for index, (text, page) in enumerate(lines):
        if (
            isinstance(text, _Display)
            and current
            and kind != "code"
            and not previous.endswith(_SENTENCE_END)
            and _goes_on(lines, index)
        ):
            held.append((text, page))  # the paragraph's sentence goes on after it
            continue
        if isinstance(text, _Label):
            # Labels drawn in a figure: searchable, but neither a sentence to quote nor a heading
            # that the text after the figure would sit under; kept as lines, as code is.
            if kind != "code":
                emit()
                kind = "code"
            current.append((text, page))
            previous = ""
            continue
        if kind == "code":
            emit()
        if isinstance(text, _Table):
            caption = current.pop() if current and _CAPTION.match(current[-1][0]) else None
            emit()
            section = builder.section
            if caption:  # the rows sit under their caption; the text after it does not
                builder.heading(caption[0], page_marks=[(0, caption[1])])
            for row in text.rows:
                row_text = table_row_text(text.headers, row)
                builder.add("table_row", row_text, page_marks=[(0, page)], tight=True)
            builder.section = section
            previous = ""
            continue
        ends_sentence = previous.endswith(_SENTENCE_END)
        short = len(previous) < _SHORT_LINE * width
        # Lines inside a paragraph run to the margin; a short one ends its paragraph unless the
        # next line carries on in lower case.
        ends_paragraph = short and (ends_sentence or not text[:1].islower())
        heads = (
            # The title after "Chapter 3" may hold digits or small words ("Part Two, revision 3.2").
            # A line in a heading's type may be in sentence case or hold a number ("ASN.1"); one
            # numbered like a list item ("2. Unified system") is a heading in that type.
            looks_like_heading(
                text, strict=not _PART_LABEL.match(previous) and not isinstance(text, _Larger)
            )
            and (not previous or ends_sentence or not current or _numbered_after(previous, text))
            and (isinstance(text, _Larger) or len(text) < _SHORT_LINE * width)
            and not _ends_in_roman_page(text)
        )
        if is_leader_line(text):
            emit()
            builder.add("furniture", text, page_marks=[(0, page)])
        elif is_code_line(_BULLET.sub("", text)):
            emit()  # a command, a setting or a directive (numbered or not): never quoted as prose
            builder.add("code", text, page_marks=[(0, page)], tight=True)
        elif _PART_LABEL.match(text):
            emit()  # "Chapter 3" on a line of its own: a heading, the title comes next
            builder.heading(text, page_marks=[(0, page)])
        elif _BULLET.match(text) and not (isinstance(text, _Larger) and heads):
            emit()
            kind = "list_item"
            current = [(_BULLET.sub("", text), page)]
        elif heads:
            emit()
            builder.heading(text, page_marks=[(0, page)])
        else:
            if current and ends_paragraph:
                emit()
            current.append((text, page))
        previous = text
    emit()
