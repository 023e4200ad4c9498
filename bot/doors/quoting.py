"""Document text as the doors show it: a quote can never pass for one of the answer's citations."""

from __future__ import annotations

from bot.answering.answer import short_quote
from bot.answering.markers import neutralise_markers


def display_quote(quote: str) -> str:
    """A whole quote for display, its bracketed numbers neutralised (`[2]` -> `⁽²⁾`)."""
    return neutralise_markers(quote)


def display_short_quote(quote: str, limit: int = 160) -> str:
    """A one-line quote cut to `limit`, its bracketed numbers neutralised."""
    return short_quote(neutralise_markers(quote), limit)


def display_name(name: str) -> str:
    """A source name or title on one line: control characters (a newline in a file name) escaped."""
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)
