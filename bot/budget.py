"""Pack retrieved chunks into the model's context budget, counted with tiktoken."""

from __future__ import annotations

import logging

import tiktoken

from retrieval.documents import ScoredChunk

log = logging.getLogger(__name__)


def format_source(n: int, hit: ScoredChunk) -> str:
    """One numbered source as quoted data for the prompt."""
    chunk = hit.chunk
    page = f' page="{chunk.page}"' if chunk.page is not None else ""
    # A document cannot close the tag early and smuggle text out of the data block.
    body = chunk.text.replace("</source", "<\\/source")
    title = chunk.title.replace('"', "'")
    return f'<source n="{n}" file="{chunk.source}" title="{title}"{page}>\n{body}\n</source>'


def pack_sources(
    hits: list[ScoredChunk], budget_tokens: int, encoding: tiktoken.Encoding
) -> tuple[list[ScoredChunk], str, int]:
    """The best hits that fit the budget (in rank order), their prompt text, and its tokens."""
    kept: list[ScoredChunk] = []
    blocks: list[str] = []
    used = 0
    for hit in hits:
        block = format_source(len(kept) + 1, hit)
        cost = len(encoding.encode(block, disallowed_special=())) + 1
        if used + cost > budget_tokens:
            log.info(
                "token budget: dropped %s (%d tokens; %d of %d used)",
                hit.chunk.chunk_id,
                cost,
                used,
                budget_tokens,
            )
            continue
        kept.append(hit)
        blocks.append(block)
        used += cost
    if len(kept) < len(hits):
        log.info("token budget: kept %d of %d sources", len(kept), len(hits))
    return kept, "\n".join(blocks), used
