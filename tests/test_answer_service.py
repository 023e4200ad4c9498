"""The answer service with the stub chat model on the seed corpus (real MiniLM, one ingest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai import seed_answerer, stub, with_stub
from langchain_core.messages import HumanMessage, SystemMessage

from bot.answering.answer import Answer
from bot.answering.conversation import Conversation, Turn, expand_follow_up, is_follow_up
from bot.answering.prompts import REFUSAL
from bot.answering.service import Answerer
from retrieval.loaders import load_document

__all__ = ["seed_answerer"]  # the session fixture, imported so pytest finds it

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NEWS = "000_a03238ee93841bab.txt"
DISPLACED_Q = "How many people did the Thai-Cambodian border dispute displace?"
RELEASED_Q = "How many detained Cambodian soldiers will Thailand release under the peace deal?"
pytestmark = pytest.mark.slow


def source_number(base: Answerer, question: str, fact: str) -> int:
    """The [n] the prompt gives the retrieved chunk that holds `fact`."""
    hits = base.searcher.search(question)
    numbers = [n for n, hit in enumerate(hits, start=1) if fact in hit.chunk.text]
    assert numbers, f"retrieval lost {fact!r} for {question!r}"
    return numbers[0]


def assert_quotes_are_verbatim(answer: Answer) -> None:
    for citation in answer.citations:
        # Offsets are into the stored text: the file as a person reads it.
        text = load_document(CORPUS / citation.source, citation.source).text
        assert text[citation.start : citation.end] == citation.quote


@pytest.fixture(scope="module")
def displaced_reply(seed_answerer: Answerer) -> str:
    n = source_number(seed_answerer, DISPLACED_Q, "300,000")
    return f"The dispute displaced an estimated 300,000 people [{n}]."


def test_valid_citation_survives(seed_answerer: Answerer, displaced_reply: str) -> None:
    model = stub(displaced_reply)
    answerer = with_stub(seed_answerer, model, "stub-model")

    answer = answerer.answer(DISPLACED_Q)

    assert answer.text == displaced_reply
    assert not answer.abstained
    assert (answer.backend, answer.model, answer.notice) == ("llm", "stub-model", None)
    [citation] = answer.citations
    assert citation.source == NEWS
    assert "300,000" in citation.quote
    assert_quotes_are_verbatim(answer)
    assert [h.chunk.chunk_id for h in answer.retrieved] == [
        h.chunk.chunk_id for h in seed_answerer.searcher.search(DISPLACED_Q)
    ]
    assert {"retrieve", "pack", "generate", "check", "total"} <= answer.timings_ms.keys()
    [sent] = model.received
    assert isinstance(sent[0], SystemMessage) and REFUSAL in sent[0].content
    assert isinstance(sent[1], HumanMessage) and DISPLACED_Q in sent[1].content


def test_invented_citation_is_removed(seed_answerer: Answerer, displaced_reply: str) -> None:
    answer = with_stub(seed_answerer, stub(displaced_reply.replace("].", "][9]."))).answer(
        DISPLACED_Q
    )

    assert "[9]" not in answer.text
    assert answer.text == displaced_reply
    assert all(c.n != 9 for c in answer.citations)


def test_uncited_answer_becomes_the_refusal(seed_answerer: Answerer) -> None:
    answer = with_stub(seed_answerer, stub("An estimated 300,000 people were displaced.")).answer(
        DISPLACED_Q
    )

    assert answer.abstained
    assert answer.text == REFUSAL
    assert answer.citations == []


def test_unsupported_sentence_is_dropped(seed_answerer: Answerer, displaced_reply: str) -> None:
    n = source_number(seed_answerer, DISPLACED_Q, "300,000")
    reply = f"{displaced_reply} Half a million more, 500,000 people, fled to Laos [{n}]."

    answer = with_stub(seed_answerer, stub(reply)).answer(DISPLACED_Q)

    assert answer.text == displaced_reply
    assert "500,000" not in answer.text and "Laos" not in answer.text


def test_model_refusal_is_an_abstention(seed_answerer: Answerer) -> None:
    answer = with_stub(seed_answerer, stub(REFUSAL)).answer("What did Hegseth say about Taiwan?")

    assert answer.abstained
    assert answer.text == REFUSAL
    assert answer.to_dict()["abstained"] is True
    assert answer.citations == []


def test_streaming_sends_checked_sentences_to_on_token(
    seed_answerer: Answerer, displaced_reply: str
) -> None:
    pieces: list[str] = []
    reply = f"{displaced_reply} This sentence cites nothing. An invented one [9]."

    answer = with_stub(seed_answerer, stub(reply)).answer(DISPLACED_Q, on_token=pieces.append)

    # Streamed sentence by sentence, and only what passed the checks: what the user watched
    # arrive is exactly the checked answer.
    assert pieces
    assert "".join(pieces).strip() == answer.text == displaced_reply


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), "did not answer in time"),
        (RuntimeError("socket closed"), "the model call failed (RuntimeError)"),
    ],
)
def test_llm_error_falls_back_to_the_extractive_answer(
    seed_answerer: Answerer, error: Exception, reason: str
) -> None:
    model = stub(error)

    answer = with_stub(seed_answerer, model).answer(DISPLACED_Q)

    assert len(model.received) == 1  # the LLM was tried
    assert (answer.backend, answer.model) == ("extractive", None)
    assert answer.notice is not None and "\n" not in answer.notice
    assert reason in answer.notice and "extractive" in answer.notice
    assert "300,000" in answer.text and not answer.abstained
    assert answer.citations and answer.citations[0].source == NEWS
    assert_quotes_are_verbatim(answer)


def test_nothing_retrieved_means_no_llm_call(seed_answerer: Answerer) -> None:
    model = stub("should never be sent")

    answer = with_stub(seed_answerer, model).answer("   ")

    assert answer.abstained and answer.text == REFUSAL
    assert model.received == []


# --- conversation ------------------------------------------------------------------------------


def test_follow_up_is_condensed_by_the_llm_with_the_history(seed_answerer: Answerer) -> None:
    conversation = Conversation()
    conversation.add(DISPLACED_Q, "An estimated 300,000 people [1].")
    follow_up = "and how many soldiers will be released?"
    n = source_number(seed_answerer, RELEASED_Q, "release 18")
    model = stub(
        f'"{RELEASED_Q}"\n', f"Thailand will release 18 detained Cambodian soldiers [{n}]."
    )

    answer = with_stub(seed_answerer, model).answer(follow_up, conversation)

    condense, generate = model.received
    [prompt] = condense
    assert isinstance(prompt, HumanMessage)
    assert f"User: {DISPLACED_Q}\nAssistant: An estimated 300,000 people [1]." in prompt.content
    assert f"Follow-up question: {follow_up}" in prompt.content
    assert f"Question: {RELEASED_Q}" in generate[1].content  # the answer uses the rewrite
    assert answer.question == follow_up
    assert answer.standalone_question == RELEASED_Q
    assert "18" in answer.text and not answer.abstained
    assert conversation.turns[-1] == Turn(RELEASED_Q, answer.text)


def test_failed_condense_answers_offline_without_a_second_llm_call(
    seed_answerer: Answerer,
) -> None:
    conversation = Conversation()
    conversation.add(DISPLACED_Q, "An estimated 300,000 people [1].")
    model = stub(TimeoutError(), "never reached")

    answer = with_stub(seed_answerer, model).answer("and since when?", conversation)

    assert len(model.received) == 1  # one timeout, not two: the worst-case wait is not doubled
    assert answer.backend == "extractive"
    assert answer.notice is not None and "did not answer in time" in answer.notice
    assert answer.standalone_question is not None
    assert "Thai-Cambodian" in answer.standalone_question  # expanded offline instead


def test_extractive_follow_up_is_expanded_with_the_previous_terms(
    seed_answerer: Answerer,
) -> None:
    conversation = Conversation()
    first = seed_answerer.answer(DISPLACED_Q, conversation)
    assert "300,000" in first.text

    answer = seed_answerer.answer("and since when?", conversation)

    assert answer.standalone_question is not None
    assert answer.standalone_question.startswith("and since when?")
    assert "displace" in answer.standalone_question
    assert "February" in answer.text
    assert len(conversation.turns) == 2


def test_reset_forgets_the_history(seed_answerer: Answerer, displaced_reply: str) -> None:
    conversation = Conversation()
    conversation.add(DISPLACED_Q, "An estimated 300,000 people [1].")
    conversation.reset()
    model = stub(displaced_reply)

    answer = with_stub(seed_answerer, model).answer(
        "and how many people were displaced?", conversation
    )

    assert len(model.received) == 1  # answered directly: nothing to condense after /reset
    assert answer.standalone_question is None
    assert conversation.turns == [Turn("and how many people were displaced?", answer.text)]


def test_history_is_bounded_by_tokens() -> None:
    conversation = Conversation(max_tokens=60)
    for i in range(20):
        conversation.add(f"Question number {i} about the border?", f"Answer {i} with words [1].")

    assert conversation.tokens() <= 60
    assert conversation.last_question == "Question number 19 about the border?"
    assert len(conversation.turns) < 20
    assert Conversation(max_tokens=0).tokens() == 0


def test_follow_up_detection_and_expansion() -> None:
    assert is_follow_up("and how many were released?")
    assert is_follow_up("What did they sign?")
    assert not is_follow_up(DISPLACED_Q)
    expanded = expand_follow_up(
        "and how many were released?", "Who signed the Kuala Lumpur accord?"
    )
    assert expanded.startswith("and how many were released? (")
    assert "Kuala" in expanded and "accord" in expanded


@pytest.mark.parametrize(
    ("follow_up", "previous", "kept", "dropped"),
    [
        ("And in Seoul?", "Who did the minister meet in Tokyo?", ["minister", "meet"], ["Tokyo"]),
        ("What about on March 4?", "Where was she on March 3?", [], ["March 3"]),
        # Another preposition adds to the question instead.
        ("And with Japan?", "What did they sign in Tokyo?", ["sign", "Tokyo"], []),
    ],
)
def test_a_name_after_the_same_preposition_replaces_the_previous_one(
    follow_up: str, previous: str, kept: list[str], dropped: list[str]
) -> None:
    expanded = expand_follow_up(follow_up, previous)
    assert expanded.startswith(follow_up)
    assert all(word in expanded for word in kept), expanded
    assert not any(word in expanded for word in dropped), expanded


def test_the_question_is_embedded_once_per_answer(
    seed_answerer: Answerer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search and the extractive answerer both need the question's vector: it is computed once."""
    embeddings = seed_answerer.index.embeddings
    embedded: list[str] = []
    real = embeddings.embed_documents

    def counting(texts: list[str]) -> list[list[float]]:
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(embeddings, "embed_documents", counting)
    question = "How many T-6 trainer aircraft are planned for Vietnam, all told?"
    answer = seed_answerer.answer(question)
    assert "12" in answer.text
    assert embedded.count(question) == 1
