"""Plain text: hard-wrapped lines joined into paragraphs, page furniture and contents lines kept apart."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from retrieval.loaders.assembly import (
    DocumentBuilder,
    document_words,
    ends_mid_phrase,
    is_code_line,
    is_leader_line,
    join_lines,
    looks_like_heading,
    table_row_text,
)

_BULLET = re.compile(r"^\s*(?:[-*+•◦▪‣o]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+(?=\S)")
# A section number at the start of a line: "3.", "3.1.", "3.1.2" (one level needs its stop).
_SECTION_NUMBER = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}\.)\s+(?=\S)")
_LIST_NUMBER = re.compile(r"^\s*\(?\d{1,3}[.)]\s+\S")
_MAX_TITLE_WORDS = 14
# A line is centred when its margins left and right (to the wrap width) differ by this or less.
_CENTRED = 4
_STOPS = (".", "!", "?", ":", ";", ",")
_UNDERLINE = re.compile(r"^\s*([=\-~^*#])\1{2,}\s*$")
_INDENT_STEP = 4
# reStructuredText's explicit markup (".. image:: …", ".. _target: …", ".. note::", comments):
# searchable, never prose; its indented options and body follow it as its block.
_EXPLICIT_MARKUP = re.compile(r"^\s*\.\.(?:\s|$)")
# A line of nothing but reStructuredText substitution references (a README's badges: "|Build|
# |Coverage|"), or a rule of a table's borders: markup, never prose, a heading or a title.
_SUBSTITUTIONS = re.compile(r"^\s*(?:\|[^|\s][^|]*\|_{0,2}\s*)+$")
# Inline markup of reStructuredText (and of plain text written the same way): ``literal``,
# **strong**, *emphasis*, `interpreted`, :role:`text`, `a link <url>`_ and `a reference`_ show
# their text only. A marker needs text right inside it and no word character right outside it
# ("2*3*4" and "a * b" are not emphasis).
_INLINE_MARKUP = (
    (re.compile(r"(?<![\w`])``(?=\S)(.+?)(?<=\S)``(?![\w`])"), r"\1"),
    (
        re.compile(r"(?<![\w:])(?::[\w.+-]+:)?`(?=[^\s`])([^`<]+?)\s*<[^`>]+>`(?:__?)?(?![\w`])"),
        r"\1",
    ),
    (re.compile(r"(?<![\w:`])(?::[\w.+-]+:)?`(?=[^\s`])([^`]+?)(?<=\S)`(?:__?)?(?![\w`])"), r"\1"),
    (re.compile(r"(?<![\w*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
)
# reStructuredText's table written as CSV: the directive and its options (":header: …",
# ":header-rows: 1"), then its rows, indented under it after a blank line.
_CSV_TABLE = re.compile(r"^(\s*)\.\.\s+csv-table::")
_DIRECTIVE_OPTION = re.compile(r"^\s*:([\w-]+):\s*(.*)$")
# Files whose lines run longer than this are not hard-wrapped: each line is its own paragraph.
_MAX_WRAP = 132
# Nor are files of only short lines (a list of names, a poem): too narrow to have been wrapped.
_MIN_WRAP = 40


def read_plain(text: str, builder: DocumentBuilder) -> None:
    """Add the blocks of a plain-text file to `builder`."""
    pages = text.split("\f")
    lines: list[tuple[str, int]] = []
    furniture = _running_lines(pages) if len(pages) >= 3 else set()
    # Form feeds split a paginated file (an RFC, printer output) into pages; 0 means "no pages".
    seen: set[str] = set()
    for number, page_text in enumerate(pages, start=1 if len(pages) > 1 else 0):
        kept = []
        for line in page_text.split("\n"):
            shape = _shape(line) if furniture else ""
            if shape in furniture:
                if shape not in seen:  # kept once, as the document's metadata
                    seen.add(shape)
                    builder.keep_furniture(line)
                continue
            kept.append(line.rstrip())
        while kept and not kept[0].strip():
            kept.pop(0)
        while kept and not kept[-1].strip():
            kept.pop()
        lines.extend((line, number) for line in kept)
        lines.append(("", number))  # a page break ends a paragraph only if the text says so
    paged = len(pages) > 1
    width = _wrap_width([line for line, _ in lines])
    base = _base_indent([line for line, _ in lines])
    words = document_words([line for line, _ in lines])
    # Blank-line-separated runs of lines; True marks a run underlined as a heading.
    runs: list[tuple[bool, list[tuple[str, int]]]] = []
    paragraph: list[tuple[str, int]] = []
    for i, (line, page_number) in enumerate(lines):
        if not line.strip():
            # A blank line at a page break inside a wrapped sentence does not end it; after a
            # finished sentence it does, and before a line set further left (what starts the
            # next page may be a heading or code; a wrapped sentence goes on at its margin).
            if (
                paged
                and paragraph
                and i + 1 < len(lines)
                and lines[i + 1][1] != page_number
                and not _ends_sentence(paragraph[-1][0])
                and _indent(lines[i + 1][0]) >= _indent(paragraph[-1][0])
            ):
                continue
            if paragraph:
                runs.append((False, paragraph))
            paragraph = []
            continue
        if _UNDERLINE.match(line):
            if paragraph:
                runs.append((True, paragraph))
                paragraph = []
            # else an overline: the title under it is underlined by the same rule
            continue
        paragraph.append((line, page_number))
    if paragraph:
        runs.append((False, paragraph))
    literal = False  # the run before ended with "::": indented runs after it are a listing
    csv_table: _CsvTable | None = None  # a csv-table directive whose rows come next
    tables, header_runs = _aligned_tables(runs, base)
    for n, (underlined, run) in enumerate(runs):
        if csv_table is not None and all(_indent(line) > csv_table.indent for line, _ in run):
            for row in csv_table.rows([line for line, _ in run]):
                builder.add("table_row", row, page_marks=[(0, run[0][1])], tight=True)
            continue
        csv_table = _CsvTable.opened_by([line for line, _ in run])
        if n in tables:
            headers, rows = tables[n]
            for cells in rows:
                row = table_row_text(headers, cells)
                builder.add("table_row", row, page_marks=[(0, run[0][1])], tight=True)
            continue
        if n in header_runs:
            continue  # the column headers of the table in the next run
        if literal and not underlined and all(_indent(line) > base for line, _ in run):
            text, marks = _code_lines(run)
            builder.add("code", text, page_marks=marks)
            continue
        literal = not underlined and run[-1][0].rstrip().endswith("::")
        if underlined:
            heading = without_inline_markup(" ".join(text for text, _ in run), [])[0]
            opens = all(_is_markup([line for line, _ in runs[m][1]]) for m in range(n))
            if opens and not builder.title:
                # The file opens with it (after badges or directives at most): its title.
                builder.title = " ".join(heading.split())
            builder.heading(heading, page_marks=[(0, run[0][1])])
            continue
        around = [runs[m][1][0][0] for m in (n - 1, n + 1) if 0 <= m < len(runs)]
        if _numbered_heading([text for text, _ in run], around):
            builder.heading(" ".join(text for text, _ in run), page_marks=[(0, run[0][1])])
            continue
        _flush(run, builder, width, base, words)


# A cell of a table set in columns: words with single spaces between them; two spaces or more
# part the cells.
_CELL = re.compile(r"\S+(?: \S+)*")
# A line of dashes or equals signs (with spaces) under a table's headers.
_RULE_LINE = re.compile(r"^[\s=+|-]*[=-]{3,}[\s=+|-]*$")
# One run of a rule: the extent of one column.
_RULE_RUN = re.compile(r"[=-]+")
# A table has at least this many columns and rows: two columns is a list of terms or options.
_TABLE_COLUMNS = 3
_TABLE_ROWS = 2
# How far a data row's cell may start from its column's; a header may stand further off (set
# over the column's middle or right edge).
_CELL_SLACK = 1
_HEADER_SLACK = 6
_HEADER_LINES = 3


def _cells(line: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in _CELL.finditer(line)]


def _columns_of(line: str, starts: list[int], slack: int) -> list[tuple[int, str]] | None:
    """The cells of `line` by column: each falls in the column starting nearest it (within
    `slack`); in a data row, one starting between columns goes on the cell before it ("String
    Name of …" in a column of its own on one line only). None when the line's first cell falls
    in no column, or a header (a wider `slack`) stands off its column."""
    found: list[tuple[int, str]] = []
    for start, text in _cells(line):
        column = min(range(len(starts)), key=lambda c: abs(starts[c] - start))
        if abs(starts[column] - start) <= slack and (not found or column > found[-1][0]):
            found.append((column, text))
        elif found and slack <= _CELL_SLACK:
            found[-1] = (found[-1][0], f"{found[-1][1]} {text}")
        else:
            return None
    return found


def _merged(
    lines: list[str], place: Callable[[str], list[tuple[int, str]] | None], width: int
) -> list[list[str]] | None:
    """Lines as rows of `width` cells, each line's cells put in their columns by `place`; a line
    with nothing in the first column carries on the row above (a cell wrapped onto a second
    line). None when a line does not fit."""
    rows: list[list[str]] = []
    for line in lines:
        cells = place(line)
        if not cells:
            return None
        if cells[0][0] == 0 or not rows:
            rows.append([""] * width)
        for column, text in cells:
            rows[-1][column] = f"{rows[-1][column]} {text}".strip()
    return rows


def _column_starts(lines: list[str]) -> list[int]:
    """Where the columns start: the cell starts that at least half the lines share."""
    counts = Counter(start for line in lines for start, _ in _cells(line))
    return sorted(start for start, count in counts.items() if 2 * count >= len(lines))


class ColumnTable(NamedTuple):
    """A table set in columns: its headers, its rows of cells, and where the headers came from
    ("rule": the lines above a rule, or between a table's first two rules; "above": a short run
    just before the table; "": none)."""

    headers: list[str]
    rows: list[list[str]]
    headed_by: str


def table_in_columns(lines: list[str], above: list[str] | None = None) -> ColumnTable | None:
    """Lines set in columns (two spaces or more between cells, three columns or more), or None
    when they are not such a table.

    A rule in runs ("=====  ====  ====", "------  ------") marks out the columns, and a cell
    belongs to the column it starts in (a number may be set to the right of its column); its
    headers are the lines above it, or between the first two rules when the table opens with one
    (reStructuredText's simple tables). Without such a rule each cell must start where its column
    starts, and the headers may be the short run `above` the table, set over the same columns
    ("Status   Pending   Awaited" over "unpacked   never   maybe"). Prose never lines its words
    up in three columns on every line, so wrapped text is not taken for a table. Headers set off
    their columns are kept as a row of their own, not lost.
    """
    lines = [line.expandtabs() for line in lines]  # tabs line cells up as a terminal shows them
    if len(lines) < _TABLE_ROWS:
        return None
    ruled = [i for i, line in enumerate(lines) if _RULE_LINE.match(line)]
    if ruled and ruled[0] == 0 and len(ruled) >= 2 and ruled[1] - 1 <= _HEADER_LINES:
        head_lines = lines[1 : ruled[1]]
        body = [line for line in lines[ruled[1] :] if not _RULE_LINE.match(line)]
    else:
        head_lines = lines[: ruled[0]] if ruled and ruled[0] <= _HEADER_LINES else []
        body = [line for line in lines[len(head_lines) :] if not _RULE_LINE.match(line)]
    extents = [m.start() for m in _RULE_RUN.finditer(lines[ruled[0]])] if ruled else []
    if len(extents) >= _TABLE_COLUMNS:
        width, cell_place = len(extents), partial(_under_runs, starts=extents)
        head_place = cell_place
    else:
        starts = _column_starts(body)
        if len(starts) < _TABLE_COLUMNS or not body:
            return None
        width = len(starts)
        cell_place = partial(_columns_of, starts=starts, slack=_CELL_SLACK)
        head_place = partial(_columns_of, starts=starts, slack=_HEADER_SLACK)
    rows = _merged(body, cell_place, width)
    if rows is None:
        return None
    full = sum(all(row) for row in rows)
    headers = _merged(head_lines, head_place, width)
    if headers and len(headers) == 1 and full >= 1:  # headers over a rule: one row will do
        return ColumnTable(headers[0], rows, "rule")
    if full < _TABLE_ROWS:
        return None
    if not head_lines and above and len(above) <= _HEADER_LINES:
        over = [line.expandtabs() for line in above]
        if len(_cells(over[0])) >= _TABLE_COLUMNS:
            headers = _merged(over, head_place, width)
            if headers and len(headers) == 1:
                return ColumnTable(headers[0], rows, "above")
    loose = [[text for _, text in _cells(line)] for line in head_lines]
    return ColumnTable([], loose + rows, "")


def _under_runs(line: str, starts: list[int]) -> list[tuple[int, str]] | None:
    """The cells of `line` by column, each in the column of the rule's run it starts under (a
    cell may begin a character before its run). None when a cell starts left of the first."""
    cells = _cells(line)
    if any(at + 1 < starts[0] for at, _ in cells):
        return None
    return [
        (max(c for c, start in enumerate(starts) if start <= at + 1), text) for at, text in cells
    ]


def _aligned_tables(
    runs: list[tuple[bool, list[tuple[str, int]]]], base: int
) -> tuple[dict[int, tuple[list[str], list[list[str]]]], set[int]]:
    """The runs that are tables set in columns (`table_in_columns`), by run index: the column
    headers and the rows of cells; a run of headers just before a table is offered as its
    headers. Indented code (declarations with their comments lined up) stays code. Also returns
    the runs that are a table's headers.
    """
    tables: dict[int, tuple[list[str], list[list[str]]]] = {}
    header_runs: set[int] = set()
    for n, (underlined, run) in enumerate(runs):
        lines = [line for line, _ in run]
        if (
            underlined
            or all(_indent(line) >= base + _INDENT_STEP for line in lines)
            or any(is_code_line(line) for line in lines)
        ):
            continue
        before = n > 0 and not runs[n - 1][0] and n - 1 not in tables
        above = [line for line, _ in runs[n - 1][1]] if before else None
        table = table_in_columns(lines, above)
        if table is None:
            continue
        if table.headed_by == "above":
            header_runs.add(n - 1)
        tables[n] = (table.headers, table.rows)
    return tables, header_runs


class _CsvTable(NamedTuple):
    """A reStructuredText csv-table directive: where it stands, its headers, and how many of
    its rows are headers too."""

    indent: int
    headers: list[str]
    header_rows: int

    @classmethod
    def opened_by(cls, lines: list[str]) -> _CsvTable | None:
        """The directive these lines hold (with its options), or None."""
        match = _CSV_TABLE.match(lines[0]) if lines else None
        if match is None:
            return None
        options = {m[1]: m[2] for m in map(_DIRECTIVE_OPTION.match, lines[1:]) if m}
        headers = _csv_rows([options["header"]])[0] if options.get("header") else []
        rows = options.get("header-rows", "0").strip()
        return cls(len(match[1]), headers, int(rows) if rows.isdigit() else 0)

    def rows(self, lines: list[str]) -> list[str]:
        """The directive's body rows as `Header: cell · …` (header rows name the columns)."""
        rows = _csv_rows(lines)
        headers = self.headers or (rows[0] if self.header_rows else [])
        return [table_row_text(headers, cells) for cells in rows[self.header_rows :] if cells]


def _csv_rows(lines: list[str]) -> list[list[str]]:
    """CSV lines (a quoted cell may span lines, read as one) as rows of cells without inline
    markup."""
    reader = csv.reader(
        io.StringIO("\n".join(line.strip() for line in lines)), skipinitialspace=True
    )
    try:
        return [
            [without_inline_markup(" ".join(cell.split()), [])[0] for cell in row] for row in reader
        ]
    except csv.Error:
        return []


def _is_markup(lines: list[str]) -> bool:
    """Whether lines are all reStructuredText markup: explicit markup (".. image::"),
    substitution references (badges) or rules of a table's borders."""
    return all(
        _EXPLICIT_MARKUP.match(line) or _SUBSTITUTIONS.match(line) or _RULE_LINE.match(line)
        for line in lines
    )


def without_inline_markup(
    text: str, marks: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """The text without inline markup, and its page marks moved to match."""
    plain = text
    for pattern, replacement in _INLINE_MARKUP:
        plain = pattern.sub(replacement, plain)
    if plain == text:
        return text, marks
    # A mark falls between words: where the text before it ends up is where it moves.
    moved = [
        (len(without_inline_markup(text[:at], [])[0]) if at else 0, page) for at, page in marks
    ]
    return plain, moved


def _ends_sentence(line: str) -> bool:
    """Whether a line ends a sentence (or a lead-in to what follows: "as follows:")."""
    return line.rstrip().rstrip("\"')\u201d").endswith((".", "!", "?", ":"))


def _numbered_heading(run: list[str], around: list[str]) -> bool:
    """Whether a run of lines standing alone between blank lines is a numbered section heading
    ("3. Storage changes", "3.1. disks: a new layout") rather than an item of a numbered list.

    A number of several levels ("3.1.") only numbers sections; its title may wrap onto a second
    line. A plain "3." numbers a list item as well, so it is a heading only on a line of its own
    that reads as one, when the runs beside it are not items of a list set apart by blank lines
    ("1. Install it", blank, "2. Run it").
    """
    line = " ".join(" ".join(run).split())
    number = _SECTION_NUMBER.match(line)
    if not number or len(run) > 2 or any(is_leader_line(text) for text in run):
        return False
    title = line[number.end() :]
    if len(title.split()) > _MAX_TITLE_WORDS or title.rstrip("\"'\u201d)").endswith(_STOPS):
        return False
    if "." in number.group(1).rstrip("."):
        return any(c.isalpha() for c in title)
    return (
        len(run) == 1
        and looks_like_heading(line)
        and not any(_LIST_NUMBER.match(text) and not is_leader_line(text) for text in around)
    )


def _flush(
    lines: list[tuple[str, int]],
    builder: DocumentBuilder,
    width: int,
    base: int,
    words: frozenset[str],
) -> None:
    """Turn one blank-line-separated run of lines into blocks: prose joined, structure kept apart."""
    current: list[tuple[str, int]] = []
    kind = "paragraph"
    item_indent = 0  # where the current list item's bullet stands
    hanging = False  # the paragraph's lines after its first are indented (a hanging indent)
    markup: int | None = None  # the indent of the reStructuredText directive being read

    def emit() -> None:
        nonlocal current, hanging
        hanging = False
        if not current:
            return
        lead_in = False
        if kind == "code":
            text, marks = _code_lines(current)
        else:
            text, marks = join_lines(
                [(" ".join(line.split()), page) for line, page in current], words
            )
            text, marks = without_inline_markup(text, marks)
            lead_in = text.endswith("::")
            if lead_in:  # reStructuredText's "as follows::" before a listing
                before = text[:-2]
                if not before:  # a "::" of its own only introduces the listing
                    current = []
                    return
                text = before + ":" if before.rstrip() == before else before.rstrip()
        block_kind = kind
        # A heading sits at the body's margin, left of it, or centred; a short line indented
        # further is an example, a row of a table or a hanging line of a list item.
        if (
            block_kind == "paragraph"
            and len(current) == 1
            and not lead_in
            and looks_like_heading(text)
        ):
            line = current[0][0].rstrip().expandtabs()
            indent = _indent(line)
            if indent <= base or abs(indent - (width - len(line))) <= _CENTRED:
                block_kind = "heading"
        builder.add(block_kind, text, page_marks=marks, tight=block_kind in ("list_item", "code"))  # type: ignore[arg-type]
        current = []

    for line, page in lines:
        indent = _indent(line)
        if is_leader_line(line):
            emit()
            kind = "furniture"
            current = [(line, page)]
            emit()
            kind = "paragraph"
            continue
        if (
            kind == "paragraph"
            and current
            and indent >= base + _INDENT_STEP
            and not is_code_line(line)
            and (hanging or not _ends_sentence(current[-1][0]))
        ):
            # An indented line right under a paragraph cut mid-sentence goes on with it
            # ("<count> = the number … Note that this is" / "<tab>the number of …").
            hanging = True
            current.append((line, page))
            continue
        if (
            is_code_line(line)
            or _is_markup([line])
            or (indent >= base + _INDENT_STEP and kind != "list_item")
            or (markup is not None and indent > markup and line.lstrip().startswith(":"))
        ):
            if kind != "code":
                emit()
                kind = "code"
            # A directive's options are indented under it (":target: …", 3 spaces); its body
            # (a note's text) is read as any other text.
            if _EXPLICIT_MARKUP.match(line):
                markup = indent
            current.append((line, page))
            continue
        markup = None
        if _BULLET.match(line):
            emit()
            kind = "list_item"
            current = [(_BULLET.sub("", line), page)]
            item_indent = indent
            continue
        if kind == "list_item" and indent > item_indent:
            current.append((line, page))  # hung under the item's text: the item goes on
            continue
        if kind == "code":
            emit()
            kind = "paragraph"
        if current and not _soft_break(current[-1][0], line, width):
            emit()
            kind = "paragraph"
        current.append((line, page))
    emit()


def _code_lines(lines: list[tuple[str, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Code lines as lines, without the indent they share, with where each page starts.

    Joined into one line, a listing (a packet's fields, one per line) reads as one run of words.
    """
    expanded = [(line.expandtabs().rstrip(), page) for line, page in lines]
    margin = min(_indent(line) for line, _ in expanded)
    text = ""
    marks: list[tuple[int, int]] = []
    for line, page in expanded:
        if text:
            text += "\n"
        if not marks or marks[-1][1] != page:
            marks.append((len(text), page))
        text += line[margin:]
    return text, marks


def _soft_break(previous: str, line: str, width: int) -> bool:
    """Whether the break after `previous` was made by wrapping, not by the writer.

    A line that goes on in lower case, or after a word that cannot end a sentence ("it sits
    next to" then "Hall B."), continues a sentence. Otherwise, in a hard-wrapped file,
    the break was the wrapping's when the next word would not have fit on the line.
    """
    words = line.split()
    if not words:
        return False
    if words[0][0].islower() or ends_mid_phrase(previous):
        return True
    if not _MIN_WRAP <= width <= _MAX_WRAP:
        return False
    return len(previous.rstrip()) + 1 + len(words[0]) > width


def _wrap_width(lines: list[str]) -> int:
    """The column a hard-wrapped file wraps at: a high percentile of its line lengths."""
    lengths = sorted(len(line) for line in lines if line.strip())
    if not lengths:
        return 0
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.95))]


def _base_indent(lines: list[str]) -> int:
    indents = Counter(_indent(line) for line in lines if line.strip())
    return indents.most_common(1)[0][0] if indents else 0


def _indent(line: str) -> int:
    """The column a line's text starts at. A tab reaches the next multiple of eight, as a terminal
    shows it: a line indented by one tab is as deep as one indented by eight spaces, not one."""
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())


def _shape(line: str) -> str:
    """A line with its digits and spacing folded, so "Page 4" and "Page 5" are one running line."""
    return re.sub(r"\d+", "#", " ".join(line.split()))


def _running_lines(pages: list[str]) -> set[str]:
    """Lines near the top or bottom of most pages: running headers, footers and page numbers."""
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [line for line in page.split("\n") if line.strip()]
        edge = {_shape(line) for line in lines[:3] + lines[-3:]}
        counts.update(edge)
    needed = max(3, len(pages) // 2)
    return {shape for shape, count in counts.items() if count >= needed and shape}
