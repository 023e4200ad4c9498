"""Bytes to text: UTF-8 first, then the encoding charset-normalizer detects; binary refused."""

from __future__ import annotations

import re

from retrieval.errors import UnreadableFileError

# UTF-16/32 text is full of NUL bytes; its byte-order mark says what it is.
_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")
_USUAL_8BIT = "cp1252"

# Text formatted for a terminal (a manual page saved from `man`, a coloured log) says how it
# looked with ECMA-48 escape sequences (colour and bold: "\x1b[1m", links: "\x1b]8;;…\x1b\\")
# and with overstrikes (bold "m\bm", underline "_\bm", groff's bullet "+\bo"): not text.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_OVERSTRUCK = re.compile(r"([^\n])\x08([^\n])")
_OVERSTRUCK_BULLET = "+\x08o"


def decode_text(data: bytes) -> str:
    """The file's text with Unix line endings, or UnreadableFileError when it is not text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _detected(data)
    else:
        if "\x00" in text[:8192] and not data.startswith(_BOMS):
            raise UnreadableFileError("it looks binary (NUL bytes), not text")
    # Normalise line endings so character offsets mean the same on every platform.
    return without_terminal_formatting(text.replace("\r\n", "\n").replace("\r", "\n"))


def without_terminal_formatting(text: str) -> str:
    """The text without escape sequences, and each overstrike as the character it shows: the
    one that is not the underline, in either order ("_\bm", "m\b_"), as `less` shows them;
    groff's overstruck bullet is a bullet."""
    if "\x1b" not in text and "\x08" not in text:
        return text
    text = _ESCAPE.sub("", text).replace(_OVERSTRUCK_BULLET, "•")
    text = _OVERSTRUCK.sub(lambda m: m[1] if m[2] == "_" else m[2], text)
    return text.replace("\x08", "")


def _detected(data: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:262144])
    best = matches.best()
    if best is None or best.encoding is None:
        raise UnreadableFileError("it looks binary, not text in any encoding we could detect")
    # Short 8-bit text fits several code pages equally well; Windows-1252 is the usual one.
    for match in matches:
        if match.encoding == _USUAL_8BIT and match.chaos <= best.chaos + 0.02:
            best = match
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise UnreadableFileError(f"it is not readable text ({best.encoding}: {error})") from error
    if text.startswith("\ufeff"):
        text = text[1:]
    if _control_share(without_terminal_formatting(text[:8192])) > 0.05:
        raise UnreadableFileError("it looks binary (control bytes), not text")
    return text


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    return controls / len(text)
