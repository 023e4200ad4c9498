"""The extractive answerer's sentence checks: names, speakers, offices, countries, and their use."""

from __future__ import annotations

import pytest

from bot.answering.extractive.answer_fit import (
    adds_answer,
    expected_answer_type,
    names,
    office_conflict,
    office_missing,
    speaker_conflict,
)
from bot.answering.extractive.answerer import ExtractiveAnswerer, country_terms, question_parts
from bot.answering.extractive.places import place_mentions, places, tokens
from bot.answering.prompts import REFUSAL
from retrieval.documents import Chunk
from retrieval.embeddings import NamedEmbeddings
from retrieval.text.terms import content_terms

QUOTED_HEGSETH = (
    "After meeting with his Chinese counterpart Adm. Dong Jun late November 1 on the sidelines "
    "of the summit, Hegseth said Sino-US ties have never been better."
)
THAI_PM = "Trump holds up a document with Thai Prime Minister Anutin Charnvirakul in Kuala Lumpur."


def test_a_name_after_an_abbreviation_is_a_name_but_a_sentence_opener_is_not() -> None:
    assert names("Vietnamese Defense Minister Gen. Van Giang said so.") == ["Van Giang"]
    assert names("Thailand agreed. Cambodia will withdraw.") == []


def test_a_who_question_needs_a_name_the_question_does_not_already_hold() -> None:
    question = "Who is the Vietnamese Defense Minister quoted in the article?"
    assert expected_answer_type(question) == "name"
    assert adds_answer(question, "Vietnamese Defense Minister Gen. Van Giang said so.", "name")
    assert not adds_answer(question, "the defense minister said the equipment helped.", "name")


@pytest.mark.parametrize(
    ("question", "sentence", "conflict"),
    [
        ("What did Dong Jun say after his meeting with Hegseth?", QUOTED_HEGSETH, True),
        ("What did Hegseth say after meeting Dong Jun?", QUOTED_HEGSETH, False),
        # The sentence does not name the speaker at all: nothing to contradict.
        ("What did Xi Jinping say about the summit?", QUOTED_HEGSETH, False),
        # No speech verb: the sentence quotes nobody.
        ("What did Dong Jun say?", "Hegseth met Dong Jun on November 1.", False),
        ("According to Dong Jun, how are ties?", QUOTED_HEGSETH, True),
        ("How are ties with China?", QUOTED_HEGSETH, False),
    ],
)
def test_speaker_conflict(question: str, sentence: str, conflict: bool) -> None:
    assert speaker_conflict(question, sentence) is conflict


@pytest.mark.parametrize(
    ("question", "sentence", "conflict"),
    [
        ("Who is the prime minister of Cambodia?", THAI_PM, True),
        ("Who is Cambodia's prime minister?", THAI_PM, True),
        ("Who is the Thai prime minister?", THAI_PM, False),
        ("Who is the prime minister of Thailand?", THAI_PM, False),
        (
            "Who is Malaysia's Minister of Defense?",
            "the Minister of Defense of Malaysia, Khaled",
            False,
        ),
        ("Who is Japan's defense minister?", "the Minister of Defense of Malaysia, Khaled", True),
        # The office is not tied to any country in the sentence: no conflict can be seen.
        (
            "Who is the prime minister of Cambodia?",
            "The prime minister spoke in Phnom Penh.",
            False,
        ),
        # Another office is not this office.
        ("Who is the prime minister of Cambodia?", "US Defense Secretary Pete Hegseth", False),
    ],
)
def test_office_conflict(question: str, sentence: str, conflict: bool) -> None:
    assert office_conflict(question, sentence) is conflict


def test_a_who_is_the_office_question_needs_the_office_named() -> None:
    question = "Who is South Korea's defense minister?"
    assert office_missing(
        question, "In Seoul, Hegseth said the alliance is focused on North Korea."
    )
    assert not office_missing(question, "South Korean Defense Minister Ahn Gyu-back met Hegseth.")
    assert not office_missing("Who met Hegseth in Seoul?", "Hegseth was in Seoul.")


def test_countries_by_name_adjective_and_capital() -> None:
    assert places("Phnom Penh") == places("the Cambodian army") == {"cambodia"}
    assert places("Sino-US ties") == {"china", "united states"}
    assert places("The U.S. Secretary") == {"united states"}
    # The pronoun is not the country; the longest name wins.
    assert places("help us") == set()
    assert [c for _, _, c in place_mentions(tokens("South Korea and North Korea"))] == [
        "south korea",
        "north korea",
    ]
    assert country_terms("What must Phnom Penh pull back?") == {
        "phnom": "cambodia",
        "penh": "cambodia",
    }


def chunk(text: str, n: int = 0, start: int = 0, title: str = "Border news") -> Chunk:
    return Chunk(f"c{n}", "news.txt", title, n, start, start + len(text), text)


def answerer(texts: list[str]) -> ExtractiveAnswerer:
    """An answerer whose statistics come from the given texts, without embeddings."""
    frequency: dict[str, int] = {}
    for text in texts:
        for term in set(content_terms(text)):
            frequency[term] = frequency.get(term, 0) + 1
    return ExtractiveAnswerer(
        embed=None, document_frequency=lambda t: frequency.get(t, 0), documents=len(texts)
    )


def test_a_capital_stands_for_its_country_in_question_coverage() -> None:
    text = "Cambodia will withdraw heavy weapons from the border."
    question = "What will Phnom Penh withdraw from the border?"
    bot = answerer([text, "Thailand will release soldiers.", "Talks in Kuala Lumpur."])
    terms = content_terms(question)
    [best] = bot.candidates(question, terms, [chunk(text)])
    assert {"phnom", "penh"} <= best.covered
    answer = bot.answer(question, [chunk(text)])
    assert not answer.abstained and "heavy weapons" in answer.text


def test_a_sentence_held_by_two_overlapping_chunks_is_one_candidate() -> None:
    text = "Cambodia will withdraw heavy weapons. Thailand will release 18 soldiers."
    first, second = chunk(text, 0), chunk(text[38:], 1, start=38)
    bot = answerer([text, "Talks in Kuala Lumpur."])
    question = "How many soldiers will Thailand release?"
    found = bot.candidates(question, content_terms(question), [first, second])
    assert [c.text for c in found] == ["Thailand will release 18 soldiers."]
    assert found[0].source_number == 1  # cited as the higher-ranked source


def test_the_prime_minister_of_another_country_is_refused() -> None:
    bot = answerer([THAI_PM, "Cambodia will withdraw heavy weapons."])
    assert bot.answer("Who is the prime minister of Cambodia?", [chunk(THAI_PM)]).text == REFUSAL
    answer = bot.answer("Who is the Thai prime minister?", [chunk(THAI_PM)])
    assert "Anutin Charnvirakul" in answer.text


def test_a_compound_question_is_split_where_it_asks_a_second_thing() -> None:
    assert question_parts("How do they describe the sea, and how much of it does China claim?") == [
        "How do they describe the sea",
        "how much of it does China claim?",
    ]
    assert question_parts("What did the US and Malaysia sign?") == [
        "What did the US and Malaysia sign?"
    ]


def test_each_part_of_a_compound_question_is_answered() -> None:
    corridor = "The ministers describe the South China Sea as a vital maritime corridor."
    claim = "The ministers describe how China claims 80% of the South China Sea."
    other = "Thailand will release 18 soldiers."
    bot = answerer([corridor, claim, other])
    question = (
        "How do the ministers describe the South China Sea, and how much of it does China claim?"
    )
    answer = bot.answer(question, [chunk(corridor, 0), chunk(claim, 1, start=200)])
    assert "vital maritime corridor" in answer.text and "80%" in answer.text
    # Only one part found: that part is answered; neither found: the refusal.
    half = bot.answer(question, [chunk(corridor, 0)])
    assert not half.abstained and "80%" not in half.text
    none = bot.answer("How many tanks, and who sold them?", [chunk(other, 2)])
    assert none.text == REFUSAL


class CountingEmbeddings(NamedEmbeddings):
    """Two-dimensional vectors; every text it is asked to embed is recorded."""

    model_id = "fake:counting"

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return [[float(len(t)), 1.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.remembered(text, lambda t: self.embed_documents([t])[0])


def test_recent_queries_are_remembered_and_old_ones_forgotten() -> None:
    model = CountingEmbeddings()
    assert model.embed_query("q") == model.embed_query("q") == [1.0, 1.0]
    assert model.embedded == ["q"]
    for n in range(NamedEmbeddings._RECENT_QUERIES):
        model.embed_query(f"other {n}")
    model.embed_query("q")
    assert model.embedded.count("q") == 2  # pushed out by 64 newer queries, so embedded again
    model.forget_queries()
    model.embed_query("q")
    assert model.embedded.count("q") == 3


def test_the_best_sentence_comes_first_even_when_the_document_has_it_later() -> None:
    teams = "Under the deal, Cambodia and Thailand agreed to set up observer teams."
    weapons = "Under the deal, Cambodia will withdraw its heavy weapons from the border."
    text = f"{teams} {weapons}"
    bot = answerer([text, "Talks in Kuala Lumpur.", "Trade deals were signed."])
    answer = bot.answer("What must Phnom Penh withdraw under the deal?", [chunk(text)])
    assert answer.text.startswith(weapons)
    assert teams in answer.text  # quoted too, but after the sentence that answers
