"""Markdown through markdown-it-py's token stream: headings, lists, code, tables and quotes as blocks."""

from __future__ import annotations

import re
from typing import Any

from retrieval.loaders.assembly import DocumentBuilder, table_row_text
from retrieval.loaders.html import glued_note_mark, read_html_fragment

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_MAX_TITLE_LEVEL = 3  # a deeper heading never names the page
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
# Admonition markers are presentation: `:::note`, `:::`, `> [!NOTE]`. Only blanks around the
# colons: a closing `:::` must not reach across the blank line to the heading after it.
_ADMONITION = re.compile(r"^[ \t]*:::[^\n]*$", re.MULTILINE)
_CALLOUT = re.compile(r"^\[!\w+\]\s*")
# Static-site template shortcodes: a line of its own (`{{% note %}}`, `{{< /tab >}}`) opens or
# closes a box and is presentation; a cross-reference (`{{< relref "garden#bulbs" >}}`) stands for
# the link target it names, which Markdown cannot parse as a link while it holds spaces.
_SHORTCODE_LINE = re.compile(r"^[ \t]*\{\{(?:<[^\n]*?>|%[^\n]*?%)\}\}[ \t]*$", re.MULTILINE)
_REF_SHORTCODE = re.compile(r"\{\{[<%]\s*(?:rel)?ref\s+\"([^\"\n]*)\"\s*[>%]\}\}")
# Python-Markdown / MkDocs admonitions: a `!!! note "Title"` line, then the body indented.
_INDENTED_ADMONITION = re.compile(r"^(?:!!!|\?\?\?\+?)[ \t]+\w[^\n]*$")
# A footnote reference `[^1]` glued to a word, or the `[^1]:` that opens the note itself.
_FOOTNOTE = re.compile(r"^\[\^[^\]\s]{1,30}\]:\s*|\[\^[^\]\s]{1,30}\]")
_SUP_OPEN = re.compile(r"^<sup\b[^>]*>$", re.IGNORECASE)
_SUP_CLOSE = re.compile(r"^</sup\s*>$", re.IGNORECASE)
_BR = re.compile(r"^<br\s*/?>$", re.IGNORECASE)


def _unwrap_admonitions(text: str) -> str:
    """`!!! note` blocks as plain paragraphs: the marker line dropped, the body dedented."""
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if _INDENTED_ADMONITION.match(line):
            inside = True
            out.append("")
            continue
        if inside and (line.startswith(("    ", "\t")) or not line.strip()):
            out.append(line[4:] if line.startswith("    ") else line.lstrip("\t"))
            continue
        inside = False
        out.append(line)
    return "\n".join(out)


def read_markdown(text: str, builder: DocumentBuilder) -> None:
    """Add the blocks of a Markdown file to `builder`; its title from front matter or a heading."""
    from markdown_it import MarkdownIt

    front = _FRONT_MATTER.match(text)
    if front:
        title = _FRONT_TITLE.search(front.group(1))
        if title:
            builder.title = title.group(1).strip().strip("\"'")
        text = text[front.end() :]
    text = _ADMONITION.sub("", _SHORTCODE_LINE.sub("", _REF_SHORTCODE.sub(r"\1", text)))
    text = _unwrap_admonitions(text)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    first_heading = ""
    headers: list[str] = []
    row: list[str] = []
    in_head = False
    kinds: list[str] = []  # the open containers: list items make their paragraphs items
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            heading = _inline_text(tokens[i + 1])
            if not first_heading and _names_the_page(token.tag, tokens):
                first_heading = heading
            builder.heading(heading)
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open", "list_item_open"):
            kinds.append(kind)
        elif kind in ("bullet_list_close", "ordered_list_close", "list_item_close"):
            kinds.pop()
        elif kind == "thead_open":
            in_head, headers = True, []
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind in ("th_open", "td_open"):
            row.append(_inline_text(tokens[i + 1]))
        elif kind == "tr_close":
            if in_head:
                headers = row
            else:
                builder.add("table_row", table_row_text(headers, row), tight=True)
        elif kind == "inline" and tokens[i - 1].type == "paragraph_open":
            paragraph = _CALLOUT.sub("", _inline_text(token))
            in_item = bool(kinds) and kinds[-1] == "list_item_open"
            # An item that only links to a heading of this page is a contents entry: the heading
            # below says the same, and it is no sentence.
            if not (in_item and _links_within_page(token)):
                builder.add("list_item" if in_item else "paragraph", paragraph, tight=in_item)
        elif kind in ("fence", "code_block"):
            builder.add("code", token.content)
        elif kind == "html_block":
            added = len(builder.blocks)
            read_html_fragment(token.content, builder)
            if not first_heading:  # a page that opens with an HTML header (`<h1>` in a `<div>`)
                text = builder.text
                first_heading = next(
                    (text[b.start : b.end] for b in builder.blocks[added:] if b.kind == "heading"),
                    "",
                )
        i += 1
    if not builder.title:
        builder.title = first_heading


def _names_the_page(tag: str, tokens: list[Any]) -> bool:
    """Whether the first heading, at level `tag`, is the page's title: a top-level one, or a
    lower one that no other heading of its level or above follows (a README whose sections are
    all "## Features", "## Installation", … has none of them for its title)."""
    level = int(tag[1:])
    if level == 1:
        return True
    peers = sum(1 for t in tokens if t.type == "heading_open" and int(t.tag[1:]) <= level)
    return level <= _MAX_TITLE_LEVEL and peers == 1


def _links_within_page(token: Any) -> bool:
    """Whether an inline token's text is all inside links to the page's own anchors ("#setup")."""
    target: str | None = None
    linked = False
    for child in token.children or []:
        if child.type == "link_open":
            target = str(child.attrGet("href") or "")
        elif child.type == "link_close":
            target = None
        elif child.content.strip():
            if target is None or not target.startswith("#"):
                return False
            linked = True
    return linked


def _inline_text(token: Any) -> str:
    """An inline token as read: emphasis and links flow, code spans keep their text, HTML tags go
    (a `<br>` is a line break), and note marks (`[^1]`, a `<sup>` number glued to a word) are
    left out."""
    parts: list[str] = []
    children = list(token.children or [])
    skip_to = -1
    for i, child in enumerate(children):
        if i < skip_to:
            continue
        if child.type == "text":
            parts.append(_FOOTNOTE.sub("", child.content))
        elif child.type == "code_inline":
            parts.append(child.content)
        elif child.type == "html_inline" and _SUP_OPEN.match(child.content):
            close = next(
                (j for j in range(i + 1, len(children)) if _SUP_CLOSE.match(children[j].content)),
                None,
            )
            if close is not None:
                inner = "".join(c.content for c in children[i + 1 : close] if c.type == "text")
                if glued_note_mark(inner, "".join(parts)):
                    skip_to = close + 1
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "html_inline" and _BR.match(child.content):
            # A line break, not nothing: the words either side stay apart, and the lines of a
            # table cell stay lines (a paragraph flows it into a space).
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return "".join(parts)
