"""Word files through python-docx: paragraphs with their heading styles, and tables as rows."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from retrieval.errors import UnreadableFileError
from retrieval.loaders.assembly import DocumentBuilder, flow, table_row_text

# Outline level 9 is body text; 0-8 are the levels of headings.
_BODY_LEVEL = 9


def read_docx(data: bytes, builder: DocumentBuilder) -> None:
    """Add the paragraphs and tables of a .docx file to `builder`, in document order."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UnreadableFileError(f"it is not a readable Word file ({error})") from error
    builder.title = (document.core_properties.title or "").strip()
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            _paragraph(item, builder)
        elif isinstance(item, Table):
            _table(item, builder)


def _style_name(paragraph: Any) -> str:
    return (paragraph.style.name if paragraph.style is not None else "") or ""


def _is_heading(paragraph: Any) -> bool:
    """Whether a paragraph is a heading: a Heading style, a style built on one ("Annex
    Title" based on "Heading 1"), or an outline level, which Word's navigation pane and
    table of contents go by."""
    from docx.oxml.ns import qn

    properties = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None:
        if style.name and style.name.startswith(("Heading", "Title")):
            return True
        properties.append(style.element.pPr)
        style = style.base_style
    levels = [p.find(qn("w:outlineLvl")) for p in properties if p is not None]
    values = [str(level.get(qn("w:val"), "")) for level in levels if level is not None]
    return any(value.isdigit() and int(value) < _BODY_LEVEL for value in values)


def _paragraph(paragraph: Any, builder: DocumentBuilder) -> None:
    style = _style_name(paragraph)
    text = paragraph.text
    if style == "Title":
        if not builder.title:
            builder.title = " ".join(text.split())
        builder.heading(text)
    elif style.lower().startswith("toc "):
        builder.add("furniture", text)  # an entry of the table of contents
    elif _is_heading(paragraph):
        builder.heading(text)
    elif style.startswith("List"):
        builder.add("list_item", text, tight=True)
    else:
        builder.add("paragraph", text)


def _table(table: Any, builder: DocumentBuilder) -> None:
    # A cell's paragraphs and line breaks flow on: in a narrow cell they often wrap one term
    # over two lines, which lines of their own would cut in two.
    grid = [list(row.cells) for row in table.rows]
    if not grid:
        return
    headers = [flow(cell.text) for cell in grid[0]] if len(grid) > 1 else []
    for row in grid[1:] if headers else grid:
        # A merged cell is one cell repeated over the grid columns it covers: read it once.
        # Two cells that only hold the same text ("0", "0") are two values and both stay.
        first = [i == 0 or cell._tc is not row[i - 1]._tc for i, cell in enumerate(row)]
        cells = [flow(cell.text) for cell, keep in zip(row, first, strict=True) if keep]
        heads = [head for head, keep in zip(headers, first, strict=False) if keep]
        builder.add("table_row", table_row_text(heads, cells), tight=True)
