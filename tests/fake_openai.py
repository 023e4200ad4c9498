"""Fakes for the LLM seam: a recording LangChain chat model and a loopback OpenAI-compatible server.

The server answers chat completions from a script and embeddings with a deterministic bag of words
(texts sharing words are close, so ranking through it is meaningful).

Import what a test module needs explicitly (`from fake_openai import fake_openai, ...`); pytest
then registers the fixtures for that module.
"""

from __future__ import annotations

import base64
import functools
import json
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fakes import WordOverlapEmbeddings
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from bot.answering.backends import Backend, Fallback, LLMAnswerBackend
from bot.answering.llm import LLMBackend
from bot.answering.service import Answerer
from bot.settings import LLMSettings, Settings
from bot.wiring import build_answerer, compose_backend, make_llm_backend
from retrieval.config import PathSettings, RetrievalSettings

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


# --- the stub chat model ---------------------------------------------------------------------


class RecordingChatModel(GenericFakeChatModel):
    """`GenericFakeChatModel` that records every prompt it is sent and raises scripted errors.

    `messages` is the reply queue: strings or AIMessages are answered, exceptions are raised.
    Streaming goes through `_generate` too (GenericFakeChatModel splits the reply on white space).
    """

    messages: Iterator[Any]
    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        reply = next(self.messages)
        if isinstance(reply, BaseException):
            raise reply
        message = AIMessage(content=reply) if isinstance(reply, str) else reply
        return ChatResult(generations=[ChatGeneration(message=message)])


def stub(*replies: Any) -> RecordingChatModel:
    """A recording fake chat model that answers (or raises) `replies` in order."""
    return RecordingChatModel(messages=iter(replies))


# --- the seed-corpus index, built once per process -------------------------------------------


@functools.cache
def _seed_answerer(data_dir: str) -> Answerer:
    settings = Settings(
        paths=PathSettings(data_dir=Path(data_dir), corpus_dir=SEED_CORPUS),
        # Explicit, so a developer's environment cannot change the session-wide index.
        retrieval=RetrievalSettings(
            embedding_provider="minilm", embedding_model="", chroma_host=""
        ),
        llm=LLMSettings(backend="extractive"),
    )
    return build_answerer(settings)


@pytest.fixture(scope="session")
def seed_answerer(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    """The extractive answerer over the seed corpus with the real MiniLM (one ingest per run)."""
    return _seed_answerer(str(tmp_path_factory.getbasetemp() / "seed-index"))


def with_llm(base: Answerer, settings: Settings, chat_model: Any = None) -> Answerer:
    """`base`'s index and extractive answerer with the LLM backend `settings` (or `chat_model`) pick."""
    llm = make_llm_backend(settings, chat_model)
    return Answerer(
        index=base.index,
        searcher=base.searcher,
        backend=compose_backend(llm, offline_backend(base), base.prompts, settings),
        condenser=llm,
        prompts=base.prompts,
        settings=settings.llm,
    )


def offline_backend(base: Answerer) -> Backend:
    """The extractive backend `base` answers with (or falls back to)."""
    backend = base.backend
    return backend.secondary if isinstance(backend, Fallback) else backend


def with_stub(base: Answerer, model: RecordingChatModel, model_name: str = "stub") -> Answerer:
    """`base` answering through the stub chat model."""
    llm = LLMBackend(model=model, model_name=model_name)
    return Answerer(
        index=base.index,
        searcher=base.searcher,
        backend=Fallback(
            LLMAnswerBackend(llm=llm, prompts=base.prompts, settings=base.settings),
            offline_backend(base),
        ),
        condenser=llm,
        prompts=base.prompts,
        settings=base.settings,
    )


# --- the loopback OpenAI-compatible server ---------------------------------------------------


@dataclass
class Reply:
    """One scripted response: a completion, an HTTP error, or a delay before either."""

    text: str = ""
    status: int = 200
    error_message: str = ""
    delay_s: float = 0.0
    # Fault modes: send the body `drip_bytes` at a time every `drip_s` seconds (streamed: one
    # chunk every `drip_s`); stream `stall_after` pieces and then hang; send a body that is not JSON.
    drip_s: float = 0.0
    drip_bytes: int = 20
    stall_after: int | None = None
    malformed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    )


@dataclass(frozen=True)
class RecordedRequest:
    """What the server was sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """`POST /v1/chat/completions` on 127.0.0.1, answering from a script, recording every request.

    When the script runs dry every further request gets `default` (a 500 unless set), so a test
    that makes more calls than it expected sees a failure, not a hang.

    `POST /v1/embeddings` does not use the script: it answers every input with a hashed bag of words
    of `embedding_dimensions` (float or base64, as asked), or with the error `fail_embeddings` set.
    """

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default = Reply(status=500, error_message="no scripted reply left")
        self.requests: list[RecordedRequest] = []
        self.embedding_dimensions = 64
        self.embedding_error: Reply | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        """The URL to put in OPENAI_BASE_URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reply(self, text: str, **kwargs: Any) -> None:
        """Queue a completion."""
        self.script.append(Reply(text=text, **kwargs))

    def fail(self, status: int, message: str = "", **kwargs: Any) -> None:
        """Queue an HTTP error."""
        self.script.append(
            Reply(status=status, error_message=message or f"error {status}", **kwargs)
        )

    def fail_embeddings(self, status: int, message: str = "") -> None:
        """Answer every further embeddings request with an HTTP error."""
        self.embedding_error = Reply(status=status, error_message=message or f"error {status}")

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        """The embeddings requests received so far, in order."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/") == "/v1/embeddings"]

    def start(self) -> FakeOpenAI:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release any delayed reply and shut down."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.popleft() if self.script else self.default

    def _record_embeddings(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            return self.embedding_error

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                recorded = RecordedRequest("POST", self.path, dict(self.headers.items()), body)
                if self.path.rstrip("/") == "/v1/embeddings":
                    self._embeddings(recorded)
                    return
                reply = server._next(recorded)
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                try:
                    if self.path.rstrip("/") != "/v1/chat/completions":
                        self._json(404, {"error": {"message": f"no route {self.path}"}})
                    elif reply.status != 200:
                        error = {"message": reply.error_message, "type": "fake_error", "code": None}
                        self._json(reply.status, {"error": error}, reply.headers)
                    elif reply.malformed:
                        self._raw(200, b'{"id": "chatcmpl-fake", "choices": [{"mess', reply)
                    elif body.get("stream"):
                        self._stream(body, reply)
                    else:
                        data = json.dumps(_completion(body, reply)).encode()
                        self._raw(200, data, reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _embeddings(self, recorded: RecordedRequest) -> None:
                error = server._record_embeddings(recorded)
                try:
                    if error is not None:
                        payload = {"message": error.error_message, "type": "fake_error"}
                        self._json(error.status, {"error": payload})
                    else:
                        self._json(200, _embeddings(recorded.body, server.embedding_dimensions))
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _raw(self, status: int, data: bytes, reply: Reply) -> None:
                """A JSON response, all at once or dripped a few bytes at a time."""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not reply.drip_s:
                    self.wfile.write(data)
                    return
                for start in range(0, len(data), reply.drip_bytes):
                    self.wfile.write(data[start : start + reply.drip_bytes])
                    self.wfile.flush()
                    if server._stopping.wait(reply.drip_s):
                        return

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for index, chunk in enumerate(_chunks(body, reply)):
                    if reply.stall_after is not None and index > reply.stall_after:
                        server._stopping.wait()  # hang, the connection open, until shutdown
                        return
                    if index and reply.drip_s and server._stopping.wait(reply.drip_s):
                        return
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
        "usage": reply.usage,
    }


def _embeddings(body: dict[str, Any], dimensions: int) -> dict[str, Any]:
    inputs = body.get("input", [])
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    vectors = WordOverlapEmbeddings(dimensions=dimensions).embed_documents(texts)
    data: list[dict[str, Any]] = []
    for index, vector in enumerate(vectors):
        # The openai client asks for base64 (little-endian float32) unless told otherwise.
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(text.split()) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "fake"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def split_pieces(text: str) -> list[str]:
    """How the server splits a reply into streamed pieces: words with their following space."""
    pieces: list[str] = []
    for word in text.split(" "):
        pieces.append(word + " ")
    pieces[-1] = pieces[-1][:-1]
    return [p for p in pieces if p]


def _chunks(body: dict[str, Any], reply: Reply) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
    }
    first = {"role": "assistant", "content": ""}
    yield {**base, "choices": [{"index": 0, "delta": first, "finish_reason": None}]}
    for piece in split_pieces(reply.text):
        delta = {"content": piece}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": reply.usage}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running loopback OpenAI-compatible server, stopped after the test."""
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
