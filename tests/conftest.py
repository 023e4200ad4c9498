"""Shared fixtures: every data path under tmp_path, no `.env` from the developer's machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"

# Names the settings read; cleared so a developer's shell or .env never leaks into a test.
SETTING_NAMES = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CITEBOT_BACKEND",
    "CITEBOT_CHAT_MODEL",
    "CITEBOT_EMBEDDING_PROVIDER",
    "CITEBOT_EMBEDDING_MODEL",
    "CHROMA_HOST",
    "CHROMA_PORT",
    "CITEBOT_DATA_DIR",
    "CITEBOT_CORPUS_DIR",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BASE_URL",
    "TELEGRAM_ALLOWED_USERS",
    "TELEGRAM_ALLOWED_CHATS",
    "CITEBOT_CHUNK_TOKENS",
    "CITEBOT_CHUNK_OVERLAP",
    "CITEBOT_MAX_FILE_MB",
    "CITEBOT_TOP_K",
    "TIKTOKEN_CACHE_DIR",
    "CITEBOT_LLM_TIMEOUT",
    "CITEBOT_LLM_MAX_RETRIES",
    "CITEBOT_MAX_TOKENS",
    "CITEBOT_CONTEXT_TOKENS",
    "CITEBOT_HISTORY_TOKENS",
    "CITEBOT_TEMPERATURE",
    "CITEBOT_CANDIDATES",
    "CITEBOT_COLLECTION",
    "CITEBOT_REDACT_SECRETS",
    "CITEBOT_LLM_DEADLINE",
    "CITEBOT_EMBEDDING_BATCH_SIZE",
    "CITEBOT_EMBEDDING_RUNTIME",
    "CITEBOT_MODEL_CACHE_DIR",
    "CITEBOT_ENV_FILE",
    "TELEGRAM_QUESTIONS_PER_MINUTE",
    "TELEGRAM_MAX_QUESTION_CHARS",
]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the locally exported ONNX model, so the suite exports it once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Path:
    """Run every test in its own folder with its own data dir and a clean environment."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITEBOT_MODEL_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(SEED_CORPUS))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return tmp_path


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (python-telegram-bot's loop)."""
    return "asyncio"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """One Telegram Bot API emulator per test module, stopped at the end."""
    from telegram_emulator import Emulator

    running = Emulator().start()
    yield running
    running.stop()
