"""Pack retrieved chunks into the model's context budget, counted with tiktoken."""

from __future__ import annotations

import logging
import re

import tiktoken

from bot.answering.markers import neutralise_markers
from retrieval.documents import ScoredChunk

log = logging.getLogger(__name__)


# "</source>", "</SOURCES >", "< /source": anything a reader could take for a closing tag;
# "<source n=9>", "< SOURCE": anything it could take for the start of another source.
_CLOSING_TAG = re.compile(r"<(\s*)/(\s*source)", re.IGNORECASE)
_OPENING_TAG = re.compile(r"<(\s*source)", re.IGNORECASE)


def _defuse(text: str) -> str:
    """The text with every source tag broken, so it can neither end its block nor fake another."""
    return _OPENING_TAG.sub(r"<\\\1", _CLOSING_TAG.sub(r"<\1\\/\2", text))


def _attribute(value: str) -> str:
    """A value that stays inside its double-quoted attribute (titles come from documents too)."""
    return _defuse(" ".join(value.split()).replace('"', "'"))


def format_source(n: int, hit: ScoredChunk) -> str:
    """One numbered source as quoted data for the prompt."""
    chunk = hit.chunk
    page = f' page="{chunk.page}"' if chunk.page is not None else ""
    # A document cannot close the tag early and smuggle text out of the data block.
    # Its own bracketed numbers become superscripts, so the model cannot copy them as citations.
    body = _defuse(neutralise_markers(chunk.text))
    title, source = _attribute(chunk.title), _attribute(chunk.source)
    return f'<source n="{n}" file="{source}" title="{title}"{page}>\n{body}\n</source>'


def pack_sources(
    hits: list[ScoredChunk], budget_tokens: int, encoding: tiktoken.Encoding
) -> tuple[list[ScoredChunk], str, int]:
    """The best-ranked hits that fit the budget, their prompt text, and its tokens.

    A prefix of the ranking: packing stops at the first hit that does not fit, so source `[n]`
    is always the n-th retrieved chunk (what `/sources`, `ask --json` and the eval show).
    """
    kept: list[ScoredChunk] = []
    blocks: list[str] = []
    used = 0
    for hit in hits:
        block = format_source(len(kept) + 1, hit)
        cost = len(encoding.encode(block, disallowed_special=())) + 1
        if used + cost > budget_tokens:
            dropped = hits[len(kept) :]
            log.info(
                "token budget: dropped %s (%d tokens needed, %d of %d used); kept %d of %d",
                ", ".join(h.chunk.chunk_id for h in dropped),
                cost,
                used,
                budget_tokens,
                len(kept),
                len(hits),
            )
            break
        kept.append(hit)
        blocks.append(block)
        used += cost
    return kept, "\n".join(blocks), used
