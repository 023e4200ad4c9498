"""Answers as Telegram HTML: all text escaped, citations kept whole, split under 4096 characters."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.answering.answer import Answer, Citation
from bot.doors.quoting import display_name, display_quote, display_short_quote, section_name

# Telegram's limit for one message's text. Lengths are counted in UTF-16 code units of the HTML we
# send, which is never less than what Telegram counts after parsing the tags.
MESSAGE_LIMIT = 4096
SHORT_QUOTE_CHARS = 160
BUTTON_LABEL_CHARS = 40

_CITATION = re.compile(r"\[\d+\]")
_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?:\s*\[\d+\])*(?=\s)")
_TAG = re.compile(r"</?(?:b|i|code|blockquote)>")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Span:
    """A run of plain text, optionally inside one HTML tag (b, i, code, blockquote)."""

    text: str
    tag: str | None = None

    def render(self) -> str:
        """The span as HTML, its text escaped."""
        body = escape(self.text)
        return f"<{self.tag}>{body}</{self.tag}>" if self.tag else body


@dataclass(frozen=True)
class Block:
    """A unit moved whole to the next message when it does not fit: a paragraph, a source."""

    spans: tuple[Span, ...]
    gap: str = "\n\n"  # what separates it from the block before it in the same message

    def render(self) -> str:
        """The block as HTML."""
        return "".join(span.render() for span in self.spans)


def escape(text: str) -> str:
    """Escape document or model text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


def telegram_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits."""
    return len(text.encode("utf-16-le")) // 2


def to_plain(html_text: str) -> str:
    """The text of HTML we produced, without tags, for the plain-text fallback."""
    return html.unescape(_TAG.sub("", html_text))


def _escaped_cost(char: str) -> int:
    return telegram_length(escape(char))


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` once escaped."""
    used = 0
    for index, char in enumerate(text):
        used += _escaped_cost(char)
        if used > limit:
            return index
    return len(text)


# Where a piece may end, best first: before a paragraph break, a line break, after a sentence
# (with the citations that close it), before a space.
_BOUNDARIES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"\n[ \t]*\n"), False),
    (re.compile(r"\n"), False),
    (_SENTENCE_END, True),
    (re.compile(r"\s"), False),
)


def _last_cut(window: str, room: int, pattern: re.Pattern[str], after: bool) -> int:
    """The last cut allowed by `pattern` that leaves at most `room` characters (0 when none)."""
    cuts = [m.end() if after else m.start() for m in pattern.finditer(window)]
    fitting = [cut for cut in cuts if 0 < cut <= room]
    return fitting[-1] if fitting else 0


def _safe_hard_cut(text: str, cut: int) -> int:
    """Move a cut that falls inside a `[n]` citation before it (after it, if it opens the text)."""
    for match in _CITATION.finditer(text):
        if match.start() < cut < match.end():
            return match.start() if match.start() > 0 else match.end()
    return cut


def _gap_for(whitespace: str) -> str:
    if whitespace.count("\n") >= 2:
        return "\n\n"
    if "\n" in whitespace:
        return "\n"
    return " " if whitespace else ""


def split_text(text: str, limit: int) -> list[tuple[str, str]]:
    """Split plain text into `(gap, piece)` pairs whose escaped pieces fit `limit`.

    Cuts at a paragraph break, else a line break, else a sentence end, else a space, preferring
    the last one in the second half of the room; a hard cut is the last resort and never falls
    inside a `[n]` citation. `gap` is the whitespace dropped at the cut ("" before the first).
    """
    if limit < 8:
        raise ValueError("limit too small to split text")
    pieces: list[tuple[str, str]] = []
    gap = ""
    rest = text
    while telegram_length(escape(rest)) > limit:
        room = _fitting_prefix(rest, limit)
        window = rest[: room + 1]  # whitespace right after the room is still a boundary
        cuts = [_last_cut(window, room, pattern, after) for pattern, after in _BOUNDARIES]
        cut = next((c for c in cuts if c >= room // 2), 0) or max(cuts)
        cut = cut or _safe_hard_cut(rest, room)
        piece, rest = rest[:cut].rstrip(), rest[cut:]
        stripped = rest.lstrip()
        if piece:
            pieces.append((gap, piece))
        gap = _gap_for(rest[: len(rest) - len(stripped)])
        rest = stripped
    if rest or not pieces:
        pieces.append((gap, rest))
    return pieces


def _split_block(block: Block, limit: int) -> list[Block]:
    """Break a block too long for one message into blocks of single spans, each fitting."""
    out: list[Block] = []
    for index, span in enumerate(block.spans):
        overhead = telegram_length(Span("", span.tag).render())
        for piece_index, (gap, piece) in enumerate(split_text(span.text, limit - overhead)):
            if piece_index == 0:
                gap = block.gap if index == 0 else ""
            out.append(Block((Span(piece, span.tag),), gap=gap))
    return out


def pack(blocks: Iterable[Block], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lay blocks into few HTML messages within `limit`; only a block too long alone is cut."""
    expanded: list[Block] = []
    for block in blocks:
        if telegram_length(block.render()) <= limit:
            expanded.append(block)
        else:
            expanded.extend(_split_block(block, limit))
    messages: list[str] = []
    current = ""
    for block in expanded:
        rendered = block.render()
        if not rendered.strip():
            continue
        candidate = f"{current}{block.gap}{rendered}" if current else rendered
        if telegram_length(candidate) <= limit:
            current = candidate
        else:
            messages.append(current)
            current = rendered
    if current:
        messages.append(current)
    return messages


def cited_sources(answer: Answer) -> list[Citation]:
    """The answer's citations, one per number, in number order."""
    seen: dict[int, Citation] = {}
    for citation in answer.citations:
        seen.setdefault(citation.n, citation)
    return [seen[n] for n in sorted(seen)]


def source_label(citation: Citation) -> str:
    """The file, with its page when it has one."""
    source = display_name(citation.source)
    return f"{source}, p. {citation.page}" if citation.page else source


def _place(title: str, source: str, label: str, section: str) -> list[Span]:
    """A document's title, the heading a quote sits under and its file ("Guide › Setup ·
    guide.md"); a document titled by its file name shows the file, then the heading."""
    heading = section_name(title, section)
    after = [Span(f" › {heading}")] if heading else []
    if title and title != source:
        return [Span(display_name(title), "b"), *after, Span(" · "), Span(label, "code")]
    return [Span(label, "code"), *after]


def _source_heading(citation: Citation) -> list[Span]:
    place = _place(citation.title, citation.source, source_label(citation), citation.section)
    return [Span(f"[{citation.n}] "), *place]


def button_label(citation: Citation) -> str:
    """The inline button's text for one cited source."""
    name = display_name(citation.title or citation.source)
    label = f"[{citation.n}] {name}"
    return label if len(label) <= BUTTON_LABEL_CHARS else label[: BUTTON_LABEL_CHARS - 1] + "…"


def answer_blocks(answer: Answer) -> list[Block]:
    """The answer as blocks: notice, paragraphs, then a Sources block with a short quote each."""
    blocks: list[Block] = []
    if answer.notice:
        blocks.append(Block((Span(f"⚠️ {answer.notice}", "i"),)))
    for paragraph in re.split(r"\n[ \t]*\n", answer.text.strip()):
        if paragraph.strip():
            blocks.append(Block((Span(paragraph.strip()),)))
    sources = [] if answer.abstained else cited_sources(answer)
    if sources:
        blocks.append(Block((Span("Sources", "b"),)))
        for citation in sources:
            quote = Span(f"“{display_short_quote(citation.quote)}”", "i")
            blocks.append(Block((*_source_heading(citation), Span("\n"), quote), gap="\n"))
    if answer.abstained and answer.suggestions:
        blocks.append(Block((Span("Closest passages, places to look", "b"),)))
        for place in answer.suggestions:
            where = f"{place.source}, p. {place.page}" if place.page else place.source
            spans = _place(place.title, place.source, display_name(where), place.section)
            blocks.append(Block((Span("• "), *spans), gap="\n"))
    return blocks


def format_answer(answer: Answer, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The answer as one or more HTML messages, each within Telegram's limit."""
    return pack(answer_blocks(answer), limit)


def format_quotes(citations: Sequence[Citation], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cited sources in full: heading, then the whole quote in a blockquote."""
    blocks: list[Block] = []
    for citation in citations:
        blocks.append(Block(tuple(_source_heading(citation))))
        blocks.append(Block((Span(display_quote(citation.quote.strip()), "blockquote"),), gap="\n"))
    return pack(blocks, limit)
