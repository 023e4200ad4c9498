"""HTML through BeautifulSoup, walked as a browser lays it out: block elements make blocks, inline
elements flow inside sentences, and navigation, page headers, footers and asides are dropped."""

from __future__ import annotations

import re
from typing import Any

from retrieval.loaders.assembly import DocumentBuilder, flow, table_row_text
from retrieval.loaders.plain import table_in_columns

_DROPPED = {
    "script", "style", "noscript", "template", "head", "svg", "nav", "footer", "aside", "form",
    "button", "select", "textarea", "iframe", "canvas", "map", "object", "dialog", "menu",
    "title",  # read as the title; outside a <head> (which HTML lets one leave out) it is no text
}  # fmt: skip
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Classes of page-level navigation and headers on a block (a div, a list; a table's header row
# is no navigation): "navheader", "navfooter" (DocBook), "nav-panel", "header" (Texinfo),
# "navbar", "navigation", "breadcrumb".
_NAVIGATION_CLASS = re.compile(
    r"^(?:nav(?:bar|header|footer|-panel|igation)?|breadcrumbs?|header)$"
)
# Elements that only a page's content holds, never a form to fill in.
_PROSE_TAGS = ["p", "article", "main", "table", "blockquote", *sorted(_HEADINGS)]
_BLOCKS = {
    "p", "div", "section", "article", "main", "blockquote", "ul", "ol", "dl", "dt", "dd",
    "figure", "figcaption", "address", "center", "details", "summary", "fieldset", "hr",
    "body", "html", "caption", "li", "table", "pre", "header", "br",
} | _HEADINGS  # fmt: skip
# An endnote or footnote reference: "[3]", "12", "3, 4", "iv", "*", "†" set as a superscript or as
# a link to a note on the same page. It is glued to the word it marks ("users.12"), so it is left
# out of the sentence text.
_NOTE_MARK = re.compile(r"^\[?(?:\d{1,3}|[ivx]{1,4}|[a-z]|[*†‡§])(?:\s*[,–-]\s*\d{1,3})*\]?$")
_NOTE_ROLES = re.compile(r"noteref|footnote|endnote|fnref", re.IGNORECASE)
# A bare superscript number is an exponent after a number or a short unit ("10<sup>6</sup>",
# "m<sup>2</sup>"), a note mark after a stop or a word of four letters or more.
_MARKED_WORD = re.compile(r"(?:[A-Za-z]{4}|[.,;:!?)\"\u201d])$")


def _drop_boilerplate(soup: Any) -> None:
    """Take scripts, navigation, forms and other furniture out of the page.

    A form holding paragraphs or headings is not a form to fill in but the page wrapped in one
    (ASP.NET pages wrap their whole body so): its text stays, its controls go.
    """
    for tag in soup.find_all(list(_DROPPED)):
        if tag.name == "form" and tag.find(_PROSE_TAGS):
            continue
        tag.decompose()


def read_html(markup: str, builder: DocumentBuilder) -> None:
    """Add the visible blocks of an HTML page to `builder`; its title from <title> or a heading."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = flow(soup.title.get_text(" ")) if soup.title else ""
    _drop_boilerplate(soup)
    for tag in soup.select("[hidden], [aria-hidden=true], [role=navigation]"):
        tag.decompose()
    # A page header outside the main content is site furniture (logo, menus, search); so are a
    # manual's navigation panels, which Texinfo and DocBook put in classed divs, not <nav>.
    for tag in soup.find_all("header"):
        if not tag.find_parent(["main", "article"]):
            tag.decompose()
    for tag in soup.find_all(["div", "section", "ul", "ol", "p"], class_=_NAVIGATION_CLASS):
        if not tag.decomposed and not tag.find_parent(["main", "article"]):
            tag.decompose()
    for tag in soup.find_all(["ul", "ol"]):
        if not tag.decomposed and _is_contents(tag):
            tag.decompose()
    root: Any = soup.find("main") or soup.find("article") or soup.body or soup
    if not title:
        heading = root.find(["h1", "h2"])
        title = flow(_text_of(heading)) if heading else ""
    builder.title = title
    walker = _Walker(builder)
    walker.walk(root)
    walker.flush()


# A table of contents lists at least this many links to the page's own headings.
_CONTENTS_ENTRIES = 3


def _is_contents(tag: Any) -> bool:
    """Whether a list holds nothing but links within the page ("#_introduction"): its table of
    contents, whose entries are the headings below, not sentences."""
    texts = [text for text in tag.find_all(string=True) if text.strip()]
    return len(texts) >= _CONTENTS_ENTRIES and all(
        str((text.find_parent("a") or {}).get("href", "")).startswith("#") for text in texts
    )


def read_html_fragment(markup: str, builder: DocumentBuilder) -> None:
    """Add the blocks of a piece of HTML inside another format (an HTML block in Markdown):
    its headings are headings, its tables rows, its paragraphs paragraphs."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    _drop_boilerplate(soup)
    walker = _Walker(builder)
    walker.walk(soup)
    walker.flush()


class _Walker:
    """Collects inline text until a block element ends it."""

    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        self.inline: list[str] = []
        self.item_depth = 0
        self.lists_under: list[str] = []  # the heading each open definition list sits under
        # A term whose description goes on from it in lower case ("restat" / "if present, causes
        # …"): the description's first paragraph is read as "term: description".
        self.term: str | None = None

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if text.strip():
            if self.term is not None:
                text = f"{self.term}: {text.lstrip()}"
                self.term = None
            in_item = self.item_depth > 0
            self.builder.add("list_item" if in_item else "paragraph", text, tight=in_item)

    def walk(self, node: Any) -> None:
        from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

        for child in node.children:
            if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.inline.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in ("sup", "a") and _is_note_mark(child, "".join(self.inline)):
                continue
            if name not in _BLOCKS:
                self.walk(child)
                continue
            self.flush()
            if name not in ("dd", "p", "div"):
                self.term = None  # a term goes only with the paragraph its description opens
            if name in _HEADINGS:
                self.builder.heading(flow(_text_of(child)))
            elif name == "pre":
                self.preformatted(child.get_text())
            elif name == "table":
                self.table(child)
            elif name == "li":
                self.item_depth += 1
                self.walk(child)
                self.flush()
                self.item_depth -= 1
            elif name == "dt":
                # A term names what its description is about, as a heading does (a glossary, an
                # option list): the description is read under the list's heading and the term
                # ("Groups · staff", "tj3Compress() · Parameters").
                under = self.lists_under[-1] if self.lists_under else ""
                term = flow(_text_of(child))
                self.builder.heading(term, under=under)
                description = child.find_next_sibling(["dt", "dd"])
                said = flow(_text_of(description)) if description is not None else ""
                # A description that opens in lower case is no sentence without its term.
                opens_low = (
                    description is not None and description.name == "dd" and said[:1].islower()
                )
                self.term = term if opens_low else None
            elif name == "dl":
                self.lists_under.append(self.builder.section)
                self.walk(child)
                self.flush()
                # The text after the list is not under its last term.
                self.builder.section = self.lists_under.pop()
            else:
                self.walk(child)
                self.flush()
                if name == "dd":
                    self.term = None

    def preformatted(self, text: str) -> None:
        """A `<pre>` block: code, unless it is a table set in columns under a rule of dashes
        (manuals print property tables so), whose rows pair each cell with its header."""
        table = table_in_columns([line for line in text.split("\n") if line.strip()])
        if table is None or table.headed_by != "rule":
            self.builder.add("code", text)
            return
        for cells in table.rows:
            self.builder.add("table_row", table_row_text(table.headers, cells), tight=True)

    def table(self, table: Any) -> None:
        cells = table.find_all(["th", "td"])
        if len(cells) == 1 and cells[0].find("pre") is not None:
            # A table of one cell framing a listing (DocBook's boxed programlisting) is no row
            # of data: the listing is read as a listing.
            self.walk(cells[0])
            self.flush()
            return
        caption = table.find("caption")
        if caption is not None:
            self.builder.add("paragraph", _text_of(caption))
        headers: list[str] = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue
            cells = row.find_all(["th", "td"], recursive=False)
            texts = [_text_of(cell) for cell in cells]
            heading = row.find(list(_HEADINGS))
            if heading is not None and flow(" ".join(texts)) == flow(_text_of(heading)):
                # A row that only holds a heading (generated API pages group their summary
                # tables so) heads the rows after it, as a heading outside a table would.
                self.builder.heading(flow(_text_of(heading)))
                continue
            if not headers and cells and all(cell.name == "th" for cell in cells):
                headers = texts
                continue
            if not headers and len(cells) == 2 and cells[0].name == "th":
                # A row header beside its value ("Status: | Base"): the pair reads as one line.
                label = flow(texts[0]).rstrip(":")
                self.builder.add("table_row", table_row_text([label], texts[1:]), tight=True)
                continue
            self.builder.add("table_row", table_row_text(headers, texts), tight=True)


def _text_of(tag: Any) -> str:
    """The text of an element as a person reads it: inline markup flows inside its words
    ("<code>1</code>-<code>100</code>" is "1-100"), blocks and cells inside it are set apart by a
    space, and a `<br>` or a row of a table inside it starts a new line (entries listed one per
    line in a cell are not one sentence).
    Note marks are left out as in running text.

    Measured on the real-docs set: a new line for every block in a cell too (its paragraphs and
    list items) cost one right answer (a cell's title line parted from the sentence after it)."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    lines: list[str] = [""]

    def visit(node: Any) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):  # comments, doctypes
                    lines[-1] += str(child)
            elif isinstance(child, Tag):
                if child.name in ("sup", "a") and _is_note_mark(child, lines[-1]):
                    continue
                if child.name in ("br", "tr"):  # a row of a table inside the cell: a line
                    lines.append("")
                    visit(child)
                    lines.append("")
                elif child.name in _BLOCKS or child.name in ("td", "th"):
                    lines[-1] += " "
                    visit(child)
                    lines[-1] += " "
                else:
                    visit(child)

    visit(tag)
    return "\n".join(line for line in (flow(text) for text in lines) if line)


def _is_note_mark(tag: Any, before: str) -> bool:
    """Whether a `<sup>` or `<a>` is a reference to a note: one marked as such by its class or
    role, a link to a note on the page, a superscript in brackets, or a superscript number glued
    after a word or a stop."""
    text = " ".join(tag.get_text(" ").split())
    if not _NOTE_MARK.match(text):
        return False
    marked = " ".join([*tag.get("class", []), str(tag.get("role", ""))])
    bracketed = text.startswith("[")
    links = [tag] if tag.name == "a" else tag.find_all("a")
    in_page = any(str(link.get("href", "")).startswith("#") for link in links)
    if _NOTE_ROLES.search(marked) or (in_page and (bracketed or tag.name == "sup")):
        return True
    return tag.name == "sup" and glued_note_mark(text, before)


def glued_note_mark(text: str, before: str) -> bool:
    """Whether a superscript's text, after the running text `before`, is a note mark: a number
    (or `[n]`) after a stop or a word of four letters or more, not an exponent."""
    text = " ".join(text.split())
    if not _NOTE_MARK.match(text):
        return False
    return text.startswith("[") or _MARKED_WORD.search(before.rstrip()) is not None
