"""tiktoken works offline from the bundled files, and a user's TIKTOKEN_CACHE_DIR still wins."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken.load
import tiktoken.registry
from pytest_socket import SocketConnectBlockedError

import retrieval.tokens
from retrieval.tokens import (
    BUNDLED_ENCODINGS,
    bundled_path,
    count_tokens,
    encoding_for_model,
    forget_encodings,
    get_encoding,
)

# Where tiktoken downloads cl100k_base from; its cache file is named by the sha1 of this URL.
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@pytest.fixture
def fresh_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """No encoding cached anywhere, no reachable network; yields every path tiktoken reads."""
    forget_encodings()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    # tiktoken's default cache (under /tmp) may hold a copy from an earlier run: point it away.
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path / "data-gym-cache"))
    reads: list[str] = []
    real_read_file = tiktoken.load.read_file

    def read_file(blobpath: str) -> bytes:
        reads.append(blobpath)
        if "://" in blobpath:
            raise AssertionError(f"tiktoken tried to download {blobpath}")
        return real_read_file(blobpath)

    monkeypatch.setattr(tiktoken.load, "read_file", read_file)
    real_read_bpe = retrieval.tokens.read_bpe_file

    def read_bpe_file(path: Path, expected_sha256: str) -> dict[bytes, int]:
        reads.append(str(path))
        return real_read_bpe(path, expected_sha256)

    monkeypatch.setattr(retrieval.tokens, "read_bpe_file", read_bpe_file)
    yield reads
    forget_encodings()  # nothing built under these patches outlives the test


@pytest.mark.parametrize("name", sorted(BUNDLED_ENCODINGS))
def test_bundled_encodings_load_without_network(fresh_tiktoken: list[str], name: str) -> None:
    encoding = get_encoding(name)
    assert encoding.name == name
    assert (
        encoding.decode(encoding.encode("Hegseth met Adm. Dong Jun."))
        == "Hegseth met Adm. Dong Jun."
    )
    assert fresh_tiktoken == [str(bundled_path(name))], "only the bundled file was read"


def test_threads_asking_at_once_share_one_build(
    fresh_tiktoken: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow build, as on a busy machine: every thread asks while the first one is building.
    real_read_bpe = retrieval.tokens.read_bpe_file

    def slow_read(path: Path, expected_sha256: str) -> dict[bytes, int]:
        time.sleep(0.2)
        return real_read_bpe(path, expected_sha256)

    monkeypatch.setattr(retrieval.tokens, "read_bpe_file", slow_read)
    got: list[tiktoken.Encoding] = []
    threads = [
        threading.Thread(target=lambda: got.append(get_encoding("o200k_base"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 8
    assert len({id(encoding) for encoding in got}) == 1, "one encoding object, shared"
    assert fresh_tiktoken == [str(bundled_path("o200k_base"))], "the file was read once"


def test_bundled_files_are_the_published_ones() -> None:
    for name, expected in BUNDLED_ENCODINGS.items():
        assert hashlib.sha256(bundled_path(name).read_bytes()).hexdigest() == expected


def test_known_token_ids() -> None:
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert count_tokens("hello world") == 2


def test_a_users_tiktoken_cache_dir_wins(
    fresh_tiktoken: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache = tmp_path / "user-cache"
    cache.mkdir()
    cached_file = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    shutil.copyfile(bundled_path("cl100k_base"), cached_file)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    opened: list[str] = []
    real_open = open

    def spying_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    with monkeypatch.context() as patch:
        patch.setattr("builtins.open", spying_open)
        encoding = get_encoding("cl100k_base")

    assert encoding.encode("hello world") == [15339, 1917]
    assert str(cached_file) in opened, "the user's cache file was read"
    assert str(bundled_path("cl100k_base")) not in opened, "the bundled copy was not used"
    assert fresh_tiktoken == [], "nothing fetched"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("llama3.1:8b", "o200k_base"),
        (None, "o200k_base"),
    ],
)
def test_encoding_for_model(model: str | None, expected: str) -> None:
    assert encoding_for_model(model).name == expected


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_suite_cannot_reach_the_internet() -> None:
    # pytest-socket is what turns a hidden download into a failing test instead of a hang.
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("1.1.1.1", 443), timeout=2)


def test_a_changed_bundled_file_is_refused(tmp_path: Path) -> None:
    changed = tmp_path / "cl100k_base.tiktoken"
    changed.write_bytes(bundled_path("cl100k_base").read_bytes().replace(b"\n", b"\r\n", 1))

    with pytest.raises(ValueError, match="sha256"):
        retrieval.tokens.read_bpe_file(changed, BUNDLED_ENCODINGS["cl100k_base"])
