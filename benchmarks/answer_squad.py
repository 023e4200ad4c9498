"""SQuAD 2.0 as an open corpus, answered by `citebot eval` with the offline backend.

Usage: .venv/bin/python benchmarks/answer_squad.py [SQUAD_JSON] [--limit N | --sample N]
           [--skip-retrieval] [--fail-under METRIC=VALUE ...]

SQUAD_JSON defaults to the validation articles, benchmarks/data/squad-v2-validation.json (the
train, validation and test splits there are whole articles of ../shared/benchmarks/, copied).
`--sample N` takes N questions evenly spread over the file; `--fail-under` is passed to
`citebot eval`, so the script exits non-zero when a metric falls below its floor (the gate).

Every paragraph becomes a document (an .html file carrying its article title); every question,
answerable or not, goes through `citebot eval` exactly as a user would run it: answer accuracy on
the answerable questions (the first gold answer must appear in the answer), abstention recall on
the unanswerable ones, the false-abstention rate. Then the retrieval comparison of
`benchmarks/retrieval_squad.py` runs in the same process, and both land in one report:
`benchmarks/out/answer_squad/benchmark.md` (plus eval's own report.md, plots and results).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrieval_squad  # (the sibling benchmark: SQuAD reading, corpus writing)

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out" / "answer_squad"
VALIDATION = REPO / "benchmarks" / "data" / "squad-v2-validation.json"


def write_questions(
    squad: Path, path: Path, limit: int | None, sample: int | None = None
) -> tuple[int, int]:
    """The SQuAD questions as citebot's JSON Lines question set; returns (answerable, not)."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    lines: list[str] = []
    for article in data:
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", article["title"])
        for number, paragraph in enumerate(article["paragraphs"]):
            source = f"{folder}/{number:03d}.html"
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"] if a["text"].strip()]
                answerable = not qa.get("is_impossible") and answers
                lines.append(
                    json.dumps(
                        {
                            "id": qa["id"],
                            "question": qa["question"],
                            # citebot's format wants every key; SQuAD's alternatives are
                            # paraphrases of one answer, so the first annotator's is the key.
                            "answers": [answers[0]] if answerable else [],
                            "sources": [source] if answerable else [],
                            "squad_alternatives": answers,
                        }
                    )
                )
    if limit:
        lines = lines[:limit]
    if sample and sample < len(lines):
        lines = [lines[i * len(lines) // sample] for i in range(sample)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    answerable = sum(1 for line in lines if json.loads(line)["answers"])
    return answerable, len(lines) - answerable


def main(argv: Sequence[str] | None = None) -> int:
    """Run the answer benchmark, then the retrieval comparison, and write one report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("squad", nargs="?", type=Path, default=VALIDATION)
    parser.add_argument("--limit", type=int, help="Only the first N questions (a quick look).")
    parser.add_argument("--sample", type=int, help="N questions evenly spread over the file.")
    parser.add_argument(
        "--fail-under", action="append", default=[], metavar="METRIC=VALUE", help="A floor."
    )
    parser.add_argument("--out", type=Path, default=OUT, help="Where the reports go.")
    parser.add_argument(
        "--skip-retrieval", action="store_true", help="Skip the retrieval comparison."
    )
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        parser.error(f"{args.squad} not found: pass the path of a SQuAD 2.0 JSON file")

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="citebot-squad-"))
    corpus = work / "corpus"
    paragraphs, _ = retrieval_squad.read_squad(args.squad, "html")
    retrieval_squad.write_corpus(paragraphs, corpus, "html")
    questions = work / "questions.jsonl"
    answerable, unanswerable = write_questions(args.squad, questions, args.limit, args.sample)

    os.environ.update(
        CITEBOT_CORPUS_DIR=str(corpus),
        CITEBOT_DATA_DIR=str(work / "data"),
        CITEBOT_BACKEND="extractive",
    )
    from click.testing import CliRunner

    from bot.doors.cli import cli

    started = time.perf_counter()
    floors = [f for item in args.fail_under for f in ("--fail-under", item)]
    result = CliRunner().invoke(
        cli,
        ["eval", str(questions), "--out", str(out), "--backend", "extractive", "--quiet", *floors],
        catch_exceptions=False,
    )
    eval_seconds = time.perf_counter() - started
    print(result.output)
    if result.exit_code != 0:
        return result.exit_code
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    rows = [
        ("answer accuracy (answerable)", "answer_accuracy"),
        ("right-source rate (correct answers)", "right_source_rate"),
        ("abstention recall (unanswerable)", "abstention_recall"),
        ("false-abstention rate (answerable)", "false_abstention_rate"),
        ("citation validity", "citation_validity"),
        ("citation support", "citation_support"),
        ("retrieval hit@1 / hit@4 (gold paragraph)", "hit@1"),
        ("latency p50 / p95 total, ms", "latency_p50_ms.total"),
    ]
    lines = [
        "# SQuAD 2.0 open-corpus benchmark",
        "",
        f"File: `{args.squad.name}`; {len(paragraphs)} paragraphs as documents; "
        f"{answerable} answerable and {unanswerable} unanswerable questions; offline extractive "
        f"backend through `citebot eval` ({eval_seconds:.0f} s on {os.cpu_count()} cores).",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for label, key in rows:
        if key == "hit@1":
            value = f"{summary.get('hit@1', 0):.3f} / {summary.get('hit@4', 0):.3f}"
        elif key.startswith("latency"):
            value = f"{summary.get(key, 0):.0f} / {summary.get('latency_p95_ms.total', 0):.0f}"
        else:
            value = f"{summary[key]:.3f}" if key in summary else "n/a"
        lines.append(f"| {label} | {value} |")
    lines.append("")
    if not args.skip_retrieval:
        retrieval_squad.main([str(args.squad)])
        retrieval = retrieval_squad.OUT
        lines += [
            "## Retrieval comparison (same run)",
            "",
            f"See `{retrieval.relative_to(REPO)}`:",
            "",
        ]
        lines.append("```json")
        lines.append(retrieval.read_text(encoding="utf-8").strip())
        lines.append("```")
    report = out / "benchmark.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:20]))
    print(f"\nreport: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
