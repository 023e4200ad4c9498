"""Factories that turn the settings into working objects, at the edges, never at import."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from bot.answering.backends import Backend, Fallback, LLMAnswerBackend
from bot.answering.extractive.answerer import ExtractiveAnswerer
from bot.answering.extractive.scorer import load_sentence_scorer
from bot.answering.llm import LLMBackend, make_chat_model
from bot.answering.prompts import PromptSet, load_prompts
from bot.answering.service import Answerer
from bot.errors import ConfigError
from bot.settings import Settings
from retrieval.embeddings import NamedEmbeddings, make_embeddings
from retrieval.index import CorpusIndex
from retrieval.ingest import Progress, ProgressFactory

log = logging.getLogger(__name__)


class TqdmProgress(Progress):
    """A tqdm bar on stderr, counting the corpus bytes ingested (so its ETA covers the ingest)."""

    def __init__(self, total: int, label: str) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(
            total=total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            leave=False,
        )

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
        model_cache_dir=settings.paths.models_dir,
    )


def open_index(settings: Settings, *, rebuild: bool = False) -> CorpusIndex:
    """Open the corpus index the settings describe."""
    return CorpusIndex.open(
        settings.paths, settings.retrieval, embeddings_for(settings), rebuild=rebuild
    )


def corpus_folder(settings: Settings, index: CorpusIndex) -> Path:
    """The folder to answer from: CITEBOT_CORPUS_DIR when set, else the one this index was
    last ingested from (so `citebot ingest PATH` then `citebot ask` just works), else corpus/."""
    if "corpus_dir" in settings.paths.model_fields_set:
        return settings.paths.corpus_dir
    recorded = index.store.metadata.get("corpus_root")
    if recorded and Path(str(recorded)).is_dir():
        return Path(str(recorded))
    return settings.paths.corpus_dir


def build_answerer(
    settings: Settings,
    *,
    chat_model: BaseChatModel | None = None,
    ingest: bool = True,
    progress: bool = False,
    warn: Callable[[str], None] = log.warning,
    corpus: Path | None = None,
) -> Answerer:
    """The answer service the settings describe; ingests the corpus incrementally first.

    `chat_model` injects a LangChain chat model (tests pass a fake); otherwise the backend is
    chosen from the settings: an LLM when a key or base URL is configured, else extractive.
    `corpus` is the folder to answer from (default: `corpus_folder`). A process reading a Chroma
    server without that folder answers from what the server holds, without ingesting. `warn`
    receives the lines a user should see (an ingest that did not finish).
    """
    prompts = load_prompts()  # fails at start-up if a template does not fit the code
    index = open_index(settings)
    root = corpus or corpus_folder(settings, index)
    reader_only = bool(settings.retrieval.chroma_host) and not root.is_dir()
    unfinished = index.unfinished_ingest()
    if unfinished:
        warn(unfinished_ingest_message(unfinished, repairing=ingest and not reader_only))
    if ingest and not reader_only:
        report = index.ingest(root, progress=progress_bars(progress))
        for skipped in report.skipped:
            log.warning("skipped %s: %s", skipped.source, skipped.reason)
    searcher = index.searcher()
    # Load the embedding model now, so the first question is not the slow one.
    index.embeddings.embed_query("warm-up")
    extractive = ExtractiveAnswerer(
        embed=index.embeddings.embed_documents,
        embed_query=index.embeddings.embed_query,
        # Through the searcher, so the statistics follow a re-ingest by another process.
        document_frequency=lambda term: searcher.lexical.document_frequency(term),
        documents=len(searcher.lexical.chunks),
        scorer=load_sentence_scorer(),
    )
    llm = make_llm_backend(settings, chat_model)
    return Answerer(
        index=index,
        searcher=searcher,
        backend=compose_backend(llm, extractive, prompts, settings),
        condenser=llm,
        prompts=prompts,
        settings=settings.llm,
    )


def compose_backend(
    llm: LLMBackend | None, extractive: Backend, prompts: PromptSet, settings: Settings
) -> Backend:
    """The LLM backend falling back to the extractive one, or the extractive one alone."""
    if llm is None:
        return extractive
    return Fallback(LLMAnswerBackend(llm=llm, prompts=prompts, settings=settings.llm), extractive)


def unfinished_ingest_message(started: str, *, repairing: bool = False) -> str:
    """What a user is told when the last ingest did not finish (killed or crashed)."""
    fix = (
        "ingesting again now to repair it."
        if repairing
        else "run `citebot ingest` again to repair it."
    )
    return (
        f"The last ingest (started {started}) did not finish, so the index may be missing "
        f"documents: {fix}"
    )


def make_llm_backend(settings: Settings, chat_model: BaseChatModel | None) -> LLMBackend | None:
    """The LLM backend, or None when the extractive backend should answer."""
    backend = settings.llm.backend.lower()
    if backend not in ("auto", "llm", "openai", "extractive", "offline"):
        raise ConfigError(
            f"Unknown CITEBOT_BACKEND '{backend}': use 'auto', 'llm' or 'extractive'."
        )
    if chat_model is None:
        if backend in ("extractive", "offline") or (
            backend == "auto" and not settings.llm.configured
        ):
            return None
        chat_model = make_chat_model(settings.llm)
    return LLMBackend(
        model=chat_model,
        model_name=settings.llm.chat_model,
        max_retries=settings.llm.max_retries,
        timeout_s=settings.llm.timeout_s,
        deadline_s=settings.llm.deadline_s,
    )
