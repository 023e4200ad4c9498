"""Writing an evaluation run to disk: results.jsonl, summary.json, report.md and two PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.doors.evaluation.run import (
    METRIC_DEFINITIONS,
    RATE_METRICS,
    EvaluationError,
    Question,
    stage_timings,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUOTE_CHARS = 300  # longer quotes are cut in report.md; results.jsonl keeps them whole
STAGE_ORDER = ("retrieve", "pack", "generate", "check", "total")


def _result_record(
    question: Question, result: dict[str, Any], score: dict[str, Any]
) -> dict[str, Any]:
    """One results.jsonl line: the answer dict, the gold fields and the scores."""
    record: dict[str, Any] = {"id": question.id, **result}
    record["id"] = question.id
    record["gold_answers"] = question.answers
    record["gold_sources"] = question.sources
    if question.extra:
        record["extra"] = question.extra
    record["scores"] = score
    return record


def by_file_type(
    questions: Sequence[Question], scores: Sequence[dict[str, Any]]
) -> dict[str, dict[str, int]]:
    """Answerable questions per file type of their (first) gold source: asked, right, refused."""
    table: dict[str, dict[str, int]] = {}
    for question, score in zip(questions, scores, strict=True):
        if not (question.answerable and question.sources):
            continue
        suffix = Path(question.sources[0]).suffix.lower() or "(none)"
        row = table.setdefault(suffix, {"answerable": 0, "right": 0, "refused": 0})
        row["answerable"] += 1
        row["right"] += bool(score["correct"])
        row["refused"] += bool(score["abstained"])
    return dict(sorted(table.items()))


def file_type_lines(questions: Sequence[Question], scores: Sequence[dict[str, Any]]) -> list[str]:
    """One line per source file type: answer accuracy and refusals, for the CLI's summary."""
    return [
        f"accuracy {suffix:15} {row['right'] / row['answerable']:.3f} "
        f"({row['right']}/{row['answerable']}, {row['refused']} refused)"
        for suffix, row in by_file_type(questions, scores).items()
    ]


def _value(summary: dict[str, float | int], name: str) -> str:
    value = summary.get(name)
    if value is None:
        return "n/a"
    return f"{value:.3f}" if name in RATE_METRICS else str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failure_section(
    question: Question, result: dict[str, Any], score: dict[str, Any]
) -> list[str]:
    """Markdown for one question that has problems."""
    lines = [f"### {question.id}: {_one_line(question.question)}", ""]
    answer = str(result.get("answer") or "").strip() or "(empty)"
    lines += [f"> {line}" for line in answer.splitlines()] + [""]
    refused = "yes" if result.get("abstained") else "no"
    expected = ", ".join(f"`{key}`" for key in question.answers) or "a refusal"
    lines.append(f"- refused: {refused}; expected: {expected}")
    if question.sources:
        gold = ", ".join(question.sources)
        rank = score["gold_rank"] or "not retrieved"
        lines.append(f"- gold sources: {gold}; first retrieved at rank: {rank}")
    retrieved = [str(hit.get("source")) for hit in result.get("retrieved") or []]
    lines.append(f"- retrieved: {', '.join(retrieved) or '(nothing)'}")
    for citation in result.get("citations") or []:
        quote = _one_line(str(citation.get("quote") or ""))
        if len(quote) > QUOTE_CHARS:
            quote = quote[:QUOTE_CHARS] + "…"
        lines.append(f'- citation [{citation.get("n")}] {citation.get("source")}: "{quote}"')
    lines += [f"- problem: {problem}" for problem in score["problems"]]
    return [*lines, ""]


def _markdown(
    questions: Sequence[Question],
    results: Sequence[dict[str, Any]],
    scores: Sequence[dict[str, Any]],
    summary: dict[str, float | int],
) -> str:
    """The whole report.md text."""
    backends = sorted({f"{r.get('backend')} ({r.get('model') or 'no model'})" for r in results})
    lines = [
        "# citebot evaluation",
        "",
        f"{summary.get('questions', len(questions))} questions "
        f"({summary.get('answerable', 0)} answerable, "
        f"{summary.get('unanswerable', 0)} unanswerable), "
        f"k = {summary.get('k')}, backend: {', '.join(backends) or 'n/a'}.",
        "",
        "| metric | value | definition |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {_value(summary, name)} | {definition} |"
        for name, definition in METRIC_DEFINITIONS.items()
    ]
    stages = _ordered_stages(stage_timings(results))
    if stages:
        lines += ["", "## Latency (ms)", "", "| stage | p50 | p95 |", "|---|---|---|"]
        lines += [
            f"| {stage} | {summary.get(f'latency_p50_ms.{stage}', 'n/a')} "
            f"| {summary.get(f'latency_p95_ms.{stage}', 'n/a')} |"
            for stage in stages
        ]
    table = by_file_type(questions, scores)
    if table:
        lines += ["", "## Answer accuracy by file type", ""]
        lines += [
            "| file type | answerable | right | accuracy | refused |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {suffix} | {row['answerable']} | {row['right']} "
            f"| {row['right'] / row['answerable']:.3f} | {row['refused']} |"
            for suffix, row in table.items()
        ]
    lines += ["", "![retrieval hit rate by k](hit_rate_by_k.png)", ""]
    lines += ["![latency by stage](latency_by_stage.png)", ""]
    failing = [
        (q, r, s) for q, r, s in zip(questions, results, scores, strict=True) if s["problems"]
    ]
    lines += [f"## Failures ({len(failing)})", ""]
    if not failing:
        lines += ["None.", ""]
    for question, result, score in failing:
        lines += _failure_section(question, result, score)
    return "\n".join(lines)


def _ordered_stages(stages: dict[str, list[float]]) -> dict[str, list[float]]:
    """Known pipeline stages in pipeline order, then any others alphabetically."""
    known = [s for s in STAGE_ORDER if s in stages]
    others = sorted(s for s in stages if s not in STAGE_ORDER)
    return {s: stages[s] for s in [*known, *others]}


def _save(figure: Figure, path: Path) -> None:
    """Render with the Agg canvas (no GUI, no pyplot global state) and write a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100)


def _plot_hit_rate(summary: dict[str, float | int], path: Path) -> None:
    """Retrieval hit rate against k, from the summary's hit@1..hit@retrieved_max."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    deepest = int(summary.get("retrieved_max", 0))
    depths = [d for d in range(1, deepest + 1) if f"hit@{d}" in summary]
    if depths:
        rates = [float(summary[f"hit@{d}"]) for d in depths]
        axes.plot(depths, rates, marker="o")
        axes.set_xticks(depths)
    else:
        axes.text(0.5, 0.5, "no answerable questions with gold sources", ha="center", va="center")
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("k (chunks retrieved)")
    axes.set_ylabel("hit rate (gold source in top k)")
    axes.set_title(f"Retrieval hit rate by k ({summary.get('retrieval_questions', 0)} questions)")
    axes.grid(alpha=0.3)
    _save(figure, path)


def _plot_latency(results: Sequence[dict[str, Any]], path: Path) -> None:
    """A box plot of milliseconds per pipeline stage."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    stages = _ordered_stages(stage_timings(results))
    if stages:
        axes.boxplot(list(stages.values()), tick_labels=list(stages))
        values = [v for times in stages.values() for v in times]
        # An LLM stage can take 1000x a retrieval; a log scale keeps the short stages visible.
        if min(values) > 0 and max(values) / min(values) > 100:
            axes.set_yscale("log")
    else:
        axes.text(0.5, 0.5, "no timings recorded", ha="center", va="center")
    axes.set_ylabel("milliseconds")
    axes.set_title(f"Latency by stage ({len(results)} answers)")
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)


def write_report(
    out_dir: str | Path,
    questions: Sequence[Question],
    results: Sequence[dict[str, Any]],
    scores: Sequence[dict[str, Any]],
    summary: dict[str, float | int],
) -> list[Path]:
    """Write results.jsonl, summary.json, report.md and the two plots; return their paths."""
    if not len(questions) == len(results) == len(scores):
        raise EvaluationError(
            f"{len(questions)} questions, {len(results)} results and {len(scores)} scores: "
            "pass one result and one score per question"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = ("results.jsonl", "summary.json", "report.md")
    plots = ("hit_rate_by_k.png", "latency_by_stage.png")
    paths = {name: out / name for name in (*names, *plots)}
    records = [_result_record(q, r, s) for q, r, s in zip(questions, results, scores, strict=True)]
    paths["results.jsonl"].write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    paths["summary.json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    paths["report.md"].write_text(_markdown(questions, results, scores, summary), encoding="utf-8")
    _plot_hit_rate(summary, paths["hit_rate_by_k.png"])
    _plot_latency(results, paths["latency_by_stage.png"])
    return list(paths.values())
