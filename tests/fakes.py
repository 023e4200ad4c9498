"""Fakes that enter through the same seams as the real services."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from bot.answering.backends import Draft
from bot.answering.question import ParsedQuestion
from bot.errors import LLMError
from retrieval.documents import ScoredChunk
from retrieval.embeddings import NamedEmbeddings
from retrieval.text.terms import content_terms


class WordOverlapEmbeddings(NamedEmbeddings):
    """A deterministic embedding where texts sharing stemmed words are close: ranking is meaningful.

    Each content word (stemmed, stopwords dropped) is hashed into one of `dimensions` buckets; the
    bag of words is then normalised, so the cosine of two texts grows with their shared words.
    """

    def __init__(self, dimensions: int = 256, model_id: str = "fake:word-overlap-256") -> None:
        self.dimensions = dimensions
        self.model_id = model_id
        self.calls: list[list[str]] = []

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for term in content_terms(text):
            # md5, not hash(): the same word must land in the same bucket in every process.
            bucket = int.from_bytes(hashlib.md5(term.encode()).digest()[:4], "big")
            vector[bucket % self.dimensions] += 1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0:
            # A text without content words still needs a valid (non-zero) direction.
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages; every call is recorded in `calls`."""
        self.calls.append(list(texts))
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query (not recorded: only passage embedding costs count in ingest tests)."""
        return self._vector(text)

    def dimension(self) -> int:
        """The configured number of buckets."""
        return self.dimensions

    @property
    def texts_embedded(self) -> int:
        """How many passages were embedded so far."""
        return sum(len(batch) for batch in self.calls)


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A small valid PDF with one line of real (extractable) text per page, built by hand.

    pypdf can write pages but not text, so the objects and the cross-reference table are written
    here: catalog, page tree, a Helvetica font, then a page and a content stream per page.
    """
    count = len(pages)
    kids = " ".join(f"{4 + 2 * n} 0 R" for n in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
            f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * n} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    info = None
    if title is not None:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "")
    out += f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypted_pdf(pages: list[str]) -> bytes:
    """A text PDF encrypted with a user password, by pypdf."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf(pages))))
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# One file per way a corpus file can be unusable, with a word its skip reason must contain.
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty.txt": (b"", "empty"),
    "blank.md": (b"  \n\n\t ", "empty"),
    "binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
    "broken.pdf": (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "PDF"),
    "notes.docx": (b"PK\x03\x04 a word file", "Word"),
    "tool.exe": (b"MZ\x90\x00\x03\x00", "unsupported"),
}


def write_bad_files(folder: Path) -> dict[str, str]:
    """Write every kind of unusable file into `folder`: {source: word the skip reason holds}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, reason) in BAD_FILES.items():
        (folder / name).write_bytes(data)
        expected[name] = reason
    (folder / "locked.pdf").write_bytes(encrypted_pdf(["Top secret plans."]))
    expected["locked.pdf"] = "encrypted"
    # Tests run as root, where chmod 000 does not stop a read: a dangling link does.
    (folder / "gone.txt").symlink_to(folder / "no-such-target.txt")
    expected["gone.txt"] = "cannot read"
    return expected


@lru_cache(maxsize=1)
def shared_minilm() -> NamedEmbeddings:
    """The real offline MiniLM, loaded once per test session (loading costs seconds)."""
    from retrieval.config import PathSettings, RetrievalSettings
    from retrieval.embeddings import make_embeddings

    embeddings = make_embeddings(RetrievalSettings(), model_cache_dir=PathSettings().models_dir)
    embeddings.embed_query("load the model now")
    return embeddings


class ScriptedBackend:
    """A `Backend` that drafts scripted texts in order, recording each question it was given.

    A draft may name its sources by a fact they hold: "{fact}" in `[{…}]` is replaced by the
    number of the first retrieved chunk containing that fact, so scripts need not know ranks.
    """

    def __init__(self, *drafts: str, name: str = "scripted") -> None:
        self.drafts = list(drafts)
        self._name = name
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        """The name reported in `Answer.backend`."""
        return self._name

    @property
    def model_name(self) -> str | None:
        """No model."""
        return None

    @property
    def streams(self) -> bool:
        """Never streams."""
        return False

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: Callable[[str], None] | None = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """The next scripted text, with `[{fact}]` resolved to source numbers."""
        self.asked.append(question.text)
        text = self.drafts.pop(0)
        for fact in re.findall(r"\[\{(.+?)\}\]", text):
            number = next(n for n, h in enumerate(hits, start=1) if fact in h.chunk.text)
            text = text.replace(f"[{{{fact}}}]", f"[{number}]")
        return Draft(text, [h.chunk for h in hits], self.name)
