"""Bracketed numbers inside document text must never read as the answer's own `[n]` citations."""

from __future__ import annotations

import re

_BRACKETED_NUMBER = re.compile(r"\[(\s*\d+(?:\s*[,;–-]\s*\d+)*\s*)\]")
_SUPERSCRIPT = str.maketrans("0123456789,;–- ", "⁰¹²³⁴⁵⁶⁷⁸⁹˒˒⁻⁻ ")


def neutralise_markers(text: str) -> str:
    """`[2]` in document text becomes `⁽²⁾`: still legible as a footnote, never a citation."""
    return _BRACKETED_NUMBER.sub(lambda m: f"⁽{m.group(1).strip().translate(_SUPERSCRIPT)}⁾", text)
