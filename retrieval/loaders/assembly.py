"""The document model every loader builds: text as a person reads it, with its blocks and pages."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from retrieval.documents import CELL_SEPARATOR, Block, BlockKind, Document, PageSpan
from retrieval.text.terms import STOPWORDS

_MAX_TITLE_WORDS = 24
_MAX_HEADING_WORDS = 14
# A line of a contents page or an index: a label, a run of leader dots, a page number.
_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlcIVXLC]+\s*$|…{2,}")
# A section number before a capitalised title: "3.4 INTEGRATE", "2. Setup", "A.1 Tables".
_NUMBERED = re.compile(r"^(?:\d+|[A-Z])(?:\.\d+)*\.?\s+[A-Z]")
# Words a title-cased heading leaves in lower case.
_MINOR_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "vs",
        "via",
        "with",
        "without",
    ]
)
_SENTENCE_END = (".", "!", "?", ":", ";", ",", '"', "\u201d")
# A heading may end with a bracket ("Fan Speed Register (fsr)"); a sentence ends with the stop
# before it ("(see above.)").
_CLOSERS = ")]"


def flow(text: str) -> str:
    """Text as one flowing line: NFKC glyphs (ligatures), every run of white space one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_leader_line(line: str) -> bool:
    """Whether a line is a contents or index entry (label, leader dots, page number)."""
    return bool(_LEADER.search(line))


def _title_cased(words: list[str]) -> bool:
    """Whether most of a line's words are capitalised, as in a title ("GNU GENERAL PUBLIC
    LICENSE", "Guide to the Harbour")."""
    lettered = [w for w in words if any(c.isalpha() for c in w)]
    capitalised = [w for w in lettered if w[0].isupper() or w.lower() in _MINOR_WORDS]
    return bool(lettered) and len(capitalised) >= 0.75 * len(lettered)


def looks_like_heading(text: str, *, strict: bool = False) -> bool:
    """Whether a short line reads as a heading: it starts with a capital or a section number and
    does not end a sentence or stop mid-phrase.

    `strict` is for lines that may not stand alone (a PDF line): then data lines ("Size: 721,466",
    a row of numbers) are not headings, and a long one must be in title case.
    """
    words = text.split()
    if not 0 < len(words) <= _MAX_HEADING_WORDS or text.rstrip().rstrip(_CLOSERS).endswith(
        _SENTENCE_END
    ):
        return False
    if ends_mid_phrase(text) or text.rstrip().endswith(("-", "\u2010")):
        # A line cut off mid-phrase ("National Institute of") or mid-word ("environ-"), or
        # ending on a command's dash ("cat -").
        return False
    numbered = _NUMBERED.match(text)
    if numbered and not strict:
        return True
    body = text[numbered.end() - 1 :] if numbered else text
    lettered = [w for w in body.split() if any(c.isalpha() for c in w)]
    if not lettered or not (numbered or lettered[0][0].isupper()):
        return False
    if not strict:
        return True
    if ":" in body or any(c.isdigit() for c in body):
        return False
    return len(lettered) <= 6 or _title_cased(lettered)


def ends_mid_phrase(line: str) -> bool:
    """Whether a line stops on a word that cannot end a sentence or a title ("next to",
    "the"), so the line after it goes on with the same sentence."""
    words = line.split()
    return bool(words) and words[-1].lower() in _MINOR_WORDS


def flow_lines(text: str) -> str:
    """Each line of `text` flowed (see `flow`), empty lines dropped, the line breaks kept."""
    return "\n".join(line for line in map(flow, text.split("\n")) if line)


# Lines that are commands or settings, not prose: a shell prompt, NAME=value, or a directive
# ("#include", "#define", "#!/bin/sh").
_CODE_LINE = re.compile(r"^\s*(?:[$#>]\s+\S|[A-Z][A-Z0-9_]*=\S|#!|#[a-z]+\b)")
# Box-drawing characters: a line holding them is part of a drawing (a state diagram, a boxed
# table), whatever words are written inside its boxes; prose never uses them.
_BOX_DRAWING = re.compile("[\u2500-\u257f]")


def is_code_line(line: str) -> bool:
    """Whether a line is a command, a setting or a directive rather than prose, or a line of a
    drawing in box-drawing characters."""
    return bool(_CODE_LINE.match(line) or _BOX_DRAWING.search(line))


def table_row_text(headers: list[str], cells: list[str]) -> str:
    """One table row as a person reads it: `Header: cell · Header: cell` (bare cells without headers).

    A cell of several lines (`<br>` in an HTML cell) keeps them as lines, so a
    line without a final stop does not run into the next one as one sentence.
    """
    parts = []
    for i, cell in enumerate(cells):
        cell = flow_lines(cell)
        if not cell:
            continue
        header = flow(headers[i]) if i < len(headers) else ""
        parts.append(f"{header}: {cell}" if header and header != cell else cell)
    return CELL_SEPARATOR.join(parts)


@dataclass
class DocumentBuilder:
    """Collects blocks in reading order; `build` joins them into the stored text and its structure."""

    title: str = ""
    parts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    page_marks: list[tuple[int, int]] = field(default_factory=list)
    section: str = ""
    # Running headers and footers the loader took out of the text, each once.
    furniture: list[str] = field(default_factory=list)
    _length: int = 0

    def add(
        self,
        kind: BlockKind,
        text: str,
        *,
        page_marks: list[tuple[int, int]] | None = None,
        tight: bool = False,
    ) -> None:
        """Append one block. `page_marks`: (offset in `text`, page) where a page starts.

        `tight` joins it to the previous block with one newline (rows of one table, items of one
        list); otherwise a blank line separates blocks.
        """
        if kind == "table_row":  # a row keeps the line breaks inside its cells
            text = flow_lines(text)
        elif kind != "code":
            text = flow(text)
        else:
            text = unicodedata.normalize("NFKC", text).strip("\n").rstrip()
        if not text.strip():
            for _, page in page_marks or []:
                self.mark_page(page)
            return
        if self.parts:
            separator = "\n" if tight else "\n\n"
            self.parts.append(separator)
            self._length += len(separator)
        start = self._length
        for offset, page in page_marks or []:
            self._mark(start + min(offset, len(text)), page)
        if kind == "heading":
            self.section = text
        self.parts.append(text)
        self._length += len(text)
        self.blocks.append(Block(kind, start, self._length, self.section))

    def heading(
        self,
        text: str,
        *,
        page_marks: list[tuple[int, int]] | None = None,
        under: str = "",
    ) -> None:
        """Append a heading; the blocks after it sit under it, joined to `under` when given
        (a definition term under its list's heading: "Groups · staff")."""
        self.add("heading", text, page_marks=page_marks)
        if under:
            self.section = f"{under}{CELL_SEPARATOR}{self.section}"

    def keep_furniture(self, line: str) -> None:
        """Keep a running header or footer taken out of the text, once, as document metadata."""
        line = flow(line)
        if line and line not in self.furniture:
            self.furniture.append(line)

    def mark_page(self, page: int) -> None:
        """The next text added starts page `page`."""
        self._mark(self._length + (2 if self.parts else 0), page)

    def _mark(self, offset: int, page: int) -> None:
        if page <= 0:
            return
        if self.page_marks and self.page_marks[-1][1] == page:
            return
        if self.page_marks and self.page_marks[-1][0] >= offset:
            self.page_marks[-1] = (self.page_marks[-1][0], page)
            return
        self.page_marks.append((offset, page))

    @property
    def text(self) -> str:
        """The text built so far."""
        return "".join(self.parts)

    def build(self, source: str, content_hash: str, fallback_title: str) -> Document:
        """The Document: stored text, title, blocks and (for paged files) page spans."""
        text = self.text
        pages = tuple(
            PageSpan(
                page,
                offset,
                self.page_marks[i + 1][0] if i + 1 < len(self.page_marks) else len(text),
            )
            for i, (offset, page) in enumerate(self.page_marks)
        )
        title = self.title or guess_title(text, self.blocks) or fallback_title
        return Document(
            source, title, text, content_hash, pages, tuple(self.blocks), tuple(self.furniture)
        )


def guess_title(text: str, blocks: list[Block]) -> str:
    """The first short block that reads like a headline: a phrase with no final stop.

    Only the document's first block of two words or more may be a headline in sentence case
    ("US leaders tout …", four words or more) or a short one ("Apache License", title-cased); a
    later block must be title-cased ("XZ Utils FAQ"), or it is a sentence that lost its stop
    ("The protocol … is described in the file PROTOCOL.agent")."""
    first = True
    for block in blocks[:15]:
        line = text[block.start : block.end].split("\n")[0].strip()
        words = line.split()
        if len(words) < 2:
            continue  # a label before the headline ("Capabilities"), or a number
        phrase = (
            len(words) <= _MAX_TITLE_WORDS
            and not line.endswith((".", ":", "?", ","))
            and ". " not in line  # a headline is one phrase, not sentences
            and not ends_mid_phrase(line)  # its first line only ("National Aeronautics and")
        )
        long_enough, title_cased = len(words) >= 4, _title_cased(words)
        if phrase and (long_enough or title_cased) and (first or (long_enough and title_cased)):
            return line
        first = False
    return ""


# A word, with the hyphens inside it ("well-known", "X-ray").
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_WORD_BEFORE_HYPHEN = re.compile(r"([^\W_]+(?:-[^\W_]+)*)-$")
_MIN_COMPOUND_PART = 3  # letters in each half of a compound told apart by its halves alone


def document_words(lines: list[str]) -> frozenset[str]:
    """The words of a document's lines, lower-cased, and the parts of its hyphenated words; the
    pieces of a word broken by a hyphen at a line's end are left out (they are what is asked)."""
    words: set[str] = set()
    broken = False
    for line in lines:
        found = _WORD.findall(line)
        if broken and found:
            found = found[1:]
        broken = line.rstrip().endswith("-")
        if broken and found:
            found = found[:-1]
        for word in found:
            word = word.lower()
            words.add(word)
            words.update(word.split("-"))
    return frozenset(words)


def _keeps_hyphen(text: str, line: str, words: frozenset[str]) -> bool:
    """Whether the hyphen ending `text` belongs to a compound ("well-" then "known") rather
    than breaking one word ("exam-" then "ple"), judged by the document's own words: the word
    written whole elsewhere is one word; written with its hyphen elsewhere, or both parts being
    content words of their own ("tall-" then "grass"), it is a compound."""
    before = _WORD_BEFORE_HYPHEN.search(text)
    after = _WORD.match(line)
    if not words or before is None or after is None:
        return False
    left, right = before.group(1).lower(), after.group(0).lower()
    head, tail = left.split("-")[-1], right.split("-")[0]
    if head + tail in words:
        return False
    if f"{left}-{right}" in words:
        return True
    # Both halves words of their own ("tall" and "grass"), neither a short function word: "be-"
    # then "cause" is one word broken, though "be" and "cause" are words too.
    return all(
        part in words and len(part) >= _MIN_COMPOUND_PART and part not in STOPWORDS
        for part in (head, tail)
    )


def join_lines(
    lines: list[tuple[str, int]], words: frozenset[str] = frozenset()
) -> tuple[str, list[tuple[int, int]]]:
    """Lines of one paragraph joined with spaces, with where each page starts in the result.

    A line-end hyphen inside a word ("exam-" then "ple") is joined without it; one of a compound
    ("well-" then "known", see `_keeps_hyphen` and `words`, the document's words from
    `document_words`) is kept. Returns the text and (offset, page) marks, one per change of page.
    """
    text = ""
    marks: list[tuple[int, int]] = []
    for line, page in lines:
        if text:
            if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
                if not _keeps_hyphen(text, line, words):
                    text = text[:-1]
            else:
                text += " "
        if not marks or marks[-1][1] != page:
            marks.append((len(text), page))
        text += line
    return text, marks
