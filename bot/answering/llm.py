"""LLM answering through LangChain chat models: ChatOpenAI for real, fakes for tests."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
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
        "timeout": settings.timeout_s,
        # LLMBackend retries itself, under one overall deadline: the client's own retries would
        # honour a server's Retry-After of up to a minute and break that promise.
        "max_retries": 0,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "stream_usage": True,
    }
    if settings.openai_base_url:
        kwargs["base_url"] = settings.openai_base_url
    return ChatOpenAI(**kwargs)


class DeadlineExceeded(TimeoutError):
    """The whole answer ran past its wall-clock deadline (a slow, dripping or stalled server)."""


def describe_error(error: BaseException) -> str:
    """A one-line reason for an LLM failure that never contains the key."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return type(error).__name__
    match error:
        case DeadlineExceeded():
            return f"the model did not finish within the {error} s deadline"
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


def retry_delay(error: BaseException, attempt: int) -> float | None:
    """Seconds to wait before retrying after `error`, or None when retrying cannot help.

    Retries only what can pass: 429, 5xx, timeouts, refused connections; never 401/403/404/400.
    A server's Retry-After is honoured; otherwise exponential backoff with jitter.
    """
    import openai

    if not isinstance(
        error,
        openai.RateLimitError
        | openai.InternalServerError
        | openai.APITimeoutError
        | openai.APIConnectionError,
    ):
        return None
    response = getattr(error, "response", None)
    header: str | None = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    backoff: float = min(8.0, 0.5 * 2.0**attempt) * random.uniform(0.75, 1.0)
    return backoff


class LLMBackend:
    """Generates an answer from prompt messages with a LangChain chat model.

    Every call is bounded by one wall-clock deadline (`deadline_s`) covering every try, every
    wait between tries and every streamed token; each read also times out after `timeout_s`.
    """

    def __init__(
        self,
        *,
        model: BaseChatModel,
        model_name: str,
        max_retries: int = 0,
        timeout_s: float = 15.0,
        deadline_s: float = 55.0,
    ) -> None:
        self.model = model
        self.model_name = model_name
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s

    def start_deadline(self) -> float:
        """The monotonic time by which an answer starting now must be done."""
        return time.monotonic() + self.deadline_s

    def generate(
        self,
        messages: list[BaseMessage],
        on_token: Callable[[str], None] | None = None,
        *,
        deadline: float | None = None,
    ) -> Generation:
        """Run the model (streaming when `on_token` is given); failures become LLMError.

        `deadline` (monotonic seconds) lets several calls for one answer share one deadline.
        """
        deadline = self.start_deadline() if deadline is None else deadline
        attempt = 0
        while True:
            streamed: list[str] = []
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise DeadlineExceeded(f"{self.deadline_s:g}")
                timeout = min(self.timeout_s, remaining)
                return self._once(messages, on_token, streamed, timeout, deadline)
            except Exception as error:  # every provider error becomes one clear, key-free line
                wait = retry_delay(error, attempt)
                # No retry once text reached the user, nor past the deadline.
                if (
                    streamed
                    or wait is None
                    or attempt >= self.max_retries
                    or time.monotonic() + wait + 1.0 >= deadline
                ):
                    reason = describe_error(error)
                    log.warning("LLM call failed: %s", reason)
                    raise LLMError(reason) from error
                log.info("LLM call failed (%s); retrying in %.1f s", describe_error(error), wait)
                time.sleep(wait)
                attempt += 1

    def _once(
        self,
        messages: list[BaseMessage],
        on_token: Callable[[str], None] | None,
        streamed: list[str],
        timeout: float,
        deadline: float,
    ) -> Generation:
        """One try, run on a helper thread so the caller stops waiting at the deadline.

        A client's read timeout restarts with every byte, so a server that drips its reply is
        bounded only here. Tokens reach `on_token` on the caller's thread, never after the
        deadline; the helper stops reading at its next chunk and closes the connection.
        """
        results: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                if on_token is None:
                    message = self.model.invoke(messages, timeout=timeout)
                    results.put(("done", Generation(_text(message.content), _usage(message))))
                    return
                usage: dict[str, int] = {}
                for chunk in self.model.stream(messages, timeout=timeout):
                    if stop.is_set():
                        return  # leaving the loop closes the stream and its connection
                    piece = _text(chunk.content)
                    if piece:
                        results.put(("piece", piece))
                    usage = _usage(chunk) or usage
                results.put(("done", Generation("", usage)))
            except BaseException as error:  # handed to the caller's thread
                results.put(("error", error))

        threading.Thread(target=work, name="citebot-llm", daemon=True).start()
        try:
            while True:
                try:
                    kind, value = results.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise DeadlineExceeded(f"{self.deadline_s:g}") from None
                if kind == "error":
                    raise value
                if kind == "done":
                    if on_token is None:
                        return value  # type: ignore[no-any-return]
                    return Generation("".join(streamed), value.usage)
                streamed.append(value)
                assert on_token is not None
                on_token(value)
        finally:
            stop.set()


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
