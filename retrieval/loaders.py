"""Read corpus files (.txt, .md, .html, .pdf) into plain-text documents."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.documents import Document, PageSpan
from retrieval.errors import UnreadableFileError

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_MAX_TITLE_WORDS = 24


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not ingested, and why."""

    source: str
    reason: str


def content_hash(data: bytes) -> str:
    """sha256 of the file's bytes: the document's identity for incremental ingest."""
    return hashlib.sha256(data).hexdigest()


def iter_corpus_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file under `root`, recursively, in a stable order."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        # A dangling link is yielded too, so it is reported as unreadable rather than ignored.
        if path.is_file() or (path.is_symlink() and not path.exists()):
            yield path


def load_corpus(root: Path) -> tuple[list[Document], list[SkippedFile]]:
    """Load every supported file under `root`; unreadable ones are returned as skipped."""
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for path in iter_corpus_files(root):
        source = path.relative_to(root).as_posix()
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append(SkippedFile(source, f"unsupported file type '{path.suffix or 'none'}'"))
            continue
        try:
            documents.append(load_document(path, source))
        except UnreadableFileError as error:
            skipped.append(SkippedFile(source, str(error)))
    return documents, skipped


def load_document(path: Path, source: str) -> Document:
    """Read one file into a Document, or raise UnreadableFileError saying why."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFileError(f"cannot read it ({error.strerror or error})") from error
    if not data.strip():
        raise UnreadableFileError("it is empty")
    suffix = path.suffix.lower()
    digest = content_hash(data)
    if suffix == ".pdf":
        return _load_pdf(data, source, digest, fallback_title=path.stem)
    text = _decode_text(data)
    if suffix in (".html", ".htm"):
        text, title = _html_text(text)
    else:
        title = _markdown_title(text) if suffix in (".md", ".markdown") else ""
    if not text.strip():
        raise UnreadableFileError("it has no text")
    return Document(source, title or _guess_title(text) or path.stem, text, digest)


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFileError("it looks binary (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFileError(
            f"it is not UTF-8 text (bad byte at position {error.start}); convert it to UTF-8"
        ) from error
    # Normalise line endings so character offsets mean the same on every platform.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _guess_title(text: str) -> str:
    """The first line that reads like a headline: several words, short, no final period."""
    for line in text.splitlines()[:15]:
        line = line.strip().lstrip("#").strip()
        words = line.split()
        if 4 <= len(words) <= _MAX_TITLE_WORDS and not line.endswith((".", ":", "?")):
            return line
    return ""


def _markdown_title(text: str) -> str:
    match = re.search(r"^#{1,3}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


def _html_text(markup: str) -> tuple[str, str]:
    """Visible text of an HTML page (scripts, styles and hidden parts removed) and its title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if not title:
        heading = soup.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    title = " ".join(title.split())  # as a browser shows it: "<title>\n  A\n  B</title>" is "A B"
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    for tag in soup.select("[hidden], [aria-hidden=true]"):
        tag.decompose()
    blocks = [" ".join(line.split()) for line in soup.get_text("\n").splitlines()]
    text = "\n".join(block for block in blocks if block)
    return text, title


def _load_pdf(data: bytes, source: str, digest: str, fallback_title: str) -> Document:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableFileError("the PDF is encrypted; save an unencrypted copy")
        parts: list[str] = []
        pages: list[PageSpan] = []
        offset = 0
        for number, page in enumerate(reader.pages, start=1):
            page_text = (page.extract_text() or "").strip()
            if not page_text:
                continue
            if parts:
                offset += 2  # the "\n\n" joining pages
            pages.append(PageSpan(number, offset, offset + len(page_text)))
            parts.append(page_text)
            offset += len(page_text)
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableFileError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise UnreadableFileError(f"it is not a readable PDF ({error})") from error
    text = "\n\n".join(parts)
    if not text.strip():
        raise UnreadableFileError("the PDF has no extractable text (scanned images need OCR first)")
    title = str(metadata_title).strip() or _guess_title(text) or fallback_title
    return Document(source, title, text, digest, tuple(pages))
