"""Settings: the documented .env works as documented."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.settings import load_settings
from bot.wiring import make_llm_backend

REPO = Path(__file__).resolve().parent.parent


def test_copied_env_example_keeps_the_offline_default(isolated_paths: Path) -> None:
    env = isolated_paths / ".env"
    shutil.copy(REPO / ".env.example", env)

    settings = load_settings(env)

    assert settings.llm.openai_api_key is None  # `OPENAI_API_KEY=` means not set
    assert not settings.llm.configured
    assert make_llm_backend(settings, None) is None  # the extractive backend answers
    assert settings.retrieval.chroma_host == ""
    assert settings.telegram.allowed_users == []


def test_env_file_values_are_read(isolated_paths: Path) -> None:
    env = isolated_paths / ".env"
    env.write_text(
        "OPENAI_BASE_URL=http://127.0.0.1:11434/v1\nCITEBOT_TOP_K=7\n"
        "TELEGRAM_ALLOWED_USERS=11, 22\n",
        encoding="utf-8",
    )

    settings = load_settings(env)

    assert settings.llm.configured
    assert settings.retrieval.top_k == 7
    assert settings.telegram.allowed_users == [11, 22]


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "abc")

    result = CliRunner().invoke(cli, ["stats"])

    assert result.exit_code == 1
    assert "CITEBOT_TOP_K" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 2
