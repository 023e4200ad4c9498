"""Factories that turn the settings into working objects, at the edges, never at import."""

from __future__ import annotations

import sys
from typing import Any

from bot.settings import Settings
from retrieval.embeddings import NamedEmbeddings, make_embeddings
from retrieval.index import CorpusIndex
from retrieval.ingest import Progress, ProgressFactory


class TqdmProgress(Progress):
    """A tqdm bar on stderr."""

    def __init__(self, total: int, label: str) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(total=total, desc=label, unit="chunk", file=sys.stderr, leave=False)

    def update(self, n: int) -> None:
        """Advance the bar."""
        self._bar.update(n)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()


def progress_bars(enabled: bool) -> ProgressFactory | None:
    """A progress factory that draws tqdm bars, or None when bars are off."""
    return TqdmProgress if enabled else None


def embeddings_for(settings: Settings) -> NamedEmbeddings:
    """The configured embedding model (the LLM key and URL serve OpenAI embeddings too)."""
    key = settings.llm.openai_api_key
    return make_embeddings(
        settings.retrieval,
        api_key=key.get_secret_value() if key else None,
        base_url=settings.llm.openai_base_url or None,
    )


def open_index(settings: Settings, *, rebuild: bool = False) -> CorpusIndex:
    """Open the corpus index the settings describe."""
    return CorpusIndex.open(
        settings.paths, settings.retrieval, embeddings_for(settings), rebuild=rebuild
    )
