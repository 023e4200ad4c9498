"""Find credentials in document text and mask them, so an answer can never quote a secret.

A short set of well-known shapes (provider key prefixes, private key blocks, `KEY=value` lines
whose key names a password, secret or token). Masking keeps the text's length, so every
character offset computed afterwards (chunks, quotes, PDF pages) stays valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from retrieval.documents import Document

log = logging.getLogger(__name__)

MASK = "*"

_KEY = (
    r"[A-Za-z0-9_.-]*"
    r"(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"[A-Za-z0-9_.-]*"
)

_VALUE = r"[^\s\"'#()\[\]{},;]"
_NOT_CODE = r"(?!(?:await|new|None|null|nil|true|false|True|False|self|this)\b)"

# (kind shown to the operator, pattern); a "value" group is what gets masked, else the whole match.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key block",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Telegram bot token", re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{35}\b")),
    # KEY=value: any value of four characters or more. KEY: value (YAML, prose-like) only when the
    # value holds a digit, so "Token: Tokenization splits text" stays as it is. A value that reads
    # as code (a call, an index, an attribute, a keyword) is an example, not a credential.
    (
        "password or token assignment",
        re.compile(
            rf"(?im)^[ \t]*(?:export[ \t]+)?[\"']?{_KEY}[\"']?[ \t]*"
            rf"(?:=[ \t]*[\"']?(?P<value>{_NOT_CODE}{_VALUE}{{4,}}+)(?![(\[.])"
            rf"|:[ \t]*[\"']?(?P<colon_value>(?={_VALUE}*\d){_VALUE}{{6,}}+)(?![(\[]))"
        ),
    ),
)


@dataclass(frozen=True)
class SecretFound:
    """Where a credential was found in a text, and what kind it looked like (never the value)."""

    kind: str
    start: int
    end: int


def find_secrets(text: str) -> list[SecretFound]:
    """Every credential-shaped span in `text`, in order, overlaps merged into the first kind."""
    found: list[SecretFound] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            values = [name for name in pattern.groupindex if match.group(name)]
            start, end = match.span(values[0]) if values else match.span()
            if not any(f.start < end and start < f.end for f in found):
                found.append(SecretFound(kind, start, end))
    return sorted(found, key=lambda f: f.start)


def mask_secrets(text: str) -> tuple[str, list[SecretFound]]:
    """`text` with every credential replaced by as many mask characters (line breaks kept)."""
    found = find_secrets(text)
    if not found:
        return text, []
    parts: list[str] = []
    at = 0
    for secret in found:
        parts.append(text[at : secret.start])
        parts.append(re.sub(r"[^\n]", MASK, text[secret.start : secret.end]))
        at = secret.end
    parts.append(text[at:])
    return "".join(parts), found


def redact_document(document: Document) -> tuple[Document, list[str]]:
    """The document with its credentials masked, and the kinds found (one entry per kind)."""
    text, found = mask_secrets(document.text)
    if not found:
        return document, []
    title, _ = mask_secrets(document.title)
    return replace(document, text=text, title=title), sorted({f.kind for f in found})


def redact_documents(documents: Iterable[Document]) -> list[Document]:
    """Mask the credentials in every document, with one warning per file naming the kinds found."""
    return [redact_and_warn(document) for document in documents]


def redact_and_warn(document: Document) -> Document:
    """The document with its credentials masked, and one warning naming the kinds found."""
    redacted, kinds = redact_document(document)
    if kinds:
        log.warning(
            "%s: masked what looks like a secret (%s); set CITEBOT_REDACT_SECRETS=false to keep it",
            document.source,
            ", ".join(kinds),
        )
    return redacted
