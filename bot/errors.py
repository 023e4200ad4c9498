"""The bot's errors; every one is a CitebotError whose message tells the user what to do."""

from __future__ import annotations

from retrieval.errors import CitebotError


class ConfigError(CitebotError):
    """A setting is missing or wrong."""


class PromptError(CitebotError):
    """A prompt template does not fit what the code fills in."""


class LLMError(CitebotError):
    """The LLM could not answer (timeout, rate limit, server error, bad key)."""


__all__ = ["CitebotError", "ConfigError", "LLMError", "PromptError"]
