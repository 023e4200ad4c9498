"""The extractive answerer's sentence checks and their use, on small made-up texts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.answering.citations import check_citations
from bot.answering.extractive.answer_fit import (
    adds_answer,
    office_conflict,
    office_missing,
    speaker_conflict,
)
from bot.answering.extractive.answerer import ExtractiveAnswerer, is_field, is_run_in_heading
from bot.answering.question import parse_question
from retrieval.chunking import chunk_document
from retrieval.documents import Chunk, ScoredChunk
from retrieval.embeddings import NamedEmbeddings
from retrieval.loaders import load_document
from retrieval.text.terms import content_terms, initialisms
from retrieval.tokens import get_encoding

QUOTED_SMITH = (
    "After meeting his counterpart Adm. Lena Okafor late on March 3 at the talks, "
    "Smith said the ties have never been better."
)
FREEDONIAN_PM = "Smith holds up a treaty with Freedonian Prime Minister Rufus Firefly in Sylvania."


def test_a_who_question_needs_a_name_the_question_does_not_already_hold() -> None:
    question = "Who is the Freedonian prime minister?"
    assert parse_question(question).answer_type == "name"
    assert adds_answer(question, FREEDONIAN_PM, "name")
    assert not adds_answer(question, "the prime minister said the treaty helped.", "name")


@pytest.mark.parametrize(
    ("question", "sentence", "conflict"),
    [
        ("What did Lena Okafor say after meeting Smith?", QUOTED_SMITH, True),
        ("What did Smith say after meeting Lena Okafor?", QUOTED_SMITH, False),
        # The sentence does not name the speaker at all: nothing to contradict.
        ("What did Maria Jones say about the talks?", QUOTED_SMITH, False),
        # No speech verb: the sentence quotes nobody.
        ("What did Lena Okafor say?", "Smith met Lena Okafor on March 3.", False),
        ("According to Lena Okafor, how are ties?", QUOTED_SMITH, True),
        ("How are the ties?", QUOTED_SMITH, False),
    ],
)
def test_speaker_conflict(question: str, sentence: str, conflict: bool) -> None:
    assert speaker_conflict(question, sentence) is conflict


@pytest.mark.parametrize(
    ("question", "sentence", "conflict"),
    [
        ("Who is the prime minister of Sylvania?", FREEDONIAN_PM, True),
        ("Who is Sylvania's prime minister?", FREEDONIAN_PM, True),
        ("Who is the Freedonian prime minister?", FREEDONIAN_PM, False),
        ("Who is the prime minister of Freedonia?", FREEDONIAN_PM, False),
        (
            "Who is Ruritania's Minister of Trade?",
            "the Minister of Trade of Ruritania, Rudolf",
            False,
        ),
        ("Who is Sylvania's trade minister?", "the Minister of Trade of Ruritania, Rudolf", True),
        # The office is not tied to any name in the sentence: no conflict can be seen.
        ("Who is the prime minister of Sylvania?", "The prime minister spoke at the port.", False),
        # Another office is not this office.
        ("Who is the prime minister of Sylvania?", "Freedonian Trade Secretary Ann Lee", False),
    ],
)
def test_office_conflict(question: str, sentence: str, conflict: bool) -> None:
    assert office_conflict(question, sentence) is conflict


def test_a_who_is_the_office_question_needs_the_office_named() -> None:
    question = "Who is Ruritania's defense minister?"
    assert office_missing(question, "In Strelsau, Smith said the alliance is strong.")
    assert not office_missing(question, "Ruritanian Defense Minister Ahn Gyu-back met Smith.")
    assert not office_missing("Who met Smith in Strelsau?", "Smith was in Strelsau.")


def chunk(text: str, n: int = 0, start: int = 0, title: str = "Harbour news") -> Chunk:
    return Chunk(f"c{n}", "news.txt", title, n, start, start + len(text), text)


def hits(*chunks: Chunk) -> list[ScoredChunk]:
    return [ScoredChunk(c, 1.0 / (i + 1)) for i, c in enumerate(chunks)]


def answerer(texts: list[str]) -> ExtractiveAnswerer:
    """An answerer whose statistics come from the given texts, without embeddings."""
    frequency: dict[str, int] = {}
    for text in texts:
        for term in set(content_terms(text)):
            frequency[term] = frequency.get(term, 0) + 1
    return ExtractiveAnswerer(
        embed=None, document_frequency=lambda t: frequency.get(t, 0), documents=len(texts)
    )


def test_a_sentence_held_by_two_overlapping_chunks_is_one_candidate() -> None:
    text = "The port will close two docks. The city will build 18 bridges."
    first, second = chunk(text, 0), chunk(text[31:], 1, start=31)
    bot = answerer([text, "Talks at the harbour."])
    question = "How many bridges will the city build?"
    found = bot.candidates(question, content_terms(question), [first, second])
    assert [c.text for c in found] == ["The city will build 18 bridges."]
    assert found[0].source_number == 1  # cited as the higher-ranked source


def test_the_prime_minister_of_another_country_is_not_the_answer() -> None:
    bot = answerer([FREEDONIAN_PM, "The port will close two docks."])
    wrong = bot.draft(
        parse_question("Who is the prime minister of Sylvania?"), hits(chunk(FREEDONIAN_PM))
    )
    assert wrong.text == ""
    right = bot.draft(
        parse_question("Who is the Freedonian prime minister?"), hits(chunk(FREEDONIAN_PM))
    )
    assert "Rufus Firefly" in right.text


def test_each_part_of_a_compound_question_is_answered() -> None:
    corridor = "The ministers describe the Inner Sea as a vital shipping lane."
    claim = "The ministers describe how Freedonia claims 80% of the Inner Sea."
    other = "The city will build 18 bridges."
    bot = answerer([corridor, claim, other])
    question = parse_question(
        "How do the ministers describe the Inner Sea, and how much of it does Freedonia claim?"
    )
    both = bot.draft(question, hits(chunk(corridor, 0), chunk(claim, 1, start=200)))
    assert "vital shipping lane" in both.text and "80%" in both.text
    # Only one part found: that part is answered; neither found: nothing.
    half = bot.draft(question, hits(chunk(corridor, 0)))
    assert half.text and "80%" not in half.text
    none = bot.draft(parse_question("How many tanks, and who sold them?"), hits(chunk(other, 2)))
    assert none.text == ""


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
    teams = "Under the deal, the two towns agreed to set up joint patrols."
    boats = "Under the deal, the northern town will withdraw its patrol boats from the lake."
    text = f"{teams} {boats}"
    bot = answerer([text, "Talks at the harbour.", "Trade deals were signed."])
    draft = bot.draft(
        parse_question("What must the northern town withdraw under the deal?"), hits(chunk(text))
    )
    assert draft.text.startswith(boats)


def test_a_sentence_that_names_its_subject_only_in_its_heading_answers() -> None:
    text = "It listens on port 8437 by default."
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    question = parse_question("Which port does the sync daemon listen on by default?")
    headed = Chunk("c0", "config.md", "Options", 0, 0, len(text), text, section="Sync daemon")
    assert "8437" in bot.draft(question, hits(headed)).text
    # The same text under a heading that does not name it: nothing says what listens there.
    unnamed = Chunk("c1", "config.md", "Options", 0, 0, len(text), text, section="Other options")
    assert bot.draft(question, hits(unnamed)).text == ""


def test_a_camel_case_name_in_the_question_finds_the_same_words_written_apart() -> None:
    """ "maxAge" in a question is the "max-age" of the text, as "max_age" would be."""
    kebab = "Provide a max-age in seconds for the cache, defaults to 60."
    other = "Provide a timeout in seconds for the cache, defaults to 30."
    text = f"{other} {kebab}"
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    draft = bot.draft(parse_question("What does maxAge default to?"), hits(chunk(text)))
    assert draft.text.startswith(kebab.rstrip("."))


def test_a_field_answers_for_the_heading_it_sits_under_and_its_neighbours_do_not() -> None:
    text = (
        "Type: number\nDefault: 8437\nThe daemon syncs every folder.\n"
        "Type: string\nDefault: info\nSets how much the daemon logs."
    )
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    port_at, level_at = text.index("Type: number"), text.index("Type: string")
    fields = Chunk(
        "c0",
        "config.md",
        "Options",
        0,
        0,
        len(text),
        text,
        section="Options",
        sections=((port_at, "sync.port"), (level_at, "log.level")),
    )
    draft = bot.draft(parse_question("What is the default port for sync?"), hits(fields))
    assert draft.text == "Default: 8437. [1]"
    draft = bot.draft(parse_question("What is the default log level?"), hits(fields))
    assert draft.text == "Default: info. [1]"


def test_a_sentence_opening_with_a_demonstrative_is_quoted_with_the_one_it_points_back_to() -> None:
    text = "The relay station on the ridge opened in 1998. This one serves 40 villages. Roads are poor."
    bot = answerer([text, "The ferry runs twice a week.", "Mail comes by boat."])
    question = parse_question("How many villages does the relay station serve?")
    draft = bot.draft(question, hits(chunk(text)))
    # Each sentence carries its citation, so the check keeps both.
    assert draft.text == (
        "The relay station on the ridge opened in 1998. [1] This one serves 40 villages. [1]"
    )
    checked = check_citations(draft.text, draft.sources)
    assert checked.text == (
        "The relay station on the ridge opened in 1998 [1]. This one serves 40 villages [1]."
    )


def test_a_demonstrative_after_a_heading_does_not_reach_past_it() -> None:
    text = "The relay station on the ridge opened in 1998.\nCoverage\nThis one serves 40 villages."
    heading = text.index("Coverage")
    served = text.index("This one")
    answers = ((0, heading - 1), (served, len(text)))  # the heading is not an answer sentence
    headed = Chunk("c0", "news.txt", "Harbour news", 0, 0, len(text), text, answers=answers)
    bot = answerer([text, "The ferry runs twice a week.", "Mail comes by boat."])
    candidates = bot.candidates("How many villages does it serve?", ["villag", "serv"], [headed])
    assert [c.text for c in candidates] == ["This one serves 40 villages."]


def test_a_table_rows_later_sentence_is_quoted_with_the_cell_that_names_its_subject() -> None:
    rows = [
        "Name: flush_all() · Returns: nothing. Use: tools that must empty every cache at once.",
        "Name: flush_one(key) · Returns: the old value. Use: tools that clear a single entry.",
    ]
    text = "\n".join(rows)
    second = len(rows[0]) + 1
    table = Chunk(
        "c0",
        "api.html",
        "Cache API",
        0,
        0,
        len(text),
        text,
        rows=((0, len(rows[0])), (second, len(text))),
    )
    bot = answerer([text, "The cache lives in memory.", "Entries expire after an hour."])
    question = parse_question("What should tools use to empty every cache at once?")
    draft = bot.draft(question, hits(table))
    assert draft.text == (
        "Name: flush_all() · Returns: nothing. [1] "
        "Use: tools that must empty every cache at once. [1]"
    )


def test_a_sentence_two_parts_both_pick_is_quoted_once() -> None:
    text = "The relay station serves 40 villages and two ferry ports. Roads are poor."
    bot = answerer([text, "The ferry runs twice a week.", "Mail comes by boat."])
    question = parse_question(
        "How many villages does the relay station serve, and which ports does it serve?"
    )
    assert len(question.parts) == 2
    draft = bot.draft(question, hits(chunk(text)))
    assert draft.text.count("40 villages") == 1


def table(rows: list[str]) -> Chunk:
    """One chunk holding the rows, one per line, each marked as a table row."""
    text = "\n".join(rows)
    spans, at = [], 0
    for row in rows:
        spans.append((at, at + len(row)))
        at += len(row) + 1
    return Chunk("c0", "api.html", "Cache API", 0, 0, len(text), text, rows=tuple(spans))


def test_a_table_rows_later_sentence_keeps_to_the_sentence_budget() -> None:
    rows = [
        "Name: flush_all() · Returns: nothing. Cost: one pass over every shard. "
        "Locks: every shard in turn. Use: tools that must empty every cache at once.",
        "Name: flush_one(key) · Returns: the old value. Use: tools that clear a single entry.",
    ]
    bot = answerer([*rows, "The cache lives in memory.", "Entries expire after an hour."])
    question = parse_question("What should tools use to empty every cache at once?")
    # The row up to the answer is four sentences, more than the three an answer may quote: the
    # answer is quoted after the row's first sentence only.
    draft = bot.draft(question, hits(table(rows)))
    assert draft.text == (
        "Name: flush_all() · Returns: nothing. [1] "
        "Use: tools that must empty every cache at once. [1]"
    )
    # Within the budget, the row is quoted whole up to the answer.
    short = [rows[0].replace("Locks: every shard in turn. ", ""), rows[1]]
    draft = bot.draft(question, hits(table(short)))
    assert draft.text == (
        "Name: flush_all() · Returns: nothing. [1] Cost: one pass over every shard. [1] "
        "Use: tools that must empty every cache at once. [1]"
    )


def test_a_rows_first_sentence_does_not_point_back_into_the_row_above() -> None:
    rows = [
        "The east gate opens at six in the morning.",
        "This gate serves the fish market and the ferry.",
    ]
    bot = answerer([*rows, "The ferry runs twice a week.", "Mail comes by boat."])
    found = bot.candidates(
        "What does the gate serve?", content_terms("What does the gate serve?"), [table(rows)]
    )
    assert "This gate serves the fish market and the ferry." in [c.text for c in found]
    assert all(len(c.sentences) == 1 for c in found)


@pytest.mark.parametrize(
    ("sentence", "field"),
    [
        ("Default: 8437", True),
        ("Maximum number of workers: 10", True),
        ("For example: the gate opens at six.", False),
        ("In short: it fails.", False),
        ("The gate of the old harbour near the fish market: closed.", False),
    ],
)
def test_a_field_is_a_short_label_and_a_value_not_a_lead_in(sentence: str, field: bool) -> None:
    assert is_field(sentence) is field


def test_a_part_of_a_compound_question_quotes_a_row_within_the_parts_budget() -> None:
    rows = [
        "Name: flush_all() · Returns: nothing. Cost: one pass over every shard. "
        "Use: tools that must empty every cache at once.",
        "Name: flush_one(key) · Returns: the old value. Use: tools that clear a single entry.",
    ]
    bot = answerer([*rows, "The cache lives in memory.", "Entries expire after an hour."])
    question = parse_question(
        "What should tools use to empty every cache at once, and where does the cache live?"
    )
    assert len(question.parts) == 2
    # Each part of a compound question may quote two sentences: the row's answer comes after
    # the row's first sentence only, not with all three of the row's sentences up to it.
    draft = bot.draft(question, hits(table(rows), chunk("The cache lives in memory.", n=1)))
    assert "Name: flush_all() · Returns: nothing. [1] Use: tools that must empty" in draft.text
    assert "Cost:" not in draft.text


def test_a_lead_in_is_not_added_beside_the_answer() -> None:
    # A sentence ending in a colon introduces what follows it (a list, a code block): quoted
    # beside the answer without it, it says nothing.
    text = (
        "The relay station on the hill serves the two ferry ports of the bay. "
        "Mail comes by boat twice a week. "
        "The relay station on the hill also serves the following ports of the bay:"
    )
    bot = answerer([text, "The ferry runs twice a week.", "Mail comes by boat."])
    question = parse_question("Which ports of the bay does the relay station on the hill serve?")
    draft = bot.draft(question, hits(chunk(text)))
    assert draft.text == "The relay station on the hill serves the two ferry ports of the bay. [1]"


GATES = (
    "The harbour of the old town has three gates:\nNorth Gate\nFish Gate\nFerry Gate\n\n"
    "The gates of the old town open at dawn."
)


def test_a_lead_in_is_quoted_with_the_list_it_introduces() -> None:
    bot = answerer([GATES, "The ferry runs twice a week.", "Mail comes by boat."])
    sources = [chunk(GATES)]
    draft = bot.draft(
        parse_question("What gates does the harbour of the old town have?"), hits(*sources)
    )
    assert draft.text == (
        "The harbour of the old town has three gates: North Gate · Fish Gate · Ferry Gate. [1]"
    )
    checked = check_citations(draft.text, sources)
    assert (
        checked.citations[0].quote
        == "The harbour of the old town has three gates:\nNorth Gate\nFish Gate\nFerry Gate"
    )
    assert (
        checked.citations[0].quote == GATES[checked.citations[0].start : checked.citations[0].end]
    )


@pytest.mark.parametrize(
    "text",
    [
        # What follows after a blank line is a new block, not the lead-in's list.
        "The harbour of the old town has three gates:\n\nNorth Gate\nFish Gate",
        # The next sentence runs on in the same line: no list.
        "The harbour of the old town has three gates: North, Fish and Ferry. They open at dawn.",
        # The list runs to the chunk's end: it may go on in the next chunk.
        "The harbour of the old town has three gates:\nNorth Gate\nFish Gate",
        # Too long a list to quote: the lead-in is quoted alone.
        "The harbour of the old town has many gates:\n"
        + "\n".join(f"Gate number {n}" for n in range(1, 30))
        + "\n\nThe gates open at dawn.",
    ],
)
def test_a_lead_in_without_a_short_list_after_it_is_quoted_alone(text: str) -> None:
    found = answerer([text, "Mail comes by boat."]).candidates(
        "What gates does the harbour of the old town have?",
        content_terms("What gates does the harbour of the old town have?"),
        [chunk(text)],
    )
    assert all(len(c.sentences) == 1 for c in found)


def test_a_lead_in_before_a_table_is_not_quoted_with_its_rows() -> None:
    rows = ["The harbour of the old town has three gates:", "Gate: North · Opens: at six"]
    rows += ["Gate: Fish · Opens: at seven", "Gate: Ferry · Opens: at eight"]
    text = "\n".join(rows) + "\n"
    spans, at = [], 0
    for row in rows:
        spans.append((at, at + len(row)))
        at += len(row) + 1
    table_chunk = Chunk("c0", "gates.html", "Gates", 0, 0, len(text), text, rows=tuple(spans[1:]))
    question = "What gates does the harbour of the old town have?"
    found = answerer([text, "Mail comes by boat."]).candidates(
        question, content_terms(question), [table_chunk]
    )
    lead_in = [c for c in found if c.sentences[0] == rows[0]]
    assert lead_in and all(len(c.sentences) == 1 for c in lead_in)


def test_a_sentence_that_qualifies_only_by_a_little_similarity_is_no_answer() -> None:
    """A sentence on the question's topic without the detail asked for (a SQuAD answer deletion)
    is about as similar to the question as the least similar answers: the answering floor fitted
    on such deletions (benchmarks/fit_answerability.py) refuses it, where reaching the qualifying
    similarity alone answered."""
    sentence = "The harbour board met on Tuesday to discuss the budget for the new pier."
    question = parse_question("Why did the ferry service to the island stop?")

    def answered_at(similarity: float) -> str:
        def embed(texts: list[str]) -> list[list[float]]:
            return [[similarity, math.sqrt(1 - similarity**2)] for _ in texts]

        bot = ExtractiveAnswerer(
            embed=embed,
            embed_query=lambda text: [1.0, 0.0],
            document_frequency=lambda t: 1,
            documents=10,
        )
        found = bot.candidates(question.text, question.part_terms(question.text), [chunk(sentence)])
        assert found and found[0].coverage < bot.scorer.min_coverage  # qualifies by similarity
        return bot.draft(question, hits(chunk(sentence))).text

    assert answered_at(0.53) == ""  # qualifies (>= 0.525), under the floor
    assert sentence in answered_at(0.56)


def test_a_count_under_a_heading_that_names_the_counted_thing_answers() -> None:
    question = "How many worker threads are used for large builds?"
    sentence = "For large builds the default is 256, which keeps every core busy."
    assert not adds_answer(question, sentence, "number")  # the sentence names no threads
    assert adds_answer(question, sentence, "number", heading="Worker threads")
    # A sentence that names another thing beside its number does not count the asked one.
    other = "For large builds 256 files are cached."
    assert not adds_answer(question, other, "number", heading="Worker threads")


def test_a_short_sentence_answers_for_the_heading_it_sits_under() -> None:
    """Reference pages state an option's default in a sentence too short to name the option;
    the heading names it ("parameterLimit" … "Defaults to 1000.")."""
    text = (
        "The option controls how many fields a form may hold. "
        "Forms with more get a 413 reply. Defaults to 1000."
    )
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    question = parse_question("What is the default field limit?")
    headed = Chunk("c0", "api.md", "API", 0, 0, len(text), text, section="fieldLimit")
    assert bot.draft(question, hits(headed)).text.startswith("Defaults to 1000")
    # Without a heading nothing says what the 1000 is: it is no answer on its own.
    assert "Defaults to 1000" not in bot.draft(question, hits(chunk(text))).text


def test_the_next_sentence_is_quoted_when_it_holds_what_the_best_one_lacks() -> None:
    """The topic in one sentence, the detail asked for in the next one of the same paragraph."""
    best = "Sets the maximum depth of the template stack before the processor gives up."
    detail = "The default is 3000."
    text = f"{best} {detail}\n\nTemplates are read once. Their depth is checked on each call."
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    question = parse_question("What is the default maximum depth of the template stack?")
    assert bot.draft(question, hits(chunk(text))).text == f"{best} [1] {detail} [1]"
    # Not one from the next paragraph, nor one that adds no term the best lacks.
    apart = f"{best}\n\n{detail}"
    assert bot.draft(question, hits(chunk(apart))).text == f"{best} [1]"
    same = f"{best} The stack depth is checked on each call."
    assert bot.draft(question, hits(chunk(same))).text == f"{best} [1]"


def test_a_lead_in_at_a_chunks_end_gives_way_to_the_chunk_that_holds_its_list() -> None:
    # Overlapping chunks: the first ends on the lead-in, the second holds it with its list.
    lead_in = "The harbour of the old town has three gates:"
    first_text = "Mail comes by boat twice a week.\n\n" + lead_in
    second_text = GATES
    first = chunk(first_text, 0)
    second = chunk(second_text, 1, start=len(first_text) - len(lead_in))
    question = "What gates does the harbour of the old town have?"
    found = answerer([first_text, second_text, "The ferry runs twice a week."]).candidates(
        question, content_terms(question), [first, second]
    )
    quoting = [c for c in found if c.sentences[0] == lead_in]
    assert [len(c.sentences) for c in quoting] == [4]


def test_a_lead_in_with_its_list_is_read_as_the_lead_in() -> None:
    # The list's lines are values; the lead-in says what they are, and is what the question asks
    # about: a long list read into the embedding would pull the quote away from the question.
    model = CountingEmbeddings()
    bot = ExtractiveAnswerer(
        embed=model.embed_documents,
        embed_query=model.embed_query,
        document_frequency=lambda t: 1,
        documents=10,
    )
    question = "What gates does the harbour of the old town have?"
    found = bot.candidates(question, content_terms(question), [chunk(GATES)])
    listed = next(c for c in found if len(c.sentences) == 4)
    assert "The harbour of the old town has three gates:" in model.embedded
    assert not [t for t in model.embedded if "North Gate" in t and "harbour" in t]
    assert listed.similarity == pytest.approx(
        bot._similarities(question, [(listed.chunk, 0, 44, listed.sentences[0])])[0]
    )


def test_a_question_in_the_text_is_no_answer() -> None:
    # An FAQ's questions share the words of the user's question, but state nothing.
    faq = (
        "Q: How is the ferry timetable made for the winter months?\n\n"
        "A: The harbour master sets the winter timetable in October."
    )
    bot = answerer([faq, "Mail comes by boat.", "The ferry runs twice a week."])
    question = parse_question("How is the ferry timetable made for the winter months?")
    found = bot.candidates(question.text, question.part_terms(question.text), [chunk(faq)])
    assert [c.text for c in found] == [
        "A: The harbour master sets the winter timetable in October."
    ]


def titled_answerer(chunks: list[Chunk], documents: int) -> ExtractiveAnswerer:
    """An answerer whose statistics count each chunk's title and its initials, as BM25's do."""
    frequency: dict[str, int] = {}
    for c in chunks:
        for term in set(content_terms(f"{c.title}\n{c.text}")) | initialisms(c.title):
            frequency[term] = frequency.get(term, 0) + 1
    return ExtractiveAnswerer(
        embed=None, document_frequency=lambda t: frequency.get(t, 0), documents=documents
    )


def test_a_question_that_names_a_document_by_its_initials_is_answered_from_that_document() -> None:
    """ "The HSR" is the "Harbour Speed Rules": its sentence answers, not the same sentence of a
    document ranked above it that the question does not name."""
    rule = "Vessels must keep below 6 knots inside the harbour."
    other = "Vessels must keep below 10 knots inside the harbour."
    notice = Chunk("c0", "notice.txt", "Fishing Quota Notice", 0, 0, len(other), other)
    rules = Chunk("c1", "rules.txt", "Harbour Speed Rules", 0, 0, len(rule), rule)
    bot = titled_answerer([notice, rules], documents=2)
    question = parse_question(
        "Below what speed must vessels keep inside the harbour under the HSR?"
    )
    draft = bot.draft(question, hits(notice, rules))
    assert draft.text.startswith("Vessels must keep below 6 knots"), draft.text
    assert "10 knots" not in draft.text


@pytest.mark.parametrize(
    ("sentence", "title"),
    [
        ("Grant of Patent License.", True),
        ("Termination.", True),
        ("Limitation of Liability.", True),
        ("Each Contributor grants You a license.", False),
        ("Version 2.0.", False),  # a number is a value, not a clause's name
        ("Grant of Patent License", False),  # a heading of its own line is read as one already
    ],
)
def test_a_clauses_title_on_its_first_line_is_no_sentence(sentence: str, title: bool) -> None:
    assert is_run_in_heading(sentence) is title


def test_a_clauses_title_is_not_quoted_with_its_clause() -> None:
    text = (
        "Grant of Patent License. Each Contributor grants You a patent license to make and "
        "sell the Work. Termination. The patent license granted to You ends if You sue."
    )
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    draft = bot.draft(
        parse_question("Which patent license does each Contributor grant?"), hits(chunk(text))
    )
    assert "Each Contributor grants You a patent license" in draft.text
    assert "Grant of Patent License" not in draft.text and "Termination" not in draft.text


def test_a_runner_up_from_another_document_must_concern_the_name_asked_about() -> None:
    """Asked about the HSR, a close sentence of a document that the question does not name is
    not quoted beside the answer, however well it covers the rest."""
    rule = "Vessels keep below 6 knots inside the harbour, as the rules say."
    rule_too = "Vessels keep below 8 knots inside the harbour at night, as the rules say."
    other = "Vessels keep below 10 knots inside the harbour, as the notice says."
    rules = Chunk("c0", "rules.txt", "Harbour Speed Rules", 0, 0, len(rule), rule)
    more = Chunk("c1", "rules.txt", "Harbour Speed Rules", 1, 100, 100 + len(rule_too), rule_too)
    notice = Chunk("c2", "notice.txt", "Harbour Speed Notice", 0, 0, len(other), other)
    bot = titled_answerer([rules, more, notice], documents=10)
    question = parse_question("Below what speed do vessels keep inside the harbour under the HSR?")
    draft = bot.draft(question, hits(rules, notice, more))
    assert draft.text.startswith("Vessels keep below 6 knots"), draft.text
    assert "8 knots" in draft.text, "a runner-up of the same document is still quoted"
    assert "10 knots" not in draft.text


def test_a_who_question_is_answered_by_a_handle() -> None:
    """A changelog names its authors by handle: "@joshfrench" is the who asked for."""
    text = (
        "Update the version file by @Release-Bot in #449. "
        "Add activate and deactivate hooks by @joshfrench in #452."
    )
    bot = answerer([text, "Ports below 1024 need root.", "Backups are written nightly."])
    draft = bot.draft(
        parse_question("Who added the activate and deactivate hooks?"), hits(chunk(text))
    )
    assert draft.text.startswith("Add activate and deactivate hooks by @joshfrench"), draft.text


def markdown_chunk(tmp_path: Path, text: str) -> Chunk:
    """The one chunk of a Markdown file, as ingest reads and cuts it."""
    path = tmp_path / "tide.md"
    path.write_text(text, encoding="utf-8")
    (only,) = chunk_document(load_document(path, "tide.md"), get_encoding(), 400, 60)
    return only


PRINTING = (
    "# Tide tables\n\nTidewater builds its manual from one source.\n\n"
    "To print the manual as a PDF, type this in the docs folder:\n\n"
    "```\nmake manual.pdf\n```\n\nThe PDF needs a TeX installation.\n"
)


def test_a_lead_in_is_quoted_with_the_command_it_introduces(tmp_path: Path) -> None:
    # The lead-in only announces the answer; the command below it is what a reader types.
    source = markdown_chunk(tmp_path, PRINTING)
    bot = answerer([source.text, "Mail comes by boat.", "The ferry runs twice a week."])
    draft = bot.draft(parse_question("How do I print the manual as a PDF?"), hits(source))
    lead_in = "To print the manual as a PDF, type this in the docs folder:"
    assert draft.text.startswith(f"{lead_in} `make manual.pdf`. [1]")
    checked = check_citations(draft.text, [source])
    quote = checked.citations[0]
    assert quote.quote.startswith(f"{lead_in}\n\nmake manual.pdf")
    assert quote.quote == source.text[quote.start - source.start : quote.end - source.start]


@pytest.mark.parametrize(
    "text",
    [
        # The block runs to the chunk's end: it may go on in the next chunk.
        PRINTING.split("\n\nThe PDF")[0].removesuffix("\n```") + "\nmake clean",
        # A block longer than a quote should hold is a listing, not an answer.
        PRINTING.replace("make manual.pdf", "\n".join(f"make part{n}.pdf" for n in range(6))),
        # A heading after the lead-in: what follows is another section, not what it introduces.
        PRINTING.replace("```\nmake manual.pdf\n```", "## Fonts\n\nFonts come from TeX."),
    ],
)
def test_a_lead_in_without_a_short_snippet_after_it_is_quoted_alone(
    tmp_path: Path, text: str
) -> None:
    source = markdown_chunk(tmp_path, text)
    bot = answerer([source.text, "Mail comes by boat."])
    question = "How do I print the manual as a PDF?"
    found = bot.candidates(question, content_terms(question), [source])
    lead_ins = [c for c in found if c.sentences[0].startswith("To print the manual")]
    assert lead_ins and all(len(c.sentences) == 1 for c in lead_ins)


def test_a_lead_in_read_back_at_a_chunks_end_gives_way_to_the_one_with_its_snippet() -> None:
    # The first chunk ends on a lead-in opening with "This", quoted with the sentence before it;
    # the overlapping second chunk holds the lead-in with the command it introduces.
    before = "Tidewater builds its manual from one source."
    lead_in = "This manual prints as a PDF when you type:"
    first_text = f"{before} {lead_in}"
    second_text = f"{lead_in}\n\nmake manual.pdf\n\nThe PDF needs a TeX installation."
    at = len(before) + 1
    tail = second_text.index("The PDF")
    first = chunk(first_text, 0)
    second = Chunk(
        "c1",
        "news.txt",
        "Harbour news",
        1,
        at,
        at + len(second_text),
        second_text,
        answers=((at, at + len(lead_in)), (at + tail, at + len(second_text))),
    )
    question = "How does the manual print as a PDF?"
    found = answerer([first_text, second_text, "Mail comes by boat."]).candidates(
        question, content_terms(question), [first, second]
    )
    quoting = [c.sentences for c in found if lead_in in c.sentences]
    assert quoting == [[lead_in, "make manual.pdf"]]
