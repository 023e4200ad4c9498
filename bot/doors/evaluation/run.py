"""Scoring `citebot eval`: question files, per-question scores, summary metrics and gates.

Pure functions over `Answer.to_dict()` dicts: the CLI runs the pipeline, `bot.doors.evaluation.report` writes files.

The summary is a flat `dict[str, float | int]`:

- rates in [0, 1]: `hit@1`, `hit@4`, `hit@k`, `hit@<j>` for every j in 1..`retrieved_max`, `mrr`,
  `answer_accuracy`, `citation_validity`, `citation_support`, `right_source_rate`,
  `abstention_recall`, `false_abstention_rate`; a rate whose denominator is zero is left out
  (not 0, not NaN), so the report shows "n/a" and a gate on it fails as "not measured";
- counts: `questions`, `answerable`, `unanswerable`, `retrieval_questions`, `correct`, `refused`,
  `citations`, `citations_valid`, `citations_supported`, `k`, `retrieved_max`;
- latency: `latency_p50_ms.<stage>` and `latency_p95_ms.<stage>` for every stage in `timings_ms`
  (percentiles by linear interpolation between closest ranks).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import CitebotError


class EvaluationError(CitebotError):
    """A question file or a threshold that cannot be used; the message says how to fix it."""


@dataclass
class Question:
    """One evaluation question with the key strings a correct answer contains."""

    id: str
    question: str
    answers: list[str]
    sources: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        """True when the documents answer it (it has answer keys)."""
        return bool(self.answers)


RATE_METRICS = (
    "hit@1",
    "hit@4",
    "hit@k",
    "mrr",
    "answer_accuracy",
    "citation_validity",
    "citation_support",
    "right_source_rate",
    "abstention_recall",
    "false_abstention_rate",
)

METRIC_DEFINITIONS: dict[str, str] = {
    "hit@1": "Share of answerable questions with gold sources whose top chunk is from one.",
    "hit@4": "Share of those questions with a gold-source chunk among the first 4 retrieved.",
    "hit@k": "Share of those questions with a gold-source chunk among the first k retrieved.",
    "mrr": "Mean over those questions of 1 / rank of the first gold-source chunk (0 if absent).",
    "answer_accuracy": "Share of answerable questions answered, not refused, with every key.",
    "citation_validity": "Share of all citations whose [n] and chunk point at a retrieved chunk.",
    "citation_support": (
        "Share of citations in answers to answerable questions that quote an answer key "
        "or point at a gold source."
    ),
    "right_source_rate": "Share of correct answers that cite at least one gold source.",
    "abstention_recall": "Share of unanswerable questions the bot refused.",
    "false_abstention_rate": "Share of answerable questions the bot refused (lower is better).",
    "questions": "Number of questions scored.",
    "answerable": "Number of questions the documents answer.",
    "unanswerable": "Number of questions the documents do not answer.",
    "retrieval_questions": "Number of answerable questions with gold sources (retrieval metrics).",
    "correct": "Number of answerable questions answered correctly.",
    "refused": "Number of questions the bot refused to answer.",
    "citations": "Number of citations in all answers.",
    "citations_valid": "Number of citations pointing at a retrieved chunk.",
    "citations_supported": "Number of supporting citations in answers to answerable questions.",
    "k": "Retrieval depth used for hit@k.",
    "retrieved_max": "Most chunks retrieved for one question.",
}

# Metrics where a larger value is worse: a threshold on them fails when the value is above it.
LOWER_IS_BETTER = frozenset({"false_abstention_rate"})

_LATENCY_NAME = re.compile(r"latency_p(50|95)_ms\.[\w.-]+")
_HIT_NAME = re.compile(r"hit@[1-9]\d*")
_APOSTROPHES = "'\u2019\u2018\u02bc`"
# A number written with thousands separators, one kind of separator per number ("300,000",
# "1 234 567"), not glued to other digits, so "26 300,000" stays two numbers.
_GROUPED_NUMBER = re.compile(
    r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?!\d|,\d)|(?<![\d.,])\d{1,3}(?: \d{3})+(?!\d|[ ,.]\d)"
)
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def normalize(text: str) -> str:
    """Fold text for key matching: see the rule below.

    1. Unicode NFKC and case folding (non-breaking and thin spaces become plain spaces).
    2. "%" becomes " percent ", so "80%" matches "80 percent".
    3. Apostrophes are deleted ("O'Neill" -> "oneill", "Smith's" -> "smiths").
    4. Thousands separators inside a number are deleted: "300,000" and "300 000" -> "300000".
    5. A point between digits stays ("2.5"); every other "." is deleted ("U.S." -> "us").
    6. Every other punctuation or symbol character becomes a space ("T-6" -> "t 6",
       "October 30, 2025" -> "october 30 2025"); runs of white space become one space.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("%", " percent ")
    text = text.translate({ord(c): None for c in _APOSTROPHES})
    text = _GROUPED_NUMBER.sub(lambda m: m.group(0).replace(",", "").replace(" ", ""), text)
    text = _DECIMAL_POINT.sub("\0", text).replace(".", "").replace("\0", ".")
    folded = "".join(" " if unicodedata.category(c)[0] in "PS" and c != "." else c for c in text)
    return " ".join(folded.split())


def contains_key(text: str, key: str) -> bool:
    """True when the normalized key occurs in the normalized text as whole words."""
    needle = normalize(key)
    return bool(needle) and f" {needle} " in f" {normalize(text)} "


def _string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _question_from(record: object, line: int, seen: dict[str, int]) -> Question | str:
    """Build a Question from one parsed line, or return the error message for it."""
    if not isinstance(record, dict):
        return f"line {line}: expected a JSON object, got {type(record).__name__}"
    for name in ("id", "question", "answers", "sources"):
        if name not in record:
            return f"line {line}: missing field '{name}'"
    for name in ("id", "question"):
        if not isinstance(record[name], str) or not record[name].strip():
            got = type(record[name]).__name__
            return f"line {line}: field '{name}' must be a non-empty string, got {got}"
    for name in ("answers", "sources"):
        if not _string_list(record[name]):
            got = type(record[name]).__name__
            return f"line {line}: field '{name}' must be a list of strings, got {got}"
    if record["sources"] and not record["answers"]:
        return f"line {line}: 'sources' given but 'answers' is empty; unanswerable needs both empty"
    for key in record["answers"]:
        if not normalize(key):
            return f"line {line}: answer key {key!r} has no letters or digits"
    if record["id"] in seen:
        return f"line {line}: duplicate id {record['id']!r} (first on line {seen[record['id']]})"
    seen[record["id"]] = line
    known = {"id", "question", "answers", "sources"}
    return Question(
        id=record["id"],
        question=record["question"],
        answers=list(record["answers"]),
        sources=list(record["sources"]),
        extra={k: v for k, v in record.items() if k not in known},
    )


def load_questions(path: str | Path) -> tuple[list[Question], list[str]]:
    """Read a JSON Lines question file: the valid questions and one message per bad line."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError as e:
        raise EvaluationError(
            f"Question file not found: {path}. Pass a JSON Lines file with one "
            '{"id", "question", "answers", "sources"} object per line.'
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise EvaluationError(f"Cannot read question file {path}: {e}") from e
    questions: list[Question] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {number}: not valid JSON: {e.msg} (column {e.colno})")
            continue
        built = _question_from(record, number, seen)
        if isinstance(built, str):
            errors.append(built)
        else:
            questions.append(built)
    return questions, errors


def _is_gold(source: object, gold: Iterable[str]) -> bool:
    """A source matches a gold name exactly, or by file name when the gold name has no folder."""
    if not isinstance(source, str):
        return False
    name = source.rsplit("/", 1)[-1]
    return any(source == g or ("/" not in g and name == g) for g in gold)


def _citation_valid(citation: dict[str, Any], retrieved: Sequence[dict[str, Any]]) -> bool:
    """[n] is within the retrieved list and its chunk_id and source are a retrieved chunk's."""
    n = citation.get("n")
    if not isinstance(n, int) or not 1 <= n <= len(retrieved):
        return False
    chunk_sources = {hit.get("chunk_id"): hit.get("source") for hit in retrieved}
    chunk_id = citation.get("chunk_id")
    return chunk_id in chunk_sources and chunk_sources[chunk_id] == citation.get("source")


def score_result(question: Question, result: dict[str, Any], k: int) -> dict[str, Any]:
    """Score one answer dict against its question; rank/hit fields are None without gold sources."""
    retrieved: list[dict[str, Any]] = list(result.get("retrieved") or [])
    citations: list[dict[str, Any]] = list(result.get("citations") or [])
    text = str(result.get("answer") or "")
    abstained = bool(result.get("abstained"))
    problems: list[str] = []

    gold_rank: int | None = None
    if question.sources:
        gold_rank = next(
            (
                i
                for i, hit in enumerate(retrieved, 1)
                if _is_gold(hit.get("source"), question.sources)
            ),
            None,
        )

    def hit(depth: int) -> bool | None:
        if not (question.answerable and question.sources):
            return None
        return gold_rank is not None and gold_rank <= depth

    missing = [key for key in question.answers if not contains_key(text, key)]
    valid = [c for c in citations if _citation_valid(c, retrieved)]
    gold_cited = any(_is_gold(c.get("source"), question.sources) for c in citations)
    supported = [
        c
        for c in citations
        if any(contains_key(str(c.get("quote") or ""), key) for key in question.answers)
        or _is_gold(c.get("source"), question.sources)
    ]

    if question.answerable:
        correct = not abstained and not missing
        if abstained:
            problems.append("refused although the documents answer it")
        else:
            problems.extend(f"missing key {key!r}" for key in missing)
        if question.sources and gold_rank is None:
            problems.append("gold source not retrieved")
        elif gold_rank is not None and gold_rank > k:
            problems.append(f"first gold source at rank {gold_rank}, below k={k}")
        if not abstained and citations and question.sources and not gold_cited:
            problems.append("no citation to a gold source")
    else:
        correct = abstained
        if not abstained:
            problems.append("expected refusal")
    if not abstained and not citations:
        problems.append("answer has no citations")
    problems.extend(
        f"citation [{c.get('n')}] does not point at a retrieved chunk"
        for c in citations
        if c not in valid
    )

    return {
        "gold_rank": gold_rank,
        "hit@1": hit(1),
        "hit@4": hit(4),
        "hit@k": hit(k),
        "correct": correct,
        "abstained": abstained,
        "missing_keys": missing,
        "cited_valid": len(valid),
        "cited_total": len(citations),
        "supported": len(supported),
        "right_source": (correct and gold_cited) if question.answerable else None,
        "problems": problems,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def stage_timings(results: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Milliseconds per stage across results, stages in first-seen order."""
    stages: dict[str, list[float]] = {}
    for result in results:
        for stage, ms in (result.get("timings_ms") or {}).items():
            if isinstance(ms, int | float) and not isinstance(ms, bool):
                stages.setdefault(str(stage), []).append(float(ms))
    return stages


def _share(part: int | float, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(
    questions: Sequence[Question],
    results: Sequence[dict[str, Any]],
    scores: Sequence[dict[str, Any]],
    k: int,
) -> dict[str, float | int]:
    """Aggregate per-question scores into the flat summary described in the module docstring."""
    if not len(questions) == len(results) == len(scores):
        raise EvaluationError(
            f"{len(questions)} questions, {len(results)} results and {len(scores)} scores: "
            "pass one result and one score per question"
        )
    pairs = list(zip(questions, scores, strict=True))
    answerable = [s for q, s in pairs if q.answerable]
    unanswerable = [s for q, s in pairs if not q.answerable]
    ranked = [s for q, s in pairs if q.answerable and q.sources]
    ranks = [s["gold_rank"] for s in ranked]
    correct = [s for s in answerable if s["correct"]]
    retrieved_max = max((len(r.get("retrieved") or []) for r in results), default=0)
    cited_answerable = sum(s["cited_total"] for s in answerable)

    rates: dict[str, float | None] = {
        "hit@1": _share(sum(r is not None and r <= 1 for r in ranks), len(ranked)),
        "hit@4": _share(sum(r is not None and r <= 4 for r in ranks), len(ranked)),
        "hit@k": _share(sum(r is not None and r <= k for r in ranks), len(ranked)),
        "mrr": _share(sum(1 / r for r in ranks if r is not None), len(ranked)),
        "answer_accuracy": _share(len(correct), len(answerable)),
        "citation_validity": _share(
            sum(s["cited_valid"] for s in scores), sum(s["cited_total"] for s in scores)
        ),
        "citation_support": _share(sum(s["supported"] for s in answerable), cited_answerable),
        "right_source_rate": _share(sum(bool(s["right_source"]) for s in correct), len(correct)),
        "abstention_recall": _share(sum(s["abstained"] for s in unanswerable), len(unanswerable)),
        "false_abstention_rate": _share(sum(s["abstained"] for s in answerable), len(answerable)),
    }
    for depth in range(1, retrieved_max + 1):
        rates[f"hit@{depth}"] = _share(
            sum(r is not None and r <= depth for r in ranks), len(ranked)
        )

    summary: dict[str, float | int] = {n: v for n, v in rates.items() if v is not None}
    summary.update(
        questions=len(questions),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        retrieval_questions=len(ranked),
        correct=len(correct),
        refused=sum(bool(s["abstained"]) for s in scores),
        citations=sum(s["cited_total"] for s in scores),
        citations_valid=sum(s["cited_valid"] for s in scores),
        citations_supported=sum(s["supported"] for s in answerable),
        k=k,
        retrieved_max=retrieved_max,
    )
    for stage, values in stage_timings(results).items():
        summary[f"latency_p50_ms.{stage}"] = round(percentile(values, 50), 2)
        summary[f"latency_p95_ms.{stage}"] = round(percentile(values, 95), 2)
    return summary


def lower_is_better(metric: str) -> bool:
    """True for metrics where a larger value is worse (refusal of answerable ones, latency)."""
    return metric in LOWER_IS_BETTER or bool(_LATENCY_NAME.fullmatch(metric))


def parse_fail_under(items: Sequence[str]) -> dict[str, float]:
    """Parse `METRIC=VALUE` gates; gates on lower-is-better metrics fail when the value is above.

    Higher-is-better metrics (`answer_accuracy=0.9`) fail when below the value; metrics in
    `LOWER_IS_BETTER` and `latency_p50_ms.<stage>`/`latency_p95_ms.<stage>` fail when above it,
    so `--fail-under false_abstention_rate=0.10` means "at most 10% of answerable refused".
    """
    thresholds: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise EvaluationError(f"Bad threshold {item!r}: write METRIC=VALUE, e.g. hit@4=0.8")
        if not (name in RATE_METRICS or _HIT_NAME.fullmatch(name) or _LATENCY_NAME.fullmatch(name)):
            known = ", ".join(RATE_METRICS)
            raise EvaluationError(
                f"Unknown metric {name!r} in {item!r}: use one of {known}, hit@N "
                "or latency_p50_ms.STAGE / latency_p95_ms.STAGE"
            )
        try:
            value = float(raw)
        except ValueError as e:
            raise EvaluationError(f"Bad threshold {item!r}: {raw!r} is not a number") from e
        if not math.isfinite(value):
            raise EvaluationError(f"Bad threshold {item!r}: the value must be a finite number")
        if not _LATENCY_NAME.fullmatch(name) and not 0 <= value <= 1:
            raise EvaluationError(f"Bad threshold {item!r}: {name} is a rate between 0 and 1")
        thresholds[name] = value
    return thresholds


def _fmt(value: float) -> str:
    text = f"{value:.2f}"
    return text if float(text) == value else f"{value:.4f}"


def check_thresholds(summary: dict[str, float | int], thresholds: dict[str, float]) -> list[str]:
    """One line per failed gate, e.g. "answer_accuracy 0.85 < 0.90"; empty when all pass."""
    failures: list[str] = []
    for name, limit in thresholds.items():
        value = summary.get(name)
        if value is None:
            failures.append(
                f"{name} not measured (no questions it applies to) but gated at {_fmt(limit)}"
            )
        elif lower_is_better(name) and value > limit:
            failures.append(f"{name} {_fmt(value)} > {_fmt(limit)}")
        elif not lower_is_better(name) and value < limit:
            failures.append(f"{name} {_fmt(value)} < {_fmt(limit)}")
    return failures


def run_evaluation(
    answer: Any,
    questions: Sequence[Question],
    *,
    k: int,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ask every question through `answer(question, k=k)` (the `citebot ask` pipeline).

    Returns the answers as `ask --json` dicts and their per-question scores.
    """
    from tqdm import tqdm

    results: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for question in tqdm(questions, desc="Evaluating", unit="q", disable=not progress):
        result = answer(question.question, k=k).to_dict()
        results.append(result)
        scores.append(score_result(question, result, k))
    return results, scores
