"""Every backend drafts through one Protocol, and every draft goes through the citation checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import SETTING_NAMES
from fake_openai import stub
from fakes import ScriptedBackend, WordOverlapEmbeddings

import bot.wiring
from bot.answering.backends import Backend, Draft, Fallback, LLMAnswerBackend
from bot.answering.citations import check_citations
from bot.answering.llm import LLMBackend
from bot.answering.prompts import REFUSAL
from bot.answering.question import ParsedQuestion
from bot.answering.service import Answerer
from bot.doors.repl import format_answer
from bot.doors.telegram.format import format_answer as telegram_answer
from bot.errors import LLMError
from bot.settings import load_settings
from bot.wiring import build_answerer
from retrieval.documents import Chunk, ScoredChunk

HARBOUR = {
    "bridges.md": "# Bridges\n\nThe council will build 18 new bridges over the river by 2030.\n",
    "ferries.md": "# Ferries\n\nThe ferry company runs 40 boats between the two harbours.\n",
    "market.md": "# Market\n\nThe fish market opens at 5 am every weekday.\n",
}
QUESTION = "How many new bridges will the council build?"


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs: dict[str, str]) -> Answerer:
    """The answer service over `docs` with the word-overlap fake embedding, extractive backend."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for name, text in docs.items():
        (corpus / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("CITEBOT_BACKEND", "extractive")
    monkeypatch.setattr(bot.wiring, "embeddings_for", lambda settings: WordOverlapEmbeddings())
    return build_answerer(load_settings(env_file=None))


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Answerer]:
    """One answer service over HARBOUR for the whole module (tests only read it)."""
    root = tmp_path_factory.mktemp("harbour")
    with pytest.MonkeyPatch.context() as patch:
        for name in SETTING_NAMES:
            patch.delenv(name, raising=False)
        patch.setenv("CITEBOT_MODEL_CACHE_DIR", str(model_cache))
        patch.setenv("CITEBOT_DATA_DIR", str(root / "data"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield build(root, patch, HARBOUR)


def with_backend(base: Answerer, backend: Backend) -> Answerer:
    return Answerer(
        index=base.index,
        searcher=base.searcher,
        backend=backend,
        condenser=None,
        prompts=base.prompts,
        settings=base.settings,
    )


def llm_backend(base: Answerer, *replies: object) -> LLMAnswerBackend:
    llm = LLMBackend(model=stub(*replies), model_name="stub")
    return LLMAnswerBackend(llm=llm, prompts=base.prompts, settings=base.settings)


class Wrapper:
    """Wraps a backend: `begin` runs before each draft, `change` edits the draft it returns."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.model_name, self.streams = inner.name, inner.model_name, inner.streams

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: object = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        self.begin()
        return self.change(self.inner.draft(question, hits, failed=failed, deadline=deadline))

    def begin(self) -> None:
        """Nothing, unless a subclass says otherwise."""

    def change(self, draft: Draft) -> Draft:
        """The draft unchanged, unless a subclass says otherwise."""
        return draft


class Tampered(Wrapper):
    """Adds a fragment and an unsupported claim to every draft the wrapped backend writes."""

    def change(self, draft: Draft) -> Draft:
        draft.text += " or [1]. Unicorns dance on the frozen moon tonight [1]."
        return draft


def backends(base: Answerer) -> dict[str, Backend]:
    """One of every kind of backend, each able to answer QUESTION from HARBOUR."""
    extractive = base.backend
    reply = "The council will build 18 new bridges over the river [1]."
    return {
        "extractive": extractive,
        "llm": llm_backend(base, reply),
        "fallback after an LLM failure": Fallback(llm_backend(base, TimeoutError()), extractive),
        "scripted fake": ScriptedBackend(
            "The council will build 18 new bridges over the river by 2030 [{18 new}]."
        ),
    }


@pytest.mark.parametrize(
    "kind", ["extractive", "llm", "fallback after an LLM failure", "scripted fake"]
)
def test_every_backend_drafts_and_its_draft_is_checked(harbour: Answerer, kind: str) -> None:
    backend = backends(harbour)[kind]
    answer = with_backend(harbour, Tampered(backend)).answer(QUESTION)

    assert not answer.abstained
    assert "18 new bridges" in answer.text
    # What the checks remove never reaches the user, whichever backend wrote it.
    assert "Unicorns" not in answer.text and " or [1]" not in answer.text
    assert [c.n for c in answer.citations] == [1]
    assert answer.citations[0].source == "bridges.md"
    assert answer.text.endswith("[1].")
    if kind.startswith("fallback"):
        assert answer.backend == "extractive" and answer.notice and "in time" in answer.notice


class WaitsForTheFallback:
    """A primary whose model fails only once the fallback's draft has begun on its own."""

    name, model_name, streams = "waits", "stub", False

    def __init__(self, started: threading.Event) -> None:
        self.started = started

    def draft(
        self,
        question: ParsedQuestion,
        hits: Sequence[ScoredChunk],
        *,
        on_token: object = None,
        failed: LLMError | None = None,
        deadline: float | None = None,
    ) -> Draft:
        if not self.started.wait(timeout=10):
            raise AssertionError("the fallback's draft was not started beside the primary's")
        raise LLMError("the model ran out of time")


class Signals(Wrapper):
    """Sets an event when a draft of the wrapped backend begins."""

    def __init__(self, inner: Backend, started: threading.Event) -> None:
        super().__init__(inner)
        self.started = started

    def begin(self) -> None:
        self.started.set()


def test_the_fallback_is_drafted_while_the_model_runs(harbour: Answerer) -> None:
    """A model that uses up the deadline leaves the fallback nothing left to do."""
    started = threading.Event()
    backend = Fallback(WaitsForTheFallback(started), Signals(harbour.backend, started))
    answer = with_backend(harbour, backend).answer(QUESTION)

    assert answer.backend == "extractive" and answer.notice
    assert "18 new bridges" in answer.text


def test_a_fragment_with_nothing_to_check_is_not_an_answer(harbour: Answerer) -> None:
    answer = with_backend(harbour, ScriptedBackend("or [1].")).answer(QUESTION)
    assert answer.abstained and answer.text == REFUSAL and not answer.citations


def chunk(source: str, start: int, text: str) -> Chunk:
    return Chunk(f"{source}:{start}", source, source.title(), 0, start, start + len(text), text)


def test_sources_are_numbered_as_shown_and_a_document_is_listed_once() -> None:
    first = chunk("a.txt", 0, "The dam holds 40 million litres. ")
    other = chunk("b.txt", 0, "The canal is 12 km long.")
    second = chunk("a.txt", 33, "The dam was finished in 1961.")
    text = (
        "The canal is 12 km long [2]. The dam holds 40 million litres [1]. "
        "The dam was finished in 1961 [3]."
    )
    checked = check_citations(text, [first, other, second])

    assert checked.text == (
        "The canal is 12 km long [1]. The dam holds 40 million litres [2]. "
        "The dam was finished in 1961 [2]."
    )
    assert [(c.n, c.source) for c in checked.citations] == [(1, "b.txt"), (2, "a.txt")]
    # One quote spans both sentences of a.txt, stitched from its two touching chunks.
    assert (
        checked.citations[1].quote
        == "The dam holds 40 million litres. The dam was finished in 1961."
    )
    assert (checked.citations[1].start, checked.citations[1].end) == (0, 62)


def test_a_dropped_sentence_leaves_no_gap_in_the_numbers() -> None:
    sources = [chunk("a.txt", 0, "The dam holds water."), chunk("b.txt", 0, "The canal is long.")]
    checked = check_citations("Unicorns dance tonight [1]. The canal is long [2].", sources)
    assert checked.text == "The canal is long [1]."
    assert [c.n for c in checked.citations] == [1]


def test_a_compound_question_says_which_part_the_documents_do_not_cover(
    harbour: Answerer,
) -> None:
    answer = harbour.answer("When does the fish market open, and how many airports are planned?")

    assert not answer.abstained
    assert "opens at 5 am" in answer.text
    assert "do not cover" in answer.text and "airports are planned" in answer.text
    assert [c.source for c in answer.citations] == ["market.md"]


def test_a_refusal_lists_the_closest_passages_as_places_to_look(harbour: Answerer) -> None:
    answer = harbour.answer("Which bridge collapsed in the storm of the century?")

    assert answer.abstained and answer.text == REFUSAL
    assert answer.suggestions and answer.suggestions[0].source == "bridges.md"
    assert len({s.source for s in answer.suggestions}) == len(answer.suggestions)
    shown = format_answer(answer)
    assert shown.startswith(REFUSAL) and "places to look" in shown and "(bridges.md)" in shown
    [message] = telegram_answer(answer)
    assert message.startswith(REFUSAL) and "bridges.md" in message
    assert answer.to_dict()["suggestions"][0]["source"] == "bridges.md"


def test_an_answer_lists_no_suggestions(harbour: Answerer) -> None:
    answer = harbour.answer(QUESTION)
    assert not answer.abstained and answer.suggestions == []


def test_a_code_no_document_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stations = {
        f"station-{n:03d}.txt": (
            f"Weather station Q{n:03d}X stands on hill {n}. "
            f"The beacon code for station Q{n:03d}X is {1000 + n}."
        )
        for n in range(1, 301)
    }
    answerer = build(tmp_path, monkeypatch, stations)

    missing = answerer.answer("What is the beacon code for station Q999X?")
    assert missing.abstained and missing.text == REFUSAL and not missing.citations
    assert missing.suggestions  # still: places to look

    present = answerer.answer("What is the beacon code for station Q007X?")
    assert not present.abstained and "1007" in present.text
    assert [c.source for c in present.citations] == ["station-007.txt"]
