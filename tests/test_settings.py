"""Settings: the documented .env works as documented."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.doors.cli import cli
from bot.settings import load_settings, setting_names
from bot.wiring import make_llm_backend

REPO = Path(__file__).resolve().parent.parent
CITEBOT = Path(sys.executable).parent / "citebot"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


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


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings citebot logged while the test ran."""
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_misspelt_key_is_named_with_the_closest_setting_but_not_its_value(
    isolated_paths: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = isolated_paths / ".env"
    env.write_text(
        f"CITEBOT_CHUNK_TOKEN=300\nTELEGRAM_BOT_TOKN={TOKEN}\nCITEBOT_TOP_K=7\n", encoding="utf-8"
    )

    with caplog.at_level(logging.WARNING):
        settings = load_settings(env)

    assert warnings_logged(caplog) == [
        f"{env}: unknown setting CITEBOT_CHUNK_TOKEN (did you mean CITEBOT_CHUNK_TOKENS?); "
        "it is ignored.",
        f"{env}: unknown setting TELEGRAM_BOT_TOKN (did you mean TELEGRAM_BOT_TOKEN?); "
        "it is ignored.",
    ]
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert "300" not in caplog.text
    # Still ignored, as the warning says; the rest of the file is read.
    assert settings.retrieval.chunk_tokens == 250
    assert settings.telegram.bot_token is None
    assert settings.retrieval.top_k == 7


def test_a_key_like_no_setting_is_named_without_a_guess(
    isolated_paths: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = isolated_paths / ".env"
    env.write_text("COMPOSE_PROJECT_NAME=citebot\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        load_settings(env)

    assert warnings_logged(caplog) == [
        f"{env}: unknown setting COMPOSE_PROJECT_NAME; it is ignored."
    ]


def test_keys_pydantic_settings_reads_are_not_reported(
    isolated_paths: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = isolated_paths / ".env"
    # Names match in any case, and a field's own name works too (the groups populate by name).
    env.write_text(
        "citebot_top_k=7\nChunk_Tokens=300\nexport OPENAI_BASE_URL=http://127.0.0.1:11434/v1\n",
        encoding="utf-8",
    )

    with caplog.at_level(logging.WARNING):
        settings = load_settings(env)

    assert warnings_logged(caplog) == []
    assert (settings.retrieval.top_k, settings.retrieval.chunk_tokens) == (7, 300)
    assert settings.llm.configured


def test_env_example_documents_every_setting_and_nothing_else(
    isolated_paths: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = isolated_paths / ".env"
    shutil.copy(REPO / ".env.example", env)

    with caplog.at_level(logging.WARNING):
        load_settings(env)

    assert warnings_logged(caplog) == []  # nothing in .env.example that no setting reads
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert sorted(documented) == sorted(setting_names())  # and no setting left out of it


def test_the_cli_shows_an_unknown_key_once_as_a_warning_line(isolated_paths: Path) -> None:
    (isolated_paths / ".env").write_text(f"TELEGRAM_BOT_TOKN={TOKEN}\n", encoding="utf-8")

    # The real command in a subprocess: logging is configured as a user gets it, not by pytest.
    result = subprocess.run(
        [str(CITEBOT), "telegram"],
        cwd=isolated_paths,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2  # the token really is missing
    assert result.stdout == ""
    warning, error = result.stderr.splitlines()
    assert warning == (
        "citebot: WARNING bot.settings: .env: unknown setting TELEGRAM_BOT_TOKN "
        "(did you mean TELEGRAM_BOT_TOKEN?); it is ignored."
    )
    assert error.startswith("Error: No Telegram bot token")
    assert TOKEN.split(":")[1] not in result.stderr
