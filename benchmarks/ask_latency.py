"""Warm `ask` latency with the offline extractive backend (issue target: p95 under 150 ms).

Usage: .venv/bin/python benchmarks/ask_latency.py [--rounds 3] [--questions tests/data/seed_questions.jsonl]

Builds the answer service once (ingesting corpus/ into a temporary data dir), asks every seed
question once to warm caches, then times `Answerer.answer` over several rounds: the same object
and pipeline `citebot ask` uses, minus process start-up and model loading.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Measure and print p50/p95/max per stage."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=Path, default=REPO / "tests/data/seed_questions.jsonl")
    args = parser.parse_args()

    os.environ["CITEBOT_DATA_DIR"] = tempfile.mkdtemp(prefix="citebot-bench-")
    os.environ["CITEBOT_CORPUS_DIR"] = str(REPO / "corpus")
    os.environ["CITEBOT_BACKEND"] = "extractive"
    from bot.doors.evaluation.run import load_questions
    from bot.settings import load_settings
    from bot.wiring import build_answerer

    answerer = build_answerer(load_settings(None))
    questions, _ = load_questions(args.questions)
    for q in questions:  # warm-up: model, sentence-embedding cache, BM25
        answerer.answer(q.question)
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for q in questions:
            # Timed as a new question: its vector is computed, not recalled from the last round.
            answerer.index.embeddings.forget_queries()
            started = time.perf_counter()
            answer = answerer.answer(q.question)
            totals.append((time.perf_counter() - started) * 1000)
            for stage, ms in answer.timings_ms.items():
                stages.setdefault(stage, []).append(ms)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    print(
        f"warm ask, extractive backend, {len(totals)} calls ({len(questions)} questions x {args.rounds} rounds), {os.cpu_count()} cores"
    )
    print("| stage | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for stage, values in stages.items():
        print(f"| {stage} | {pct(values, 0.5):.1f} | {pct(values, 0.95):.1f} | {max(values):.1f} |")
    print(
        f"| wall (answer call) | {statistics.median(totals):.1f} | {pct(totals, 0.95):.1f} | {max(totals):.1f} |"
    )
    print(f"target p95 < 150 ms: {'met' if pct(totals, 0.95) < 150 else 'NOT met'}")


if __name__ == "__main__":
    main()
