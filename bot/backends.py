"""LLM answering through LangChain chat models: ChatOpenAI for real, fakes for tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from bot.errors import ConfigError, LLMError
from bot.settings import LLMSettings

log = logging.getLogger(__name__)


@dataclass
class Generation:
    """What the model wrote and what it cost."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)


def make_chat_model(settings: LLMSettings) -> BaseChatModel:
    """ChatOpenAI for OpenAI or any OpenAI-compatible server, with bounded time and retries."""
    if not settings.configured:
        raise ConfigError(
            "No LLM configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local "
            "OpenAI-compatible server), or leave both empty for the offline extractive backend."
        )
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    kwargs: dict[str, Any] = {
        "model": settings.chat_model,
        "api_key": key,
        # The openai client retries 408/409/429/5xx and connection errors, never 401; each try
        # is bounded by the timeout, so the defaults (15 s x 3 tries) stay under a minute.
        "timeout": settings.timeout_s,
        "max_retries": settings.max_retries,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "stream_usage": True,
    }
    if settings.openai_base_url:
        kwargs["base_url"] = settings.openai_base_url
    return ChatOpenAI(**kwargs)


def describe_error(error: BaseException) -> str:
    """A one-line reason for an LLM failure that never contains the key."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return type(error).__name__
    match error:
        case openai.AuthenticationError():
            return "the API key was refused (401): check OPENAI_API_KEY"
        case openai.PermissionDeniedError():
            return "the API refused access (403)"
        case openai.RateLimitError():
            return "rate-limited by the API (429)"
        case openai.APITimeoutError():
            return "the model did not answer in time"
        case openai.APIConnectionError():
            return "cannot reach the model server: check OPENAI_BASE_URL"
        case openai.NotFoundError():
            return (
                "the model or URL was not found (404): check CITEBOT_CHAT_MODEL and OPENAI_BASE_URL"
            )
        case openai.APIStatusError():
            return f"the model server failed ({error.status_code})"
        case TimeoutError():
            return "the model did not answer in time"
    return f"the model call failed ({type(error).__name__})"


class LLMBackend:
    """Generates an answer from prompt messages with a LangChain chat model."""

    def __init__(self, *, model: BaseChatModel, model_name: str) -> None:
        self.model = model
        self.model_name = model_name

    def generate(
        self, messages: list[BaseMessage], on_token: Callable[[str], None] | None = None
    ) -> Generation:
        """Run the model (streaming when `on_token` is given); failures become LLMError."""
        try:
            if on_token is None:
                message = self.model.invoke(messages)
                return Generation(_text(message.content), _usage(message))
            pieces: list[str] = []
            usage: dict[str, int] = {}
            for chunk in self.model.stream(messages):
                piece = _text(chunk.content)
                if piece:
                    pieces.append(piece)
                    on_token(piece)
                usage = _usage(chunk) or usage
            return Generation("".join(pieces), usage)
        except Exception as error:  # every provider error becomes one clear, key-free line
            reason = describe_error(error)
            log.warning("LLM call failed: %s", reason)
            raise LLMError(reason) from error


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def _usage(message: Any) -> dict[str, int]:
    meta = getattr(message, "usage_metadata", None) or {}
    return {k: int(v) for k, v in meta.items() if isinstance(v, int)}
