"""The answer service's result: one `Answer` object that every door formats and delivers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.documents import ScoredChunk


def short_quote(text: str, limit: int = 160) -> str:
    """A quote on one line, cut at a word and marked with an ellipsis when longer than `limit`."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"


@dataclass(frozen=True)
class Citation:
    """One `[n]` in the answer, resolved to the exact text it points at in its source."""

    n: int
    source: str
    title: str
    page: int | None
    chunk_id: str
    quote: str  # verbatim document text: document.text[start:end]
    start: int
    end: int
    section: str = ""  # the heading the quote starts under, if any


@dataclass(frozen=True)
class Suggestion:
    """A document close to an unanswered question: a place the user could look."""

    title: str
    source: str
    page: int | None = None
    section: str = ""  # the heading its closest passage sits under, if any


@dataclass
class Answer:
    """What the bot says to one question, with everything needed to show and check it."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation]
    retrieved: list[ScoredChunk]
    backend: str  # "extractive" or "llm"
    model: str | None
    notice: str | None = None  # one-line notice, e.g. the LLM failed and this is the fallback
    standalone_question: str | None = None  # the follow-up rewritten with its history, if any
    usage: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Under a refusal: the closest passages' documents, as places to look.
    suggestions: list[Suggestion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The `citebot ask --json` object; outside scripts rely on these names."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [asdict(c) for c in self.citations],
            "retrieved": [
                {
                    "source": hit.chunk.source,
                    "title": hit.chunk.title,
                    "chunk_id": hit.chunk.chunk_id,
                    "score": round(hit.score, 6),
                    "found_by": hit.found_by,
                }
                for hit in self.retrieved
            ],
            "backend": self.backend,
            "model": self.model,
            "notice": self.notice,
            "standalone_question": self.standalone_question,
            "usage": self.usage,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "suggestions": [asdict(s) for s in self.suggestions],
        }
