"""The same SQuAD 2.0 paragraphs as clean text, wrapped text, Markdown, HTML and PDF, answered alike?

Usage: .venv/bin/python benchmarks/formats.py [--split train|validation|test] [--limit N]
                                               [--formats clean,wrapped,markdown,html,pdf]

Each article's paragraphs are cut into documents of a few paragraphs, and each document is written
five ways: clean `.txt` (one paragraph per line), `.txt` hard-wrapped at 72 columns, Markdown
(front matter, headings, wrapped lines, emphasis, a list), HTML (inline `<b>`, `<a>`, `<em>`
inside sentences, a nav bar, a header and a footer) and a multi-page PDF (fpdf2, a running header
and page numbers). Every question of those articles goes through `citebot eval` with the offline
backend, per format, and one table is printed: answer accuracy, right source, abstention recall,
false abstention, and PDF page accuracy (the share of PDF citations whose page holds the start of
the quote, checked against pypdf's text of that page).

Articles are split so that tuning never sees the test articles: tune on `train` and `validation`,
report `test` once at the end.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO / "benchmarks" / "data" / "squad-v2-dev-a.json"
OUT = REPO / "benchmarks" / "out" / "formats"
SPLITS = {
    "train": ("Normans", "Huguenot", "Yuan_dynasty", "Imperialism"),
    "validation": ("1973_oil_crisis", "Scottish_Parliament"),
    "test": ("Packet_switching", "French_and_Indian_War"),
}
FORMATS = ("clean", "wrapped", "markdown", "html", "pdf")
SUFFIX = {"clean": ".txt", "wrapped": ".txt", "markdown": ".md", "html": ".html", "pdf": ".pdf"}
PARAGRAPHS_PER_DOCUMENT = 4


def documents(split: str) -> list[tuple[str, str, list[str], list[dict[str, Any]]]]:
    """(name, article title, paragraphs, questions) per document of the split's articles."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    out = []
    for article in data:
        if article["title"] not in SPLITS[split]:
            continue
        paragraphs = article["paragraphs"]
        for first in range(0, len(paragraphs), PARAGRAPHS_PER_DOCUMENT):
            group = paragraphs[first : first + PARAGRAPHS_PER_DOCUMENT]
            name = f"{article['title']}_{first // PARAGRAPHS_PER_DOCUMENT:02d}"
            qas = [qa for p in group for qa in p["qas"]]
            out.append(
                (name, article["title"].replace("_", " "), [p["context"] for p in group], qas)
            )
    return out


def inline_markup(paragraph: str, rng: random.Random) -> str:
    """HTML for a paragraph with about one word in eight inside <b>, <a> or <em>."""
    words = paragraph.split(" ")
    out = []
    for word in words:
        escaped = html.escape(word)
        if len(word) > 3 and rng.random() < 0.125:
            tag = rng.choice(["b", "em", "a"])
            attrs = ' href="/wiki/x"' if tag == "a" else ""
            core = re.match(r"^(.*?)([.,;:!?]*)$", escaped)
            assert core is not None
            escaped = f"<{tag}{attrs}>{core.group(1)}</{tag}>{core.group(2)}"
        out.append(escaped)
    return " ".join(out)


def render(fmt: str, title: str, part: int, paragraphs: list[str], rng: random.Random) -> bytes:
    """One document in one format."""
    heading = f"{title}, part {part + 1}"
    if fmt == "clean":
        return ("\n".join([heading, *paragraphs]) + "\n").encode()
    if fmt == "wrapped":
        body = "\n\n".join(textwrap.fill(p, 72) for p in paragraphs)
        return f"{heading}\n\n{body}\n".encode()
    if fmt == "markdown":
        lines = [f"---\ntitle: {heading}\n---\n", f"# {heading}\n"]
        for n, paragraph in enumerate(paragraphs, start=1):
            lines.append(f"## Section {n}\n")
            words = paragraph.split(" ")
            words = [
                f"**{w}**" if len(w) > 6 and w.isalpha() and rng.random() < 0.1 else w
                for w in words
            ]
            lines.append(textwrap.fill(" ".join(words), 80) + "\n")
        lines.append("## See also\n\n- Related articles\n- External links\n")
        return "\n".join(lines).encode()
    if fmt == "html":
        body = "\n".join(
            f"<h2>Section {n}</h2>\n<p>{inline_markup(p, rng)}</p>"
            for n, p in enumerate(paragraphs, 1)
        )
        return (
            f"<!doctype html><html><head><title>{html.escape(heading)}</title></head><body>"
            '<header><a href="/">Home</a> | <a href="/search">Search</a></header>'
            '<nav><ul><li><a href="/a">Main page</a></li><li><a href="/b">Contents</a></li>'
            '<li><a href="/c">Random article</a></li></ul></nav>'
            f"<main><h1>{html.escape(heading)}</h1>\n{body}</main>"
            "<footer><p>Text is available under a licence. Privacy policy. About us.</p></footer>"
            "</body></html>"
        ).encode()
    if fmt == "pdf":
        return pdf_bytes(heading, paragraphs)
    raise ValueError(fmt)


def pdf_bytes(heading: str, paragraphs: list[str]) -> bytes:
    """A multi-page PDF: a running header with the title, page numbers, paragraphs in 11 pt."""
    from fpdf import FPDF
    from matplotlib import get_data_path

    font = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"

    class Document(FPDF):  # type: ignore[misc]
        def header(self) -> None:
            self.set_font("dejavu", size=8)
            self.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("dejavu", size=8)
            self.cell(0, 10, f"Page {self.page_no()}", align="C")

    pdf = Document(format=(148, 210))  # A5
    pdf.add_font("dejavu", fname=str(font))
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("dejavu", size=14)
    pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=10)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    return bytes(pdf.output())


def write_set(fmt: str, docs: list[Any], folder: Path, limit: int | None) -> Path:
    """Write the corpus of one format and its question file; return the question file."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    lines = []
    for name, title, paragraphs, qas in docs:
        source = name + SUFFIX[fmt]
        part = int(name.rsplit("_", 1)[1])
        (corpus / source).write_bytes(render(fmt, title, part, paragraphs, rng))
        for qa in qas:
            answers = [a["text"] for a in qa["answers"] if a["text"].strip()]
            answerable = not qa.get("is_impossible") and answers
            lines.append(
                {
                    "id": qa["id"],
                    "question": qa["question"],
                    "answers": [answers[0]] if answerable else [],
                    "sources": [source] if answerable else [],
                }
            )
    if limit:
        lines = random.Random(11).sample(lines, min(limit, len(lines)))
    questions = folder / "questions.jsonl"
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return questions


def page_accuracy(results: Path, corpus: Path) -> tuple[int, int]:
    """(PDF citations whose page holds the start of the quote, PDF citations).

    Each page's text is pypdf's, less the running header and page number this script wrote, so a
    quote that starts at the foot of one page and runs onto the next is found where it starts.
    """
    from pypdf import PdfReader

    texts: dict[str, tuple[str, list[int]]] = {}
    right = total = 0
    for line in results.read_text(encoding="utf-8").splitlines():
        for citation in json.loads(line).get("citations") or []:
            source = str(citation.get("source"))
            if not source.endswith(".pdf"):
                continue
            if source not in texts:
                folded = [
                    _fold("\n".join((page.extract_text() or "").split("\n")[1:-1]))
                    for page in PdfReader(str(corpus / source)).pages
                ]
                starts = [sum(len(p) + 1 for p in folded[:i]) for i in range(len(folded))]
                texts[source] = (" ".join(folded), starts)
            total += 1
            text, starts = texts[source]
            start = " ".join(_fold(str(citation.get("quote") or "")).split()[:6])
            found = text.find(start)
            page = citation.get("page")
            if found >= 0 and isinstance(page, int):
                holding = max(i for i, s in enumerate(starts) if s <= found) + 1
                right += holding == page
    return right, total


def _fold(text: str) -> str:
    """Text compared across line breaks and hyphenation: words only, one space apart."""
    text = re.sub(r"-\s*\n\s*", "", text)
    return " ".join(re.findall(r"\w+", text.lower()))


def run_format(fmt: str, docs: list[Any], limit: int | None) -> dict[str, Any]:
    """Ingest and evaluate one format; its summary plus PDF page accuracy."""
    from click.testing import CliRunner

    from bot.doors.cli import cli

    work = Path(tempfile.mkdtemp(prefix=f"citebot-formats-{fmt}-"))
    questions = write_set(fmt, docs, work, limit)
    out = OUT / fmt
    os.environ.update(
        CITEBOT_CORPUS_DIR=str(work / "corpus"),
        CITEBOT_DATA_DIR=str(work / "data"),
        CITEBOT_BACKEND="extractive",
    )
    started = time.perf_counter()
    ingest = CliRunner().invoke(cli, ["ingest", str(work / "corpus")], catch_exceptions=False)
    ingest_seconds = time.perf_counter() - started
    if ingest.exit_code:
        raise SystemExit(ingest.output)
    result = CliRunner().invoke(
        cli,
        ["eval", str(questions), "--out", str(out), "--backend", "extractive", "--quiet"],
        catch_exceptions=False,
    )
    if result.exit_code:
        raise SystemExit(result.output)
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["ingest_seconds"] = ingest_seconds
    if fmt == "pdf":
        right, total = page_accuracy(out / "results.jsonl", work / "corpus")
        summary["page_accuracy"] = right / total if total else None
        summary["pdf_citations"] = total
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run every format and print one table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="validation")
    parser.add_argument("--limit", type=int, help="At most N questions per format (sampled).")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args(argv)
    docs = documents(args.split)
    rows = []
    for fmt in args.formats.split(","):
        summary = run_format(fmt, docs, args.limit)
        rows.append((fmt, summary))
        print(f"{fmt}: done ({summary.get('questions')} questions)", flush=True)

    def cell(summary: dict[str, Any], key: str) -> str:
        value = summary.get(key)
        return f"{value:.3f}" if isinstance(value, float) else "—"

    lines = [
        f"Split {args.split} ({', '.join(SPLITS[args.split])}): {len(docs)} documents, "
        f"{rows[0][1].get('answerable')} answerable and {rows[0][1].get('unanswerable')} "
        "unanswerable questions per format; offline extractive backend.",
        "",
        "| format | accuracy | right source | abstention recall | false abstention "
        "| PDF page accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fmt, summary in rows:
        lines.append(
            f"| {fmt} | {cell(summary, 'answer_accuracy')} | {cell(summary, 'right_source_rate')} "
            f"| {cell(summary, 'abstention_recall')} | {cell(summary, 'false_abstention_rate')} "
            f"| {cell(summary, 'page_accuracy')} |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"table-{args.split}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
