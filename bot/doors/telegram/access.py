"""Who may run and reach the Telegram bot: a well-formed token kept out of the logs, an allow-list.

The token and the allow-list are checked before the answer service is built, so a bad set-up
fails in a second; the token is then redacted from the logs for as long as the bot runs.
"""

from __future__ import annotations

import logging
import re

from pydantic import SecretStr

from bot.errors import CitebotError
from bot.settings import Settings

# BotFather tokens: the bot's numeric id, a colon, and a 35-character secret.
_TOKEN = re.compile(r"^[0-9]{5,20}:[A-Za-z0-9_-]{30,80}$")


class TelegramConfigError(CitebotError):
    """The Telegram adapter cannot start as configured; the message says what to set."""


class TelegramUnreachableError(CitebotError):
    """The Bot API could not be reached (no network, a wrong TELEGRAM_BASE_URL)."""


def validate_token(token: SecretStr | str | None) -> str:
    """The bot token if it has BotFather's shape; the error never repeats the token."""
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not value:
        raise TelegramConfigError(
            "No Telegram bot token: set TELEGRAM_BOT_TOKEN to the token @BotFather gave you."
        )
    if not _TOKEN.fullmatch(value.strip()):
        raise TelegramConfigError(
            "TELEGRAM_BOT_TOKEN is malformed: expected <bot id>:<secret> as given by @BotFather."
        )
    return value.strip()


def check_access(settings: Settings, *, public: bool) -> None:
    """Refuse to serve everyone by accident: the documents may be private."""
    if not public and not settings.telegram.allowed_users and not settings.telegram.allowed_chats:
        raise TelegramConfigError(
            "No TELEGRAM_ALLOWED_USERS or TELEGRAM_ALLOWED_CHATS: set one, "
            "or pass --public to answer anyone."
        )


class _RedactSecrets(logging.Filter):
    """Replace bot tokens in log records: PTB logs the Bot API URL, which carries the token."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "<token>")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACT = _RedactSecrets()
# Loggers that have been seen to log the token (the Bot API URL) at DEBUG.
_BOT_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot")


def keep_token_out_of_logs(token: str) -> None:
    """Keep `token` out of every log line: redact it in PTB's loggers, quiet httpx."""
    # httpx logs every request URL at INFO, and PTB's URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    _REDACT.secrets.add(token)
    for name in _BOT_LOGGERS:
        logging.getLogger(name).addFilter(_REDACT)
