"""Questions parsed once: names, codes, parts and the expected answer type."""

from __future__ import annotations

import pytest

from bot.answering.question import identifiers, names, parse_question


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The award went to Angela Müller in the spring.", ["Angela Müller"]),
        ("She beat Conor McGregor twice.", ["Conor McGregor"]),
        ("It was signed by Ahn Gyu-back and NATO.", ["Ahn Gyu-back", "NATO"]),
        ("Rain fell. Crops grew.", []),
        ("Angela Müller won.", ["Angela Müller"]),
        ("What did Zoë Ørsted say?", ["Zoë Ørsted"]),
        ("Add fish hooks by @joshfrench in #452.", ["@joshfrench"]),
        ("Mail bot@example.org or @native-api.", ["@native-api"]),
    ],
)
def test_names_are_whole_in_any_script(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_codes_mix_letters_and_digits() -> None:
    assert identifiers("What is the code of station Q999X, an A320 or an F-35 from 1999?") == [
        "Q999X",
        "A320",
        "F-35",
    ]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the population of Lagos?", "number"),
        ("What share of the lake does the town claim?", "number"),
        ("What percentage of voters turned out?", "number"),
        ("How many bridges were built?", "number"),
        # The measure may have words before it: "which <kind of> number" asks for a number too.
        ("Which bridge inspection number does the report give?", "number"),
        ("What phone number does the desk answer?", "number"),
        ("Which of the numbers is prime?", None),
        ("When did the bridge open?", "time"),
        ("In what year did the bridge open?", "time"),
        ("Who opened the bridge?", "name"),
        ("Why did the bridge close?", None),
        # A later interrogative opens a clause inside the question: it asks nothing of the answer.
        ("Which setting logs how long each request took?", None),
        ("What does the pump do when the tank is full?", None),
        ("Which team won when it rained?", None),
        ("After the flood, how many bridges were rebuilt when the money came?", "number"),
    ],
)
def test_the_answer_type_comes_from_the_question_form(question: str, kind: str | None) -> None:
    assert parse_question(question).answer_type == kind


def test_a_compound_question_is_split_where_it_asks_a_second_thing() -> None:
    assert parse_question(
        "How do they describe the lake, and how much of it does the town claim?"
    ).parts == ["How do they describe the lake", "how much of it does the town claim?"]
    assert parse_question("What did Smith say about Freedonia and the harbour?").parts == [
        "What did Smith say about Freedonia?",
        "What did Smith say about the harbour?",
    ]
    for whole in (
        "What did the town and the city sign?",
        "How are relations between Freedonia and Sylvania?",
    ):
        assert parse_question(whole).parts == [whole]


def test_a_part_with_a_pronoun_borrows_the_whole_questions_terms() -> None:
    question = parse_question(
        "How do they describe the lake, and how much of it does the town claim?"
    )
    assert "lake" in question.part_terms(question.parts[1])
