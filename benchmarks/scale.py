"""What an index costs as the corpus grows: ingest, disk, RAM, search and re-ingest at 1k-20k chunks.

Synthetic corpora of realistic text: documents of sentences drawn (seeded) from the SQuAD
paragraphs in benchmarks/data/squad_paragraphs.json, written as .txt files, sized to about the
number of chunks asked. Each size runs in its own process (so peak RAM is that size's), through
citebot's own CorpusIndex with default settings, and measures:

- ingest time, and where it went (load, chunk, embed, store, bm25);
- index size on disk (Chroma + BM25 cache);
- peak RAM (the process's max RSS, model included; the RSS after loading the model is shown too);
- warm search p50/p95 (every query embedded as a new one);
- re-ingest time when nothing changed, and when 1% of the files changed.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,5000,20000] [--big-file-mb 2]

Writes benchmarks/out/scale.json, a markdown table on stdout, and benchmarks/scale.png.
`--big-file-mb N` also ingests one N MB text file and reports its time and peak RAM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.stats import percentile  # noqa: E402  (after the sys.path line)

DATA = REPO / "benchmarks" / "data" / "squad_paragraphs.json"
OUT = REPO / "benchmarks" / "out" / "scale.json"
PLOT = REPO / "benchmarks" / "scale.png"
SENTENCES_PER_PARAGRAPH = 6
PARAGRAPHS_PER_DOCUMENT = 3
QUERIES = 100
# `--runtime random`: seeded random vectors instead of the embedder (a memory diagnostic).
RANDOM_RUNTIME = "random"


def random_vectors() -> Any:
    """A diagnostic embedder: seeded random unit vectors, MiniLM's size, no model loaded.

    With it, loading, chunking, Chroma's writes and the BM25 build are real while the embedder's
    own time and memory are left out, so what grows with the corpus shows apart from the model's
    fixed working set (`--runtime random`; its answers mean nothing).
    """
    import hashlib

    import numpy as np

    from retrieval.embeddings import NamedEmbeddings

    class _RandomVectors(NamedEmbeddings):
        model_id = "diagnostic:random-384"

        def _vector(self, text: str) -> list[float]:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
            return [float(x) for x in vector / np.linalg.norm(vector)]

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self._vector(text) for text in texts]

        def embed_query(self, text: str) -> list[float]:
            return self._vector(text)

        def dimension(self) -> int:
            return 384

    return _RandomVectors()


def sentence_pool() -> list[str]:
    """Every sentence of the SQuAD paragraphs (a plain split: the text only needs to be real)."""
    paragraphs = json.loads(DATA.read_text(encoding="utf-8"))["paragraphs"]
    pool: list[str] = []
    for paragraph in paragraphs:
        pool.extend(s for s in re.split(r"(?<=[.!?])\s+", paragraph["text"]) if len(s) > 20)
    return pool


def make_document(rng: random.Random, pool: Sequence[str], number: int) -> str:
    """A document: a title line, then paragraphs of sentences drawn from the pool."""
    paragraphs = [
        " ".join(rng.choice(pool) for _ in range(SENTENCES_PER_PARAGRAPH))
        for _ in range(PARAGRAPHS_PER_DOCUMENT)
    ]
    return f"Document {number}\n\n" + "\n\n".join(paragraphs) + "\n"


def write_corpus(root: Path, chunks_wanted: int, seed: int = 7) -> int:
    """Write documents until their estimated chunk count reaches `chunks_wanted`; files written."""
    from retrieval.config import RetrievalSettings
    from retrieval.tokens import CHUNKING_ENCODING, get_encoding

    settings = RetrievalSettings(_env_file=None)  # type: ignore[call-arg]
    encoding = get_encoding(CHUNKING_ENCODING)
    stride = settings.chunk_tokens - settings.chunk_overlap
    rng = random.Random(seed)
    pool = sentence_pool()
    estimated, number = 0, 0
    while estimated < chunks_wanted:
        text = make_document(rng, pool, number)
        folder = root / f"part{number // 500:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"doc{number:06d}.txt").write_text(text, encoding="utf-8")
        tokens = len(encoding.encode(text))
        estimated += max(1, math.ceil((tokens - settings.chunk_overlap) / stride))
        number += 1
    return number


def write_big_file(root: Path, megabytes: float, seed: int = 11) -> None:
    """One text file of about `megabytes` MB: paragraphs of pool sentences."""
    rng = random.Random(seed)
    pool = sentence_pool()
    root.mkdir(parents=True, exist_ok=True)
    target = int(megabytes * 1_000_000)
    with (root / "big.txt").open("w", encoding="utf-8") as out:
        written = 0
        while written < target:
            paragraph = " ".join(rng.choice(pool) for _ in range(SENTENCES_PER_PARAGRAPH)) + "\n\n"
            written += out.write(paragraph)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1_000_000


def disk_mb(folder: Path) -> float:
    """Bytes under `folder`, in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1_000_000


def change_files(corpus: Path, share: float, seed: int = 3) -> int:
    """Rewrite one sentence in `share` of the files (at least one); how many were changed."""
    files = sorted(corpus.rglob("*.txt"))
    rng = random.Random(seed)
    chosen = rng.sample(files, max(1, round(len(files) * share)))
    for path in chosen:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(". ", ". Edited for the benchmark. ", 1), encoding="utf-8")
    return len(chosen)


def measure(corpus: Path, data_dir: Path, runtime: str, *, repeat_ingests: bool) -> dict[str, Any]:
    """Ingest `corpus` into a fresh index and measure it (runs inside the child process)."""
    from retrieval.config import PathSettings, RetrievalSettings
    from retrieval.embeddings import make_embeddings
    from retrieval.index import CorpusIndex

    settings = RetrievalSettings(  # type: ignore[call-arg]
        _env_file=None,
        chroma_host="",
        embedding_runtime="onnx-int8" if runtime == RANDOM_RUNTIME else runtime,
    )
    embeddings = (
        random_vectors()
        if runtime == RANDOM_RUNTIME
        else make_embeddings(settings, model_cache_dir=REPO / ".citebot" / "models")
    )
    embeddings.embed_for_index(["load the model"])
    embeddings.embed_query("load the model")
    rss_model = current_rss_mb()
    paths = PathSettings(data_dir=data_dir, corpus_dir=corpus)  # type: ignore[call-arg]
    index = CorpusIndex.open(paths, settings, embeddings)

    report = index.ingest(corpus)
    row: dict[str, Any] = {
        "files": report.documents_total,
        "chunks": report.chunks_total,
        "passages": int(index.store.passages.count()),
        "ingest_s": round(report.seconds, 2),
        "stages_s": {k: round(v, 2) for k, v in report.stages.items()},
        "disk_mb": round(disk_mb(data_dir), 1),
        "rss_after_model_mb": round(rss_model, 1),
        "peak_rss_after_ingest_mb": round(peak_rss_mb(), 1),
    }

    searcher = index.searcher()
    rng = random.Random(5)
    pool = sentence_pool()
    queries = [" ".join(rng.choice(pool).split()[:9]) for _ in range(QUERIES)]
    for query in queries[:5]:
        searcher.search(query)
    latencies = []
    for query in queries:
        embeddings.forget_queries()
        started = time.perf_counter()
        searcher.search(query)
        latencies.append(time.perf_counter() - started)
    row["search_p50_ms"] = round(percentile(latencies, 50) * 1000, 1)
    row["search_p95_ms"] = round(percentile(latencies, 95) * 1000, 1)

    if repeat_ingests:
        again = index.ingest(corpus)
        assert again.chunks_embedded == 0, again.summary()
        row["reingest_unchanged_s"] = round(again.seconds, 2)
        row["files_changed"] = change_files(corpus, 0.01)
        changed = index.ingest(corpus)
        row["reingest_1pct_s"] = round(changed.seconds, 2)
        row["reingest_1pct_chunks_embedded"] = changed.chunks_embedded
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return row


def child(args: argparse.Namespace) -> int:
    """One size, in this process: print its measurements as one JSON line."""
    work = Path(args.work)
    corpus = work / "corpus"
    if args.big_file_mb:
        write_big_file(corpus, args.big_file_mb)
        row = measure(corpus, work / "data", args.runtime, repeat_ingests=False)
        row["file_mb"] = args.big_file_mb
    else:
        write_corpus(corpus, args.child)
        row = measure(corpus, work / "data", args.runtime, repeat_ingests=True)
        row["target_chunks"] = args.child
    row["runtime"] = args.runtime
    print(json.dumps(row), flush=True)
    return 0


def run_child(extra: list[str], runtime: str) -> dict[str, Any]:
    """Run one measurement in a fresh process (its own peak RAM) and return its row."""
    with tempfile.TemporaryDirectory(prefix="citebot-scale-") as work:
        command = [
            sys.executable,
            __file__,
            *extra,
            "--work",
            work,
            "--runtime",
            runtime,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Four panels against the chunk count: ingest, disk, peak RAM, search and re-ingest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chunks = [r["chunks"] for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    panels: list[tuple[Any, str, list[tuple[str, str]]]] = [
        (axes[0][0], "seconds", [("ingest_s", "first ingest")]),
        (axes[0][1], "MB", [("disk_mb", "index on disk"), ("peak_rss_mb", "peak RAM")]),
        (
            axes[1][0],
            "ms",
            [("search_p50_ms", "warm search p50"), ("search_p95_ms", "warm search p95")],
        ),
        (
            axes[1][1],
            "seconds",
            [
                ("reingest_unchanged_s", "re-ingest, unchanged"),
                ("reingest_1pct_s", "re-ingest, 1% changed"),
            ],
        ),
    ]
    for axis, unit, series in panels:
        for key, label in series:
            axis.plot(chunks, [r[key] for r in rows], marker="o", label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("chunks in the index")
        axis.set_ylabel(unit)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle(f"citebot cost curve ({rows[0]['runtime']}, {os.cpu_count()} CPUs, shared)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table of the sizes measured."""
    lines = [
        "| chunks | files | passages | ingest | load / chunk / embed / store / bm25 | disk | "
        "RAM after model | peak RAM | search p50 / p95 | re-ingest unchanged | re-ingest 1% |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        stages = " / ".join(
            f"{r['stages_s'].get(k, 0):.1f}" for k in ("load", "chunk", "embed", "store", "bm25")
        )
        lines.append(
            f"| {r['chunks']} | {r['files']} | {r['passages']} | {r['ingest_s']:.1f} s | {stages} | "
            f"{r['disk_mb']:.0f} MB | {r['rss_after_model_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | "
            f"{r['search_p50_ms']} / {r['search_p95_ms']} ms | {r['reingest_unchanged_s']:.1f} s | "
            f"{r['reingest_1pct_s']:.1f} s ({r['files_changed']} files) |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each size in its own process, then print, save and plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="Chunk counts to build")
    parser.add_argument(
        "--runtime",
        default="onnx-int8",
        help="CITEBOT_EMBEDDING_RUNTIME, or 'random': seeded random vectors, no model (memory)",
    )
    parser.add_argument("--big-file-mb", type=float, default=0.0, help="Also ingest one big file")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or (args.work and args.big_file_mb):
        return child(args)

    rows: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        print(f"measuring about {size} chunks …", file=sys.stderr, flush=True)
        rows.append(run_child(["--child", str(size)], args.runtime))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"sizes": rows}, indent=2), encoding="utf-8")
    big = None
    if args.big_file_mb:
        print(f"one {args.big_file_mb} MB file …", file=sys.stderr, flush=True)
        big = run_child(["--big-file-mb", str(args.big_file_mb)], args.runtime)
    lines = table(rows)
    if big is not None:
        lines += [
            "",
            f"One {big['file_mb']} MB text file: {big['chunks']} chunks ingested in "
            f"{big['ingest_s']:.1f} s; peak RAM {big['peak_rss_mb']:.0f} MB "
            f"({big['rss_after_model_mb']:.0f} MB after loading the model).",
        ]
    print("\n".join(lines))
    args.out.write_text(
        json.dumps({"sizes": rows, "big_file": big, "table": "\n".join(lines)}, indent=2),
        encoding="utf-8",
    )
    if len(rows) > 1:
        plot(rows, args.plot)
    shutil.rmtree(REPO / "benchmarks" / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
