"""Passages: the sentence pairs a chunk is embedded as, so the dense side reads all of it, sharply.

One vector per chunk averages a chunk's several facts into one direction, and all-MiniLM-L6-v2
reads only its first 256 wordpieces; a question is usually about one or two sentences. So each
chunk is embedded as windows of two consecutive sentences (a chunk of one or two sentences is one
passage), each headed by the chunk's title like the BM25 text, and a chunk's dense rank is the rank
of its best passage. On SQuAD as an open corpus this took top-4 recall from 0.938 (81 misses) to
0.950-0.951 (64-65 misses) with the same two lists and RRF (benchmarks/README.md).
"""

from __future__ import annotations

from retrieval.documents import Chunk
from retrieval.lexical import title_heading
from retrieval.text.sentences import sentence_spans

PASSAGE_SENTENCES = 2
# Recorded in the index: an index embedded another way must be rebuilt, not searched.
# "text-layer:2": documents read into a model with structure (blocks, answer sentences, pages).
# "text-layer:3": PDF tables as rows, endnote digits dropped, running headers kept as metadata.
PASSAGE_SCHEME = f"sentence-windows:{PASSAGE_SENTENCES};text-layer:3"


def passage_spans(text: str) -> list[tuple[int, int]]:
    """Windows of `PASSAGE_SENTENCES` consecutive sentences of `text`, one sentence apart.

    Offsets are into `text`; a text of no more sentences than that is one passage.
    """
    sentences = sentence_spans(text)
    if len(sentences) <= PASSAGE_SENTENCES:
        return [(sentences[0][0], sentences[-1][1])] if sentences else [(0, len(text))]
    return [
        (sentences[i][0], sentences[i + PASSAGE_SENTENCES - 1][1])
        for i in range(len(sentences) - PASSAGE_SENTENCES + 1)
    ]


def passage_texts(chunk: Chunk) -> list[str]:
    """What is embedded for a chunk: each of its passages, headed by the chunk's title line."""
    heading = title_heading(chunk)
    return [heading + chunk.text[start:end] for start, end in passage_spans(chunk.text)]
