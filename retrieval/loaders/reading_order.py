"""A PDF page's lines in reading order, from pypdf's text and where each piece of it is drawn.

pypdf reads a page in the order its content stream draws the text. That is usually the reading
order, but not always: a two-column page may draw its columns line by line across the page, and
a page may draw a boxed heading before the text that carries on from the page before. Here the
lines keep pypdf's text; only their order changes:

- a page with two columns of prose (many lines of several words starting at one x in the middle
  of the page, beside lines of several words that end before it) is read column by column, band
  by band between the lines that cross the gutter;
- otherwise a run of lines drawn after a run that lies below it, in the same horizontal span, is
  moved before it; runs side by side keep the order they are drawn in.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Width of an average glyph, in font sizes: only used to guess where a piece of text ends.
_GLYPH_WIDTH = 0.5
# A gap wider than this many font sizes between two pieces of one line separates them.
_WIDE_GAP = 2.0
# Words a piece needs to count as a line of prose in a column; pieces a column needs.
_PROSE_WORDS = 4
_MIN_COLUMN_LINES = 4


@dataclass
class _Piece:
    """Text drawn in one go, where it starts (x, baseline y) and about where it ends."""

    text: str
    x: float
    y: float
    size: float

    @property
    def right(self) -> float:
        return self.x + len(self.text.strip()) * self.size * _GLYPH_WIDTH


@dataclass
class _Line:
    """One line of pypdf's text and the pieces it was drawn in."""

    pieces: list[_Piece] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)

    @property
    def drawn(self) -> list[_Piece]:
        return [piece for piece in self.pieces if piece.text.strip()]


def page_lines(page: Any) -> list[str]:
    """The lines of a pypdf page in reading order (pypdf's own order when positions are unsure)."""
    fragments: list[tuple[str, list[float], float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        fragments.append((text, _times(tm, cm), size))

    output = page.extract_text(visitor_text=visit) or ""
    lines = _lines(fragments)
    if lines is None or "\n".join(line.text for line in lines) != output.rstrip("\n"):
        return output.split("\n")
    gutter = _gutter(lines)
    ordered = _by_columns(lines, gutter) if gutter is not None else _by_runs(lines)
    return [line.text for line in ordered]


def _times(tm: list[float], cm: list[float]) -> list[float]:
    """The text matrix times the transformation matrix: where the text is drawn on the page."""
    a, b, c, d, e, f = (float(v) for v in tm)
    a2, b2, c2, d2, e2, f2 = (float(v) for v in cm)
    return [
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    ]


def _lines(fragments: list[tuple[str, list[float], float]]) -> list[_Line] | None:
    """pypdf's lines, each with its pieces; None when a piece's place is unknown (rotated text,
    or a line break inside a piece) and the page keeps pypdf's order."""
    lines = [_Line()]
    for text, matrix, size in fragments:
        head, *rest = text.split("\n")
        if rest and any(part.strip() for part in rest):
            return None  # text after a break inside a piece: its place is not known
        if head:
            if head.strip() and (abs(matrix[1]) > 1e-3 or abs(matrix[2]) > 1e-3 or matrix[0] <= 0):
                return None  # rotated or mirrored text
            scale = math.hypot(matrix[2], matrix[3]) or 1.0
            lines[-1].pieces.append(_Piece(head, matrix[4], matrix[5], size * scale))
        for _ in rest:
            lines.append(_Line())
    if not lines[-1].pieces:
        lines.pop()
    return lines


def _split(line: _Line) -> list[_Line]:
    """A line cut where its pieces leave a wide gap (text of two columns drawn on one line)."""
    parts = [_Line()]
    previous: _Piece | None = None
    for piece in line.pieces:
        if (
            previous is not None
            and piece.text.strip()
            and piece.x > previous.right + _WIDE_GAP * piece.size
            and abs(piece.y - previous.y) < piece.size
        ):
            parts.append(_Line())
            piece = _Piece(piece.text.lstrip(), piece.x, piece.y, piece.size)
        if parts[-1].pieces or piece.text.strip():
            parts[-1].pieces.append(piece)
        if piece.text.strip():
            previous = piece
    return [part for part in parts if part.drawn]


def _gutter(lines: list[_Line]) -> float | None:
    """The x where a page's right column of prose starts, or None for a page of one column."""
    parts = [part for line in lines for part in _split(line)]
    if not parts:
        return None
    left = min(part.drawn[0].x for part in parts)
    right = max(part.drawn[-1].right for part in parts)
    middle = (left + 0.25 * (right - left), left + 0.75 * (right - left))
    prose = [part for part in parts if len(part.text.split()) >= _PROSE_WORDS]
    starts = Counter(round(p.drawn[0].x) for p in prose if middle[0] <= p.drawn[0].x <= middle[1])
    if not starts:
        return None
    x, _ = starts.most_common(1)[0]
    column = [p for p in prose if abs(p.drawn[0].x - x) <= 2]
    if len(column) < _MIN_COLUMN_LINES:
        return None
    top = max(p.drawn[0].y for p in column)
    bottom = min(p.drawn[0].y for p in column)
    beside = [
        p
        for p in prose
        if p.drawn[0].x < x - 2 * p.drawn[0].size
        and p.drawn[-1].right <= x + _WIDE_GAP * p.drawn[0].size
        and bottom <= p.drawn[0].y <= top
    ]
    return float(x) if len(beside) >= _MIN_COLUMN_LINES else None


def _by_columns(lines: list[_Line], gutter: float) -> list[_Line]:
    """Lines top to bottom; between lines that cross the gutter, the left column then the right."""
    parts = [part for line in lines for part in _split(line)]
    sizes = sorted(part.drawn[0].size for part in parts)
    tolerance = 2 * sizes[len(sizes) // 2]

    def lane(part: _Line) -> str:
        first, last = part.drawn[0], part.drawn[-1]
        if first.x >= gutter - first.size:
            return "right"
        return "left" if last.right <= gutter + _WIDE_GAP * last.size else "across"

    right_ys = [part.drawn[0].y for part in parts if lane(part) == "right"]
    top, bottom = max(right_ys) + tolerance, min(right_ys) - tolerance
    ordered: list[_Line] = []
    band: dict[str, list[_Line]] = {"left": [], "right": []}
    for part in sorted(parts, key=lambda p: -p.drawn[0].y):  # stable: same baseline, drawn order
        where = lane(part)
        if where == "across" or not bottom <= part.drawn[0].y <= top:
            ordered += band["left"] + band["right"]
            band = {"left": [], "right": []}
            ordered.append(part)
        else:
            band[where].append(part)
    return ordered + band["left"] + band["right"]


@dataclass
class _Run:
    """Lines drawn one below the other, and the box they cover."""

    lines: list[_Line]

    @property
    def top(self) -> float:
        return max(line.drawn[0].y for line in self.lines)

    @property
    def bottom(self) -> float:
        return min(line.drawn[0].y for line in self.lines)

    def overlaps(self, other: _Run) -> bool:
        left = min(p.x for line in self.lines for p in line.drawn)
        right = max(p.right for line in self.lines for p in line.drawn)
        other_left = min(p.x for line in other.lines for p in line.drawn)
        other_right = max(p.right for line in other.lines for p in line.drawn)
        return left < other_right and other_left < right


def _by_runs(lines: list[_Line]) -> list[_Line]:
    """Runs of lines in drawn order, except that a run drawn after one lying below it in the same
    horizontal span is read before it."""
    runs: list[_Run] = []
    for line in lines:
        if not line.drawn:
            continue
        first = line.drawn[0]
        if runs and first.y <= runs[-1].lines[-1].drawn[0].y + 0.5 * first.size:
            runs[-1].lines.append(line)
        else:
            runs.append(_Run([line]))
    ordered: list[_Run] = []
    for run in runs:
        size = run.lines[0].drawn[0].size
        below = [
            i
            for i, earlier in enumerate(ordered)
            if earlier.top < run.bottom - size and earlier.overlaps(run)
        ]
        ordered.insert(below[0] if below else len(ordered), run)
    return [line for run in ordered for line in run.lines]
