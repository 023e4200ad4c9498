"""The real-docs development set: 17 real files (Markdown, HTML, PDF, text, Word), 60 questions.

Usage: .venv/bin/python benchmarks/real_docs.py [--set dev|heldout] [--data DIR] [--out DIR]

Ingests the set's `corpus/` into a fresh index (timed), runs `citebot eval` on its questions with
the offline backend, and prints the per-format table: answerable questions, right answers and
refusals per format, overall accuracy, false abstention and abstention recall. For the dev set
(`benchmarks/data/real-docs`, the default) the figures stand beside those measured before the text
layer (issue "Real files", same set, same scoring). `--set heldout` runs the held-out test set
(`benchmarks/data/heldout-docs`), and `--data DIR` any folder with `corpus/` and
`questions.jsonl`; those print only the figures measured now. The held-out set is for reporting:
never tune on it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = {
    "dev": REPO / "benchmarks" / "data" / "real-docs",
    "heldout": REPO / "benchmarks" / "data" / "heldout-docs",
}
OUT = REPO / "benchmarks" / "out"
FORMATS = {
    "Markdown": (".md",),
    "HTML": (".html", ".htm"),
    "PDF": (".pdf",),
    "plain text": (".txt",),
    "DOCX": (".docx",),
}
# Measured before the text layer, with the offline backend and default settings: (right, refused).
BEFORE = {
    "Markdown": (5, 1),
    "HTML": (1, 5),
    "PDF": (5, 1),
    "plain text": (3, 0),
    "DOCX": (0, 6),
}
BEFORE_TOTALS = {"accuracy": 0.31, "false_abstention": 0.29, "abstention_recall": 0.40}


def main(argv: Sequence[str] | None = None) -> int:
    """Ingest, evaluate and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="dev", dest="name")
    parser.add_argument("--data", type=Path, help="a set's folder (corpus/, questions.jsonl)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    data = args.data or SETS[args.name]
    # The BEFORE figures belong to the dev set only.
    compare = args.data is None and args.name == "dev"
    out = args.out or OUT / ("real_docs" if compare else data.name.replace("-", "_"))
    work = Path(tempfile.mkdtemp(prefix="citebot-real-docs-"))
    corpus = data / "corpus"
    os.environ.update(
        CITEBOT_CORPUS_DIR=str(corpus),
        CITEBOT_DATA_DIR=str(work / "data"),
        CITEBOT_BACKEND="extractive",
    )
    from click.testing import CliRunner

    from bot.doors.cli import cli

    started = time.perf_counter()
    ingest = CliRunner().invoke(cli, ["ingest", str(corpus)], catch_exceptions=False)
    ingest_seconds = time.perf_counter() - started
    print(ingest.output.strip().splitlines()[-1])
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            str(data / "questions.jsonl"),
            "--out",
            str(out),
            "--backend",
            "extractive",
            "--quiet",
        ],
        catch_exceptions=False,
    )
    print(result.output)
    records = [
        json.loads(line)
        for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    lines = (
        [
            "| format | answerable | right (before → now) | refused (before → now) |",
            "|---|---:|---:|---:|",
        ]
        if compare
        else ["| format | files | answerable | right | refused |", "|---|---:|---:|---:|---:|"]
    )
    files = [path.name.lower() for path in corpus.iterdir() if path.is_file()]
    answerable = [r for r in records if r["gold_answers"]]
    unanswerable = [r for r in records if not r["gold_answers"]]
    for name, suffixes in FORMATS.items():
        rows = [r for r in answerable if r["gold_sources"][0].lower().endswith(suffixes)]
        right = sum(bool(r["scores"]["correct"]) for r in rows)
        refused = sum(bool(r["scores"]["abstained"]) for r in rows)
        if compare:
            before_right, before_refused = BEFORE[name]
            lines.append(
                f"| {name} | {len(rows)} | {before_right} → {right} "
                f"| {before_refused} → {refused} |"
            )
        elif rows or any(file.endswith(suffixes) for file in files):
            count = sum(file.endswith(suffixes) for file in files)
            lines.append(f"| {name} | {count} | {len(rows)} | {right} | {refused} |")
    accuracy = sum(bool(r["scores"]["correct"]) for r in answerable) / len(answerable)
    false_abstention = sum(bool(r["scores"]["abstained"]) for r in answerable) / len(answerable)
    recall = sum(bool(r["scores"]["abstained"]) for r in unanswerable) / len(unanswerable)
    if compare:
        lines += [
            f"| all | {len(answerable)} | {BEFORE_TOTALS['accuracy']:.2f} → {accuracy:.2f} "
            f"| {BEFORE_TOTALS['false_abstention']:.2f} → {false_abstention:.2f} |",
            f"| unanswerable | {len(unanswerable)} | abstained "
            f"{BEFORE_TOTALS['abstention_recall']:.2f} → {recall:.2f} | — |",
            "",
            f"Ingest: {ingest_seconds:.0f} s on {os.cpu_count()} cores "
            "(before: 270 s, 1,241 chunks).",
        ]
    else:
        lines += [
            f"| all | {len(files)} | {len(answerable)} | accuracy {accuracy:.2f} "
            f"| false abstention {false_abstention:.2f} |",
            f"| unanswerable | | {len(unanswerable)} | abstained (recall) {recall:.2f} | — |",
            "",
            f"Ingest: {ingest_seconds:.0f} s on {os.cpu_count()} cores.",
        ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
