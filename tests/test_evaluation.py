"""Evaluation metrics, question files, gates and the written report, on hand-made answer dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.answering.answer import Answer, Citation
from bot.doors.evaluation.report import write_report
from bot.doors.evaluation.run import (
    METRIC_DEFINITIONS,
    EvaluationError,
    Question,
    check_thresholds,
    contains_key,
    load_questions,
    normalize,
    parse_fail_under,
    score_result,
    summarize,
)
from retrieval.documents import Chunk, ScoredChunk

DATA = Path(__file__).resolve().parent / "data"
CORPUS = Path(__file__).resolve().parent.parent / "corpus"
GOLD, OTHER = "gold.txt", "other.txt"


def hit(source: str, chunk_id: str) -> dict[str, Any]:
    """One retrieved entry as `Answer.to_dict()` writes it."""
    return {"source": source, "title": source, "chunk_id": chunk_id, "score": 0.5, "found_by": {}}


def cite(n: int, source: str, chunk_id: str, quote: str) -> dict[str, Any]:
    """One resolved citation as `Answer.to_dict()` writes it."""
    return {
        "n": n,
        "source": source,
        "title": source,
        "page": None,
        "chunk_id": chunk_id,
        "quote": quote,
        "start": 0,
        "end": len(quote),
    }


def result(
    answer: str = "",
    *,
    abstained: bool = False,
    citations: list[dict[str, Any]] | None = None,
    retrieved: list[dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """An answer dict with the shape of `Answer.to_dict()`."""
    return {
        "question": "q",
        "answer": answer,
        "abstained": abstained,
        "citations": citations or [],
        "retrieved": retrieved or [],
        "backend": "extractive",
        "model": None,
        "notice": None,
        "standalone_question": None,
        "usage": {},
        "timings_ms": timings or {},
    }


def answerable(qid: str, *keys: str) -> Question:
    """A question answered by GOLD with the given keys."""
    return Question(id=qid, question=f"question {qid}?", answers=list(keys), sources=[GOLD])


def unanswerable(qid: str) -> Question:
    """A question the documents do not answer."""
    return Question(id=qid, question=f"question {qid}?", answers=[], sources=[])


RANKED_GOLD_THIRD = [hit(OTHER, "o1"), hit(OTHER, "o2"), hit(GOLD, "g1"), hit(OTHER, "o3")]
RANKED_GOLD_FIRST = [hit(GOLD, "g1"), hit(OTHER, "o1"), hit(OTHER, "o2"), hit(OTHER, "o3")]
RANKED_NO_GOLD = [hit(OTHER, "o1"), hit(OTHER, "o2"), hit(OTHER, "o3"), hit(OTHER, "o4")]


def run(pairs: list[tuple[Question, dict[str, Any]]], k: int = 4) -> dict[str, float | int]:
    """Score and summarize (question, result) pairs."""
    questions = [q for q, _ in pairs]
    results = [r for _, r in pairs]
    scores = [score_result(q, r, k) for q, r in pairs]
    return summarize(questions, results, scores, k)


# --- normalize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300,000", "300000"),
        ("300 000", "300000"),
        ("300\u202f000", "300000"),
        ("October 30, 2025", "october 30 2025"),
        ("T-6  trainer", "t 6 trainer"),
        ("U.S.-Malaysia", "us malaysia"),
        ("80%", "80 percent"),
        ("Hegseth\u2019s", "hegseths"),
        ("2.5 times", "2.5 times"),
        ("On October 26 300,000 fled", "on october 26 300000 fled"),
    ],
)
def test_normalize_folds_case_punctuation_and_number_grouping(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_contains_key_matches_whole_words_only() -> None:
    assert contains_key("It displaced an estimated 300,000 people.", "300,000")
    assert contains_key("It displaced 300 000 people.", "300,000")
    assert not contains_key("It displaced 300,000 people.", "300")
    assert not contains_key("Dong Junior", "Dong Jun")
    assert contains_key("met Adm. DONG JUN late", "Dong Jun")


# --- score_result ----------------------------------------------------------------------------


def test_score_of_correct_cited_answer_has_no_problems() -> None:
    question = answerable("q1", "300,000")
    answer = result(
        "The dispute displaced an estimated 300,000 people [1].",
        citations=[cite(1, GOLD, "g1", "displaced an estimated 300,000 people")],
        retrieved=RANKED_GOLD_FIRST,
    )
    score = score_result(question, answer, k=4)
    assert score["gold_rank"] == 1
    assert (score["hit@1"], score["hit@4"], score["hit@k"]) == (True, True, True)
    assert score["correct"] is True
    assert score["abstained"] is False
    assert (score["cited_valid"], score["cited_total"], score["supported"]) == (1, 1, 1)
    assert score["right_source"] is True
    assert score["problems"] == []


def test_score_of_wrong_answer_names_missing_key_and_source_problems() -> None:
    question = answerable("q2", "18", "heavy weapons")
    answer = result(
        "Thailand will release 18 soldiers [1].",
        citations=[cite(1, OTHER, "o1", "Thailand will release 18 soldiers")],
        retrieved=RANKED_NO_GOLD,
    )
    score = score_result(question, answer, k=4)
    assert score["gold_rank"] is None
    assert score["hit@4"] is False
    assert score["correct"] is False
    assert score["missing_keys"] == ["heavy weapons"]
    assert score["supported"] == 1  # the quote holds the key "18"
    assert score["right_source"] is False
    assert score["problems"] == [
        "missing key 'heavy weapons'",
        "gold source not retrieved",
        "no citation to a gold source",
    ]


def test_score_of_gold_below_k_and_false_refusal() -> None:
    score = score_result(
        answerable("q3", "Dong Jun"),
        result("I don't know.", abstained=True, retrieved=RANKED_GOLD_THIRD),
        k=2,
    )
    assert score["gold_rank"] == 3
    assert (score["hit@1"], score["hit@4"], score["hit@k"]) == (False, True, False)
    assert score["correct"] is False
    assert score["problems"] == [
        "refused although the documents answer it",
        "first gold source at rank 3, below k=2",
    ]


def test_score_of_unanswerable_expects_refusal() -> None:
    refused = score_result(unanswerable("u1"), result("I don't know.", abstained=True), k=4)
    assert refused["correct"] is True
    assert refused["problems"] == []
    assert refused["gold_rank"] is None and refused["hit@1"] is None
    answered = score_result(
        unanswerable("u2"),
        result(
            "Taiwan is fine [1].", citations=[cite(1, OTHER, "o1", "x")], retrieved=RANKED_NO_GOLD
        ),
        k=4,
    )
    assert answered["correct"] is False
    assert answered["right_source"] is None
    assert answered["problems"] == ["expected refusal"]


def test_citation_validity_needs_number_in_range_and_retrieved_chunk() -> None:
    answer = result(
        "Claims [1] [2] [7] [3].",
        citations=[
            cite(1, GOLD, "g1", "a"),  # valid
            cite(2, OTHER, "nowhere", "b"),  # chunk never retrieved
            cite(7, OTHER, "o1", "c"),  # number beyond the four retrieved
            cite(3, GOLD, "o2", "d"),  # chunk o2 is from OTHER, not GOLD
        ],
        retrieved=RANKED_GOLD_FIRST,
    )
    score = score_result(answerable("q4", "claims"), answer, k=4)
    assert (score["cited_valid"], score["cited_total"]) == (1, 4)
    assert "citation [2] does not point at a retrieved chunk" in score["problems"]
    assert "citation [7] does not point at a retrieved chunk" in score["problems"]
    assert "citation [3] does not point at a retrieved chunk" in score["problems"]
    assert "citation [1] does not point at a retrieved chunk" not in score["problems"]


def test_answer_without_citations_is_flagged() -> None:
    score = score_result(answerable("q5", "18"), result("18.", retrieved=RANKED_GOLD_FIRST), k=4)
    assert score["correct"] is True
    assert score["right_source"] is False
    assert score["problems"] == ["answer has no citations"]


def test_scores_the_real_answer_to_dict_shape() -> None:
    chunk = Chunk("g1", "corpus/gold.txt", "Gold", 0, 0, 30, "Thailand will release 18 soldiers")
    answer = Answer(
        question="How many?",
        text="Thailand will release 18 soldiers [1].",
        abstained=False,
        citations=[
            Citation(1, "corpus/gold.txt", "Gold", None, "g1", "release 18 soldiers", 10, 29)
        ],
        retrieved=[ScoredChunk(chunk, 0.9, {"bm25": 1})],
        backend="extractive",
        model=None,
        timings_ms={"retrieve": 3.0, "total": 5.0},
    )
    question = Question(id="r1", question="How many?", answers=["18"], sources=["gold.txt"])
    score = score_result(question, answer.to_dict(), k=4)
    assert score["gold_rank"] == 1  # a gold file name matches a source in a folder
    assert score["correct"] is True
    assert score["cited_valid"] == 1
    assert score["problems"] == []


# --- summarize -------------------------------------------------------------------------------


def mixed_run() -> list[tuple[Question, dict[str, Any]]]:
    """Five questions whose metrics are all fractions."""
    return [
        (
            answerable("a1", "300,000"),
            result(
                "About 300,000 people [1].",
                citations=[cite(1, GOLD, "g1", "an estimated 300,000 people")],
                retrieved=RANKED_GOLD_FIRST,
                timings={"retrieve": 10, "generate": 100, "total": 120},
            ),
        ),
        (
            answerable("a2", "Dong Jun"),
            result(
                "He met a Chinese admiral [1].",
                citations=[cite(1, OTHER, "o1", "the Chinese admiral")],
                retrieved=RANKED_GOLD_THIRD,
                timings={"retrieve": 20, "generate": 200, "total": 230},
            ),
        ),
        (
            answerable("a3", "Tokyo"),
            result(
                "I don't know.",
                abstained=True,
                retrieved=RANKED_NO_GOLD,
                timings={"retrieve": 30, "total": 40},
            ),
        ),
        (
            unanswerable("u1"),
            result(
                "I don't know.", abstained=True, retrieved=RANKED_NO_GOLD, timings={"retrieve": 40}
            ),
        ),
        (
            unanswerable("u2"),
            result(
                "Taiwan [9].",
                citations=[cite(9, OTHER, "o1", "nothing")],
                retrieved=RANKED_NO_GOLD,
            ),
        ),
    ]


def test_summary_metrics_at_fractions() -> None:
    summary = run(mixed_run(), k=2)
    assert summary["hit@1"] == pytest.approx(1 / 3)
    assert summary["hit@2"] == pytest.approx(1 / 3)
    assert summary["hit@3"] == pytest.approx(2 / 3)
    assert summary["hit@4"] == pytest.approx(2 / 3)
    assert summary["hit@k"] == pytest.approx(1 / 3)
    assert summary["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert summary["answer_accuracy"] == pytest.approx(1 / 3)
    assert summary["citation_validity"] == pytest.approx(2 / 3)
    assert summary["citation_support"] == pytest.approx(1 / 2)
    assert summary["abstention_recall"] == pytest.approx(1 / 2)
    assert summary["false_abstention_rate"] == pytest.approx(1 / 3)
    assert summary["right_source_rate"] == 1.0
    counts = {
        "questions": 5, "answerable": 3, "unanswerable": 2, "retrieval_questions": 3,
        "correct": 1, "refused": 2, "citations": 3, "citations_valid": 2,
        "citations_supported": 1, "k": 2, "retrieved_max": 4,
    }  # fmt: skip
    assert {name: summary[name] for name in counts} == counts


def test_summary_latency_percentiles_per_stage() -> None:
    summary = run(mixed_run())
    assert summary["latency_p50_ms.retrieve"] == 25.0
    assert summary["latency_p95_ms.retrieve"] == pytest.approx(38.5)
    assert summary["latency_p50_ms.generate"] == 150.0
    assert summary["latency_p50_ms.total"] == 120.0
    assert "latency_p50_ms.check" not in summary


def test_summary_metrics_at_one_for_a_perfect_run() -> None:
    summary = run(
        [
            (
                answerable("a1", "18"),
                result(
                    "18 soldiers [1].",
                    citations=[cite(1, GOLD, "g1", "release 18 detained soldiers")],
                    retrieved=RANKED_GOLD_FIRST,
                ),
            ),
            (unanswerable("u1"), result("I don't know.", abstained=True)),
        ]
    )
    for name in (
        "hit@1", "hit@4", "hit@k", "mrr", "answer_accuracy", "citation_validity",
        "citation_support", "right_source_rate", "abstention_recall",
    ):  # fmt: skip
        assert summary[name] == 1.0, name
    assert summary["false_abstention_rate"] == 0.0


def test_summary_metrics_at_zero_for_a_failed_run() -> None:
    summary = run(
        [
            (
                answerable("a1", "18"),
                result(
                    "Some soldiers [2].",
                    citations=[cite(2, OTHER, "missing", "some soldiers")],
                    retrieved=RANKED_NO_GOLD,
                ),
            ),
            (unanswerable("u1"), result("Taiwan is fine.")),
        ]
    )
    for name in (
        "hit@1", "hit@4", "hit@k", "mrr", "answer_accuracy", "citation_validity",
        "citation_support", "abstention_recall", "false_abstention_rate",
    ):  # fmt: skip
        assert summary[name] == 0.0, name
    assert "right_source_rate" not in summary  # no correct answer: undefined, left out


def test_right_source_rate_zero_and_false_abstention_one() -> None:
    wrong_source = run(
        [
            (
                answerable("a1", "18"),
                result(
                    "18 [1].",
                    citations=[cite(1, OTHER, "o1", "18 soldiers")],
                    retrieved=RANKED_GOLD_THIRD,
                ),
            )
        ]
    )
    assert wrong_source["answer_accuracy"] == 1.0
    assert wrong_source["right_source_rate"] == 0.0
    all_refused = run([(answerable("a1", "18"), result("I don't know.", abstained=True))])
    assert all_refused["false_abstention_rate"] == 1.0
    assert "abstention_recall" not in all_refused


def test_summarize_rejects_mismatched_lengths() -> None:
    with pytest.raises(EvaluationError, match="1 questions, 0 results"):
        summarize([unanswerable("u1")], [], [], k=4)


def test_every_rate_has_a_definition() -> None:
    summary = run(mixed_run())
    rates = [name for name in summary if not name.startswith("latency_")]
    undefined = [name for name in rates if name not in METRIC_DEFINITIONS]
    assert all(name.startswith("hit@") for name in undefined), undefined


# --- load_questions --------------------------------------------------------------------------


def test_load_questions_reports_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = [
        '{"id": "q1", "question": "How many?", "answers": ["18"], "sources": ["a.txt"], "kind": "number"}',
        "",
        '{"id": "q2", "question": "Broken", ',
        '{"id": "q3", "answers": [], "sources": []}',
        '{"id": "q4", "question": "Typed?", "answers": "18", "sources": []}',
        '{"id": "q5", "question": "Taiwan?", "answers": [], "sources": []}',
        '["not", "an", "object"]',
        '{"id": "q1", "question": "Again?", "answers": [], "sources": []}',
        '{"id": "q9", "question": "Sources only?", "answers": [], "sources": ["a.txt"]}',
        '{"id": 10, "question": "Number id?", "answers": [], "sources": []}',
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    questions, errors = load_questions(path)
    assert [q.id for q in questions] == ["q1", "q5"]
    assert questions[0].extra == {"kind": "number"}
    assert questions[0].answerable and not questions[1].answerable
    assert errors[0].startswith("line 3: not valid JSON: ")
    assert errors[1:] == [
        "line 4: missing field 'question'",
        "line 5: field 'answers' must be a list of strings, got str",
        "line 7: expected a JSON object, got list",
        "line 8: duplicate id 'q1' (first on line 1)",
        "line 9: 'sources' given but 'answers' is empty; unanswerable needs both empty",
        "line 10: field 'id' must be a non-empty string, got int",
    ]


def test_load_questions_missing_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match=r"Question file not found: .*nope\.jsonl"):
        load_questions(tmp_path / "nope.jsonl")


# --- thresholds ------------------------------------------------------------------------------


def test_parse_fail_under_reads_metric_value_pairs() -> None:
    parsed = parse_fail_under(
        [
            "answer_accuracy=0.9",
            " hit@4 = 0.8",
            "false_abstention_rate=0.10",
            "latency_p95_ms.total=2000",
        ]
    )
    assert parsed == {
        "answer_accuracy": 0.9,
        "hit@4": 0.8,
        "false_abstention_rate": 0.1,
        "latency_p95_ms.total": 2000.0,
    }
    assert parse_fail_under([]) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("answer_accuracy", "write METRIC=VALUE"),
        ("=0.5", "write METRIC=VALUE"),
        ("accuracy=0.5", "Unknown metric 'accuracy'"),
        ("hit@0=0.5", "Unknown metric 'hit@0'"),
        ("mrr=high", "'high' is not a number"),
        ("mrr=nan", "finite number"),
        ("answer_accuracy=90", "rate between 0 and 1"),
    ],
)
def test_parse_fail_under_rejects_bad_items(item: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        parse_fail_under([item])


def test_check_thresholds_higher_and_lower_is_better() -> None:
    summary: dict[str, float | int] = {
        "answer_accuracy": 0.85,
        "hit@4": 0.9,
        "false_abstention_rate": 0.15,
        "latency_p95_ms.total": 1500.0,
    }
    assert check_thresholds(summary, {"answer_accuracy": 0.9}) == ["answer_accuracy 0.85 < 0.90"]
    assert check_thresholds(summary, {"hit@4": 0.9, "answer_accuracy": 0.85}) == []
    assert check_thresholds(summary, {"false_abstention_rate": 0.10}) == [
        "false_abstention_rate 0.15 > 0.10"
    ]
    assert check_thresholds(summary, {"false_abstention_rate": 0.2}) == []
    assert check_thresholds(summary, {"latency_p95_ms.total": 1000}) == [
        "latency_p95_ms.total 1500.00 > 1000.00"
    ]
    assert check_thresholds(summary, {"abstention_recall": 0.5}) == [
        "abstention_recall not measured (no questions it applies to) but gated at 0.50"
    ]


# --- write_report ----------------------------------------------------------------------------


def test_write_report_writes_results_summary_markdown_and_plots(tmp_path: Path) -> None:
    pairs = mixed_run()
    questions = [q for q, _ in pairs]
    results = [r for _, r in pairs]
    scores = [score_result(q, r, 4) for q, r in pairs]
    summary = summarize(questions, results, scores, 4)
    out = tmp_path / "eval" / "run1"

    paths = write_report(out, questions, results, scores, summary)

    assert [p.name for p in paths] == [
        "results.jsonl", "summary.json", "report.md", "hit_rate_by_k.png", "latency_by_stage.png",
    ]  # fmt: skip
    assert all(p.parent == out and p.is_file() for p in paths)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["a1", "a2", "a3", "u1", "u2"]
    assert records[0]["gold_answers"] == ["300,000"]
    assert records[0]["gold_sources"] == [GOLD]
    assert records[0]["answer"] == "About 300,000 people [1]."
    assert records[1]["scores"]["problems"] == [
        "missing key 'Dong Jun'",
        "no citation to a gold source",
    ]
    assert json.loads((out / "summary.json").read_text()) == summary

    report = (out / "report.md").read_text()
    assert report.startswith("# citebot evaluation")
    assert f"| answer_accuracy | 0.333 | {METRIC_DEFINITIONS['answer_accuracy']} |" in report
    assert "## Failures (3)" in report
    assert "### a2: question a2?" in report
    assert '- citation [1] other.txt: "the Chinese admiral"' in report
    assert "- problem: missing key 'Dong Jun'" in report
    assert "- problem: expected refusal" in report
    assert "### a1:" not in report  # the correct, well-cited answer is not a failure
    for name in ("hit_rate_by_k.png", "latency_by_stage.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 5_000, name


def test_write_report_handles_a_run_without_retrieval_or_timings(tmp_path: Path) -> None:
    questions = [unanswerable("u1")]
    results = [result("I don't know.", abstained=True)]
    scores = [score_result(questions[0], results[0], 4)]
    summary = summarize(questions, results, scores, 4)
    paths = write_report(tmp_path, questions, results, scores, summary)
    report = (tmp_path / "report.md").read_text()
    assert "| hit@1 | n/a |" in report
    assert "## Failures (0)" in report
    assert all(p.stat().st_size > 1_000 for p in paths if p.suffix == ".png")


# --- the seed question set -------------------------------------------------------------------


def test_seed_questions_load_and_keys_come_from_their_sources() -> None:
    questions, errors = load_questions(DATA / "seed_questions.jsonl")
    assert errors == []
    assert len(questions) >= 64
    kinds = [q.extra.get("kind") for q in questions]
    assert sum(q.answerable for q in questions) >= 44
    assert kinds.count("paraphrase") >= 10
    assert kinds.count("cross-document") >= 4
    assert kinds.count("unanswerable") >= 18
    by_text = {q.question: q for q in questions}
    displaced = by_text["How many people did the Thai-Cambodian border dispute displace?"]
    assert (displaced.answers, displaced.sources) == (["300,000"], ["000_a03238ee93841bab.txt"])
    taiwan = by_text["What did Hegseth say about Taiwan?"]
    assert (taiwan.answers, taiwan.sources) == ([], [])
    texts = {path.name: path.read_text(encoding="utf-8") for path in CORPUS.glob("*.txt")}
    for q in questions:
        assert all(source in texts for source in q.sources), q.id
        for key in q.answers:
            assert any(key in texts[s] and contains_key(texts[s], key) for s in q.sources), (
                q.id,
                key,
            )
        if q.extra.get("kind") == "cross-document":
            assert len(q.sources) == 2, q.id
            # every source gives at least one key, so the answer needs both documents
            assert all(any(contains_key(texts[s], k) for k in q.answers) for s in q.sources), q.id


def test_accuracy_by_file_type_counts_each_source_suffix() -> None:
    from bot.doors.evaluation.report import by_file_type, file_type_lines

    questions = [
        Question(id="a", question="A?", answers=["x"], sources=["docs/a.pdf"]),
        Question(id="b", question="B?", answers=["y"], sources=["b.pdf"]),
        Question(id="c", question="C?", answers=["z"], sources=["c.md"]),
        Question(id="d", question="D?", answers=[], sources=[]),
    ]
    scores = [
        {"correct": True, "abstained": False},
        {"correct": False, "abstained": True},
        {"correct": False, "abstained": False},
        {"correct": True, "abstained": True},
    ]
    assert by_file_type(questions, scores) == {
        ".md": {"answerable": 1, "right": 0, "refused": 0},
        ".pdf": {"answerable": 2, "right": 1, "refused": 1},
    }
    assert file_type_lines(questions, scores)[1].split()[:3] == ["accuracy", ".pdf", "0.500"]
