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


SECTION_CHARS = 60  # a long heading is cut: the place is for finding, the quote says the rest
# A "heading" that ends on a separator is a line cut short (a byline's "By Agency |"), no place.
_CUT_SHORT = ("|", "-", "–", "—", "·", "/", ",", ";", "&")


def section_name(title: str, section: str) -> str:
    """The heading a quote sits under, for showing after its title ("v1.2.5" under "Version
    History"); empty when there is none, it is the title itself, or it is a line cut short."""
    if not section or section == title or section.rstrip().endswith(_CUT_SHORT):
        return ""
    section = display_name(section)
    return section if len(section) <= SECTION_CHARS else section[: SECTION_CHARS - 1] + "…"


def display_place(title: str, section: str) -> str:
    """A document's title and the heading a quote sits under: "Version History › v1.2.5"."""
    heading = section_name(title, section)
    return display_name(title) + (f" › {heading}" if heading else "")
