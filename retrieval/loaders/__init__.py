"""Read corpus files into Documents: the text as a person reads it, with its structure.

One module per format (plain, markdown, html, pdf, word), each adding blocks to the shared
`assembly.DocumentBuilder`; `decoding` turns bytes into text. This module walks the corpus folder
and says, in one line each, why a file was skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.documents import Document
from retrieval.errors import UnreadableFileError
from retrieval.loaders.assembly import DocumentBuilder
from retrieval.loaders.decoding import decode_text

MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
PLAIN_SUFFIXES = (".txt", ".text", ".rst")
SUPPORTED_SUFFIXES = (*PLAIN_SUFFIXES, *MARKDOWN_SUFFIXES, *HTML_SUFFIXES, ".pdf", ".docx", ".csv")
DEFAULT_MAX_FILE_MB = 20
# What the skip message and the "nothing ingested" error tell a user to give.
READABLE = "text, Markdown, reStructuredText, HTML, PDF, Word (.docx) and CSV files"
# Formats a user may hold that citebot cannot read, with the way to make them readable.
_CONVERT_HINTS = {
    ".doc": "save it as .docx or PDF",
    ".rtf": "save it as .docx, PDF or text",
    ".odt": "save it as .docx or PDF",
    ".pages": "export it as .docx or PDF",
    ".epub": "convert it to HTML or PDF",
}

__all__ = [
    "SUPPORTED_SUFFIXES",
    "SkippedFile",
    "content_hash",
    "corpus_bytes",
    "iter_corpus",
    "iter_corpus_files",
    "load_corpus",
    "load_document",
]


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


def load_corpus(
    root: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB
) -> tuple[list[Document], list[SkippedFile]]:
    """Load every supported file under `root`; unreadable ones are returned as skipped."""
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for item, _ in iter_corpus(root, max_file_mb):
        if isinstance(item, SkippedFile):
            skipped.append(item)
        else:
            documents.append(item)
    return documents, skipped


def corpus_bytes(root: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> int:
    """The bytes `iter_corpus` will read: the files it does not skip up front, summed."""
    real_root = root.resolve()
    total = 0
    for path in iter_corpus_files(root):
        if not skip_reason(path, real_root, max_file_mb):
            try:
                total += path.stat().st_size
            except OSError:
                continue
    return total


def iter_corpus(
    root: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB
) -> Iterator[tuple[Document | SkippedFile, int]]:
    """Each file under `root`, one at a time, as a Document or a SkippedFile, with its bytes read.

    One document is held at a time, so a caller that does not keep them reads in bounded memory.
    """
    real_root = root.resolve()
    for path in iter_corpus_files(root):
        source = path.relative_to(root).as_posix()
        reason = skip_reason(path, real_root, max_file_mb)
        if reason:
            yield SkippedFile(source, reason), 0
            continue
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        try:
            yield load_document(path, source), size
        except UnreadableFileError as error:
            yield SkippedFile(source, str(error)), size


def sniffed(path: Path) -> bool:
    """Whether a file is read for what its bytes hold, not its suffix: it has none ("README",
    "LICENSE", "GPL-3"), or a number stands where a suffix would ("Apache-2.0", "notes.2024")."""
    return not path.suffix or path.suffix[1:].isdigit()


def skip_reason(path: Path, real_root: Path, max_file_mb: float) -> str:
    """Why a file is not read at all (type, a link out of the folder, size), or ''."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES and not sniffed(path):
        fix = _CONVERT_HINTS.get(suffix, f"citebot reads {READABLE}")
        return f"unsupported file type '{suffix}' ({fix})"
    if path.is_symlink() and path.exists():
        target = path.resolve()
        if not target.is_relative_to(real_root):
            return f"it is a link to '{target}', outside the corpus folder"
    try:
        size = path.stat().st_size
    except OSError:
        return ""  # load_document says why it cannot be read
    if size > max_file_mb * 1024 * 1024:
        return (
            f"it is {size / 1024 / 1024:.1f} MB, over the {max_file_mb:g} MB limit "
            "(raise CITEBOT_MAX_FILE_MB to read it)"
        )
    return ""


def load_document(path: Path, source: str) -> Document:
    """Read one file into a Document, or raise UnreadableFileError saying why."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFileError(f"cannot read it ({error.strerror or error})") from error
    if not data.strip():
        raise UnreadableFileError("it is empty")
    if sniffed(path):
        return read_document(data, _sniffed_suffix(data), source, fallback_title=path.name)
    return read_document(data, path.suffix.lower(), source, fallback_title=path.stem)


def _sniffed_suffix(data: bytes) -> str:
    """The suffix a file without one reads as: PDF, Word or HTML by its first bytes, else text
    (the text decoder refuses binary files)."""
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"PK\x03\x04") and b"word/" in data:
        return ".docx"
    if head[:15].lower().startswith((b"<!doctype html", b"<html")):
        return ".html"
    return ".txt"


def read_document(data: bytes, suffix: str, source: str, fallback_title: str) -> Document:
    """A file's bytes read by the loader for its suffix."""
    builder = DocumentBuilder()
    if suffix == ".pdf":
        from retrieval.loaders.pdf import read_pdf

        read_pdf(data, builder)
    elif suffix == ".docx":
        from retrieval.loaders.word import read_docx

        read_docx(data, builder)
    else:
        text = decode_text(data)
        if suffix in HTML_SUFFIXES:
            from retrieval.loaders.html import read_html

            read_html(text, builder)
        elif suffix in MARKDOWN_SUFFIXES:
            from retrieval.loaders.markdown import read_markdown

            read_markdown(text, builder)
        elif suffix == ".csv":
            from retrieval.loaders.tables import read_csv

            read_csv(text, builder)
        else:
            from retrieval.loaders.plain import read_plain

            read_plain(text, builder)
    if not builder.text.strip():
        raise UnreadableFileError("it has no text")
    return builder.build(source, content_hash(data), fallback_title)
