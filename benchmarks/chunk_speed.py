"""Loading and chunking time per chunk, without embedding or storing: where ingest's CPU goes first.

Usage: .venv/bin/python benchmarks/chunk_speed.py [PATH ...] [--big-file-mb 2]

Each PATH (a file or a folder, read like a corpus) is loaded and chunked with the default settings
(250 tokens, 50 overlap, cl100k_base); `--big-file-mb N` also writes and chunks one N MB text file
of SQuAD sentences (the same generator as `scale.py`). Prints load seconds, chunks, and chunking
milliseconds per chunk for each. Profile with `python -m cProfile -s tottime benchmarks/chunk_speed.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(paths: list[Path]) -> tuple[float, int, float]:
    """Load and chunk every file under `paths`: (load seconds, chunks, chunking seconds)."""
    from retrieval.chunking import chunk_document
    from retrieval.config import RetrievalSettings
    from retrieval.loaders import iter_corpus_files, load_document
    from retrieval.tokens import CHUNKING_ENCODING, get_encoding

    settings = RetrievalSettings(_env_file=None)  # type: ignore[call-arg]
    encoding = get_encoding(CHUNKING_ENCODING)
    encoding.encode("warm up")
    files = [f for p in paths for f in (iter_corpus_files(p) if p.is_dir() else [p])]
    load_s = chunk_s = 0.0
    chunks = 0
    for path in files:
        started = time.perf_counter()
        document = load_document(path, path.name)
        load_s += time.perf_counter() - started
        started = time.perf_counter()
        chunks += len(
            chunk_document(document, encoding, settings.chunk_tokens, settings.chunk_overlap)
        )
        chunk_s += time.perf_counter() - started
    return load_s, chunks, chunk_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--big-file-mb", type=float, default=0.0)
    args = parser.parse_args(argv)
    runs = [(str(p), [p]) for p in args.paths]
    if args.big_file_mb:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from scale import write_big_file

        folder = Path(tempfile.mkdtemp(prefix="citebot-chunk-speed-"))
        write_big_file(folder, args.big_file_mb)
        runs.append((f"one {args.big_file_mb:g} MB text file", [folder / "big.txt"]))
    for name, paths in runs:
        load_s, chunks, chunk_s = measure(paths)
        print(
            f"{name}: load {load_s:.1f} s, {chunks} chunks, "
            f"chunking {chunk_s:.1f} s = {chunk_s * 1000 / max(chunks, 1):.2f} ms/chunk"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
