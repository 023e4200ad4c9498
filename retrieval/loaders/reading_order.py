"""A PDF page's lines in reading order, from pypdf's text and where each piece of it is drawn.

pypdf reads a page in the order its content stream draws the text. That is usually the reading
order, but not always: a two-column page may draw its columns line by line across the page, and
a page may draw a boxed heading before the text that carries on from the page before. Here the
lines keep pypdf's text; only their order changes:

- a page with columns of prose (a column: several lines of several words starting at one x,
  beside lines of several words that end before it) is read column by column, band by band
  between the lines that cross a gutter;
- otherwise a run of lines drawn after a run that lies below it, in the same horizontal span, is
  moved before it; runs side by side keep the order they are drawn in.

Each line also says what its drawing shows: the font size of most of its text, and whether it is
a figure's labels (short pieces side by side, or short lines scattered over a figure), which the
loader keeps out of the headings and the prose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Width of an average glyph, in font sizes: only used to guess where a piece of text ends.
_GLYPH_WIDTH = 0.5
# Width of a capital letter, in font sizes (most fonts draw capitals 0.6 to 0.75 wide).
_CAPITAL_WIDTH = 0.72
# A gap wider than this many font sizes between two pieces of one line separates them.
_WIDE_GAP = 2.0
# A display font (chapter and part labels) is at least this many times the body's size; section
# headings are set at up to about 1.5 times the body, chapter labels at twice it or more.
DISPLAY_RATIO = 1.6
# Words a piece needs to count as a line of prose in a column; pieces a column needs.
_PROSE_WORDS = 4
_MIN_COLUMN_LINES = 4
# A label in a figure is a few words: a box's name, a field of a bit-field diagram, an arrow's
# caption. A line whose pieces, set apart by wide gaps, are all this short is a row of labels.
_LABEL_WORDS = 3
# Short lines one after another that start at this many different places, centred on this many
# different places, are labels scattered over a figure: a heading, a title page or a list has its
# short lines on one left edge or one centre line. Three, because two short lines (a chapter
# label and its title, a centred title and subtitle) are common outside figures.
_SCATTERED = 3


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


@dataclass(frozen=True)
class PageLine:
    """One line of a page as read, and what its drawing tells about it.

    `size`: the font size most of its text is drawn in (0 when positions are unknown), so the
    loader can tell a display label from the body around it. `label`: the line is a figure's
    labels (see `_figure_labels`), which read as neither a heading nor a sentence.
    """

    text: str
    size: float = 0.0
    label: bool = False


def page_lines(page: Any) -> list[PageLine]:
    """The lines of a pypdf page in reading order (pypdf's own order when positions are unsure)."""
    fragments: list[tuple[str, list[float], float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        fragments.append((text, _times(tm, cm), size))

    output = page.extract_text(visitor_text=visit) or ""
    lines = _lines(fragments)
    if lines is None or "\n".join(line.text for line in lines) != output.rstrip("\n"):
        return [PageLine(text) for text in output.split("\n")]
    lines = [part for line in lines for part in _display_apart(line)]
    starts = _columns(lines)
    ordered = _by_columns(lines, starts) if starts else _by_runs(lines)
    labels = _figure_labels(ordered)
    return [PageLine(line.text, _body_size(line), i in labels) for i, line in enumerate(ordered)]


def _display_apart(line: _Line) -> list[_Line]:
    """A line with the words it holds in a display font (a label drawn where a line of body text
    runs, which pypdf puts on that line) taken out onto a line of their own after it.

    One glyph is left in place: a drop capital opens the word it is drawn with.
    """
    body = _body_size(line)
    display = [
        len(piece.text.strip()) >= 2 and piece.size >= DISPLAY_RATIO * body for piece in line.pieces
    ]
    if not any(display) or all(
        d for d, p in zip(display, line.pieces, strict=True) if p.text.strip()
    ):
        return [line]
    kept = [p for p, d in zip(line.pieces, display, strict=True) if not d]
    moved = [p for p, d in zip(line.pieces, display, strict=True) if d]
    return [_Line(kept), _Line(moved)]


def _body_size(line: _Line) -> float:
    """The font size that most of a line's characters are drawn in."""
    weight: dict[float, int] = {}
    for piece in line.drawn:
        size = round(piece.size, 1)
        weight[size] = weight.get(size, 0) + len(piece.text.strip())
    return max(weight, key=lambda size: weight[size]) if weight else 0.0


def _is_label_row(line: _Line) -> bool:
    """Whether a line is several short pieces side by side with wide gaps between them (the names
    of the fields in a bit-field diagram, the boxes of a diagram), rather than one run of text."""
    parts: list[str] = []
    end = -math.inf
    for piece in line.drawn:
        # Capitals are wider than the average glyph that `_Piece.right` assumes; a heading in
        # capitals drawn word by word must not look like words set apart.
        width = sum(_CAPITAL_WIDTH if c.isupper() else _GLYPH_WIDTH for c in piece.text.strip())
        if not parts or piece.x > end + _WIDE_GAP * piece.size:
            parts.append("")
        parts[-1] += piece.text
        end = piece.x + width * piece.size
    # Two parts with letters: a section number set apart from its title ("12.0   SETUP STEPS")
    # is one heading, not two labels.
    lettered = [part for part in parts if any(c.isalpha() for c in part)]
    return len(lettered) >= 2 and all(len(part.split()) <= _LABEL_WORDS for part in parts)


def _is_short(line: _Line) -> bool:
    return 0 < len(line.text.split()) <= _LABEL_WORDS


def _is_numbers(line: _Line) -> bool:
    """Whether every word of a line holds a digit or no letter (the bit numbers and field widths
    of a bit-field diagram: "31 30 23", "N-1 8 1"), so it is neither prose nor a heading."""
    return all(
        any(c.isdigit() for c in word) or not any(c.isalpha() for c in word)
        for word in line.text.split()
    )


def _carries_on(lines: list[_Line], i: int) -> bool:
    """Whether a short line finishes the text of the line above it: it ends a sentence right
    after a line of prose (a figure's label seldom ends with a stop), or it goes on with a word
    that the line above broke at a hyphen."""
    if i == 0:
        return False
    text, above = lines[i].text.strip(), lines[i - 1].text.rstrip()
    return (text.endswith((".", "!", "?", ":")) and len(above.split()) >= _PROSE_WORDS) or (
        above.endswith("-") and text[:1].islower()
    )


def _figure_labels(lines: list[_Line]) -> set[int]:
    """The indexes of the lines that are labels of a figure.

    A figure's labels have no font of their own (they are often larger than the body), so they
    are known by where they are drawn: a row of short pieces with wide gaps between them; or a
    stretch of short lines scattered over the page, starting and centred at several places; and,
    next to either, lines of numbers in no larger a font (the bit numbers above and the widths
    below the fields of a bit-field diagram).
    """
    labels = {i for i, line in enumerate(lines) if line.drawn and _is_label_row(line)}
    i = 0
    while i < len(lines):
        j = i
        while (
            j < len(lines)
            and lines[j].drawn
            and (_is_short(lines[j]) or j in labels)
            and not (j == i and _carries_on(lines, j))
        ):
            j += 1
        if j - i >= _SCATTERED and _scattered(lines[i:j]):
            labels.update(range(i, j))
        i = max(j, i + 1)
    grown = True
    while grown:
        grown = False
        for i in sorted(labels):
            for k in (i - 1, i + 1):
                if (
                    0 <= k < len(lines)
                    and k not in labels
                    and lines[k].drawn
                    and _is_numbers(lines[k])
                    and _body_size(lines[k]) <= _body_size(lines[i])
                ):
                    labels.add(k)
                    grown = True
    return labels


def _scattered(lines: list[_Line]) -> bool:
    """Whether short lines start at several places and are centred at several places (within a
    font size of each other counts as one place)."""

    def places(values: list[float], size: float) -> int:
        count, last = 0, -math.inf
        for value in sorted(values):
            if value - last > size:
                count += 1
            last = value
        return count

    # The median size: one brace or arrow drawn as a huge glyph must not blur every place.
    size = sorted(line.drawn[0].size for line in lines)[len(lines) // 2]
    starts = [line.drawn[0].x for line in lines]
    centres = [(line.drawn[0].x + line.drawn[-1].right) / 2 for line in lines]
    return places(starts, size) >= _SCATTERED and places(centres, size) >= _SCATTERED


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


def _columns(lines: list[_Line]) -> list[float]:
    """Where each column of prose after the first starts (x), or [] for a page of one column.

    A column starts where several lines of prose start, beside several lines of prose on its left
    that end before it, in the same stretch of the page.
    """
    parts = [part for line in lines for part in _split(line)]
    prose = [part for part in parts if len(part.text.split()) >= _PROSE_WORDS]
    if not prose:
        return []
    left = min(part.drawn[0].x for part in parts)
    right = max(part.drawn[-1].right for part in parts)
    xs = sorted(p.drawn[0].x for p in prose if p.drawn[0].x > left + 0.15 * (right - left))
    clusters: list[list[float]] = []
    for x in xs:
        if clusters and x - clusters[-1][-1] <= 2:
            clusters[-1].append(x)
        else:
            clusters.append([x])
    starts: list[float] = []
    for cluster in clusters:
        if len(cluster) < _MIN_COLUMN_LINES:
            continue
        x = cluster[0]
        column = [p for p in prose if x - 0.5 <= p.drawn[0].x <= cluster[-1] + 0.5]
        top = max(p.drawn[0].y for p in column)
        bottom = min(p.drawn[0].y for p in column)
        beside = [
            p
            for p in prose
            if p.drawn[0].x < x - 2 * p.drawn[0].size
            and p.drawn[-1].right <= x + _WIDE_GAP * p.drawn[-1].size
            and bottom <= p.drawn[0].y <= top
        ]
        if len(beside) >= _MIN_COLUMN_LINES:
            starts.append(x)
    return starts


def _by_columns(lines: list[_Line], starts: list[float]) -> list[_Line]:
    """Lines top to bottom; between lines that cross a gutter, each column's lines in turn."""
    parts = [part for line in lines for part in _split(line)]
    sizes = sorted(part.drawn[0].size for part in parts)
    tolerance = 2 * sizes[len(sizes) // 2]

    def lane(part: _Line) -> int:
        """The column a line sits in, or -1 for a line that runs across a gutter."""
        first, last = part.drawn[0], part.drawn[-1]
        column = sum(start - first.size <= first.x for start in starts)
        if column < len(starts) and last.right > starts[column] + _WIDE_GAP * last.size:
            return -1
        return column

    lanes = [lane(part) for part in parts]
    inner = [part.drawn[0].y for part, where in zip(parts, lanes, strict=True) if where > 0]
    if not inner:  # every line of the columns runs across a gutter: not columns after all
        return _by_runs(lines)
    top, bottom = max(inner) + tolerance, min(inner) - tolerance
    ordered: list[_Line] = []
    band: list[list[_Line]] = [[] for _ in range(len(starts) + 1)]
    # Top to bottom; the sort is stable, so lines on one baseline keep their drawn order.
    for part, where in sorted(zip(parts, lanes, strict=True), key=lambda p: -p[0].drawn[0].y):
        if where < 0 or not bottom <= part.drawn[0].y <= top:
            ordered += [line for column in band for line in column]
            band = [[] for _ in range(len(starts) + 1)]
            ordered.append(part)
        else:
            band[where].append(part)
    return ordered + [line for column in band for line in column]


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
        if _into_gap(run, ordered):
            continue
        size = run.lines[0].drawn[0].size
        below = [
            i
            for i, earlier in enumerate(ordered)
            if earlier.top < run.bottom - size and earlier.overlaps(run)
        ]
        ordered.insert(below[0] if below else len(ordered), run)
    return [line for run in ordered for line in run.lines]


def _into_gap(run: _Run, ordered: list[_Run]) -> bool:
    """Put a run in a display font (a chapter or part label) that is drawn after the text around
    it into the gap it sits in, between two lines of an earlier run; True when it was put there.

    Some layouts draw such a label last on the page, wherever it stands; read in drawn order it
    would end the page, inside whatever paragraph goes on to the next page.
    """
    size = _body_size(run.lines[0])
    for index, host in enumerate(ordered):
        body = sorted(_body_size(line) for line in host.lines)[len(host.lines) // 2]
        if size < DISPLAY_RATIO * body or not host.overlaps(run):
            continue
        for k in range(1, len(host.lines)):
            above, below = host.lines[k - 1].drawn[0].y, host.lines[k].drawn[0].y
            # The gap must hold the label: two of its font sizes between the baselines around it.
            if above > run.top and below < run.bottom and above - below >= 2 * size:
                ordered[index : index + 1] = [_Run(host.lines[:k]), run, _Run(host.lines[k:])]
                return True
    return False
