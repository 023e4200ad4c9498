"""tiktoken encodings that work offline: the BPE files ship inside this package."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from importlib import resources
from pathlib import Path
from unittest import mock

import tiktoken

# sha256 of the published files; tiktoken verifies them the same way.
BUNDLED_ENCODINGS = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
DEFAULT_ENCODING = "o200k_base"
CHUNKING_ENCODING = "cl100k_base"
_lock = threading.Lock()


def bundled_path(name: str) -> Path:
    """Where the bundled BPE file for encoding `name` lies in site-packages."""
    return Path(str(resources.files("retrieval") / "data" / "tiktoken" / f"{name}.tiktoken"))


def read_bpe_file(path: Path, expected_sha256: str) -> dict[bytes, int]:
    """Token ranks from a .tiktoken file, refusing one whose sha256 is not the published one."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ValueError(
            f"{path} has sha256 {digest}, not {expected_sha256}: reinstall citebot "
            "(the file must not be changed, not even its line endings)."
        )
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


# Built encodings by name. A build reads and decodes a BPE file: about 0.3 s alone, over 0.8 s on a
# busy machine. `functools.lru_cache` would let threads that ask at once each build their own copy,
# one after another under the lock below: the Telegram load test's first 20 concurrent questions
# waited up to 22 s for their prompt's token counter. Here the first caller builds and the others
# wait for that one build.
_encodings: dict[str, tiktoken.Encoding] = {}


def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The named encoding, from the bundled file unless the user set TIKTOKEN_CACHE_DIR.

    Built once per process, even when many threads ask for it at the same time.
    """
    encoding = _encodings.get(name)
    if encoding is None:
        with _lock:
            encoding = _encodings.get(name)
            if encoding is None:
                encoding = _encodings[name] = _build_encoding(name)
    return encoding


def forget_encodings() -> None:
    """Drop the built encodings, so the next `get_encoding` builds afresh (for tests)."""
    with _lock:
        _encodings.clear()


def _build_encoding(name: str) -> tiktoken.Encoding:
    """Build the named encoding; the caller holds `_lock`."""
    if name not in BUNDLED_ENCODINGS or "TIKTOKEN_CACHE_DIR" in os.environ:
        return tiktoken.get_encoding(name)
    from tiktoken_ext import openai_public

    def load_bundled(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        # The constructor names the download URL; read the same bytes from the package instead,
        # checked against the published sha256 (and not copied into tiktoken's temp cache).
        return read_bpe_file(bundled_path(name), expected_hash or BUNDLED_ENCODINGS[name])

    # Borrow tiktoken's own constructor (pattern and special tokens) with the loader redirected.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", load_bundled):
        params = openai_public.ENCODING_CONSTRUCTORS[name]()
    return tiktoken.Encoding(**params)


def encoding_for_model(model: str | None) -> tiktoken.Encoding:
    """The model's own encoding when tiktoken knows it, else o200k_base."""
    if model:
        try:
            name = tiktoken.encoding_name_for_model(model)
        except KeyError:
            name = DEFAULT_ENCODING
        if name in BUNDLED_ENCODINGS:
            return get_encoding(name)
    return get_encoding(DEFAULT_ENCODING)


def count_tokens(text: str, encoding: tiktoken.Encoding | None = None) -> int:
    """Number of tokens in `text` (o200k_base unless an encoding is given)."""
    return len((encoding or get_encoding()).encode(text, disallowed_special=()))
