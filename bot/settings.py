"""The one settings object: groups for paths, retrieval, the LLM and Telegram."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode

from bot.errors import ConfigError
from retrieval.config import GROUP_CONFIG, PathSettings, RetrievalSettings

log = logging.getLogger(__name__)


class LLMSettings(BaseSettings):
    """Which answer backend runs and how it reaches its model."""

    model_config = GROUP_CONFIG

    backend: str = Field(
        "auto",
        validation_alias=AliasChoices("CITEBOT_BACKEND", "backend"),
        description="'auto' (LLM when a key or base URL is set, else extractive), 'llm' or 'extractive'.",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description="API key for OpenAI or an OpenAI-compatible server; empty for the offline backend.",
    )
    openai_base_url: str = Field(
        "",
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio).",
    )
    chat_model: str = Field(
        "gpt-4o-mini",
        validation_alias=AliasChoices("CITEBOT_CHAT_MODEL", "chat_model"),
        description="Chat model name sent to the OpenAI-compatible server.",
    )
    max_tokens: int = Field(
        512,
        ge=16,
        validation_alias=AliasChoices("CITEBOT_MAX_TOKENS", "max_tokens"),
        description="Most tokens the model may write in one answer.",
    )
    context_tokens: int = Field(
        6000,
        ge=256,
        validation_alias=AliasChoices("CITEBOT_CONTEXT_TOKENS", "context_tokens"),
        description="Token budget for the sources packed into the prompt.",
    )
    history_tokens: int = Field(
        1000,
        ge=0,
        validation_alias=AliasChoices("CITEBOT_HISTORY_TOKENS", "history_tokens"),
        description="Token budget for the conversation history kept per session.",
    )
    timeout_s: float = Field(
        15.0,
        gt=0,
        validation_alias=AliasChoices("CITEBOT_LLM_TIMEOUT", "timeout_s"),
        description="Seconds one LLM request may take before it is abandoned.",
    )
    deadline_s: float = Field(
        55.0,
        gt=0,
        le=60,
        validation_alias=AliasChoices("CITEBOT_LLM_DEADLINE", "deadline_s"),
        description="Seconds one answer may spend on the LLM in total, retries included (at most 60).",
    )
    max_retries: int = Field(
        2,
        ge=0,
        validation_alias=AliasChoices("CITEBOT_LLM_MAX_RETRIES", "max_retries"),
        description="Retries for 429, 5xx and timeouts (never for 401); total wait stays under 60 s.",
    )
    temperature: float = Field(
        0.0,
        ge=0,
        validation_alias=AliasChoices("CITEBOT_TEMPERATURE", "temperature"),
        description="Sampling temperature; 0 keeps answers close to the sources.",
    )

    @property
    def configured(self) -> bool:
        """True when a key or a base URL points at an LLM."""
        key = self.openai_api_key.get_secret_value().strip() if self.openai_api_key else ""
        return bool(self.openai_base_url.strip()) or bool(key)


def _split_ids(value: Any) -> Any:
    if isinstance(value, str):
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    if isinstance(value, int):
        return [value]
    return value


class TelegramSettings(BaseSettings):
    """How the Telegram adapter connects and whom it serves."""

    model_config = GROUP_CONFIG

    bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "bot_token"),
        description="Bot token from @BotFather.",
    )
    base_url: str = Field(
        "",
        validation_alias=AliasChoices("TELEGRAM_BASE_URL", "base_url"),
        description="Bot API base URL (e.g. http://127.0.0.1:8081/bot); empty for Telegram's own.",
    )
    allowed_users: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TELEGRAM_ALLOWED_USERS", "allowed_users"),
        description="Comma-separated user ids allowed to ask.",
    )
    allowed_chats: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TELEGRAM_ALLOWED_CHATS", "allowed_chats"),
        description="Comma-separated chat ids (groups) whose members may ask.",
    )
    questions_per_minute: int = Field(
        10,
        ge=1,
        validation_alias=AliasChoices("TELEGRAM_QUESTIONS_PER_MINUTE", "questions_per_minute"),
        description="Per-user quota of questions per minute.",
    )
    max_question_chars: int = Field(
        2000,
        ge=10,
        validation_alias=AliasChoices("TELEGRAM_MAX_QUESTION_CHARS", "max_question_chars"),
        description="Longer messages get a hint instead of an answer.",
    )

    _split_users = field_validator("allowed_users", "allowed_chats", mode="before")(_split_ids)


class Settings(BaseModel):
    """Everything citebot reads from the environment and `.env`, grouped."""

    model_config = ConfigDict(extra="forbid")

    paths: PathSettings = Field(
        default_factory=PathSettings, description="Corpus and data folders."
    )
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description="Chunking, embeddings, Chroma, search."
    )
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Answer backend and LLM.")
    telegram: TelegramSettings = Field(
        default_factory=TelegramSettings, description="Telegram adapter."
    )


SETTING_GROUPS: tuple[type[BaseSettings], ...] = (
    PathSettings,
    RetrievalSettings,
    LLMSettings,
    TelegramSettings,
)


def load_settings(env_file: Path | None = Path(".env")) -> Settings:
    """Read the settings once, at an entry point, from the environment and `env_file`.

    A value that does not parse raises ConfigError naming the variable and what it should be.
    A key in `env_file` that no setting reads is logged as a warning, so a typo is not lost.
    """
    if env_file is not None and env_file.is_file():
        for message in unknown_keys_warnings(env_file):
            log.warning(message)
    try:
        return _read_settings(env_file)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}={item.get('input')!r}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(
            f"Bad setting {problems}. Fix it in the environment or .env (see .env.example)."
        ) from None


def setting_names() -> list[str]:
    """The documented name of every setting (its first alias, e.g. CITEBOT_TOP_K)."""
    return [names[0] for names in _env_names_per_field()]


def unknown_keys_warnings(env_file: Path) -> list[str]:
    """One message per key in `env_file` that no settings group reads; never the value."""
    encoding = GROUP_CONFIG.get("env_file_encoding")
    keys = dotenv_values(env_file, encoding=encoding).keys()
    # pydantic-settings matches names case-insensitively (`case_sensitive` is off) and also
    # reads each field's own name, because the groups set `populate_by_name`.
    known = {name.lower() for names in _env_names_per_field() for name in names}
    documented = setting_names()
    messages = []
    for key in keys:
        if key.lower() in known:
            continue
        close = difflib.get_close_matches(key.upper(), documented, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        messages.append(f"{env_file}: unknown setting {key}{hint}; it is ignored.")
    return messages


def _env_names_per_field() -> list[list[str]]:
    """For each field of each group, the names pydantic-settings reads it from, documented first."""
    per_field = []
    for group in SETTING_GROUPS:
        config = group.model_config
        for field_name, field in group.model_fields.items():
            alias = field.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
            names = [
                choice if isinstance(choice, str) else str(choice.path[0])
                for choice in choices
                if isinstance(choice, str | AliasPath)
            ]
            by_name = config.get("populate_by_name") or config.get("validate_by_name")
            if (not names or by_name) and field_name not in names:
                names.append(config.get("env_prefix", "") + field_name)
            per_field.append(names)
    return per_field


def _read_settings(env_file: Path | None) -> Settings:
    return Settings(
        paths=PathSettings(_env_file=env_file),  # type: ignore[call-arg]
        retrieval=RetrievalSettings(_env_file=env_file),  # type: ignore[call-arg]
        llm=LLMSettings(_env_file=env_file),  # type: ignore[call-arg]
        telegram=TelegramSettings(_env_file=env_file),  # type: ignore[call-arg]
    )
