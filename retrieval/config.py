"""Settings groups the retrieval layer needs: where data lives and how the index is built."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Each group reads its own environment names (the names outside scripts rely on) and `.env`;
# `extra="ignore"` because one `.env` file holds every group's keys. An empty value means "not
# set" (a copied .env.example has `OPENAI_API_KEY=`), so it falls back to the default.
GROUP_CONFIG = SettingsConfigDict(
    env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
)


class PathSettings(BaseSettings):
    """Where the corpus is read from and where the index is written."""

    model_config = GROUP_CONFIG

    data_dir: Path = Field(
        Path(".citebot"),
        validation_alias=AliasChoices("CITEBOT_DATA_DIR", "data_dir"),
        description="Where the index lives (Chroma data, BM25 index); created when missing.",
    )
    corpus_dir: Path = Field(
        Path("corpus"),
        validation_alias=AliasChoices("CITEBOT_CORPUS_DIR", "corpus_dir"),
        description="The folder of documents to answer from (.txt, .md, .html, .pdf, .docx, .rst, .csv).",
    )
    model_cache_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("CITEBOT_MODEL_CACHE_DIR", "model_cache_dir"),
        description="Where the ONNX embedding model exported from the bundled weights is kept; "
        "empty means <CITEBOT_DATA_DIR>/models.",
    )

    @property
    def models_dir(self) -> Path:
        """The model cache folder, defaulting to one inside the data folder."""
        return self.model_cache_dir or self.data_dir / "models"


class RetrievalSettings(BaseSettings):
    """How documents are chunked, embedded, stored and searched."""

    model_config = GROUP_CONFIG

    embedding_provider: str = Field(
        "minilm",
        validation_alias=AliasChoices("CITEBOT_EMBEDDING_PROVIDER", "embedding_provider"),
        description="'minilm' (offline, bundled all-MiniLM-L6-v2) or 'openai' (OpenAI-compatible API).",
    )
    embedding_model: str = Field(
        "",
        validation_alias=AliasChoices("CITEBOT_EMBEDDING_MODEL", "embedding_model"),
        description="Embedding model name; empty means the provider's default "
        "(all-MiniLM-L6-v2 or text-embedding-3-small).",
    )
    embedding_runtime: str = Field(
        "onnx-int8",
        validation_alias=AliasChoices("CITEBOT_EMBEDDING_RUNTIME", "embedding_runtime"),
        description="How MiniLM runs: 'onnx-int8' (ONNX exported locally from the bundled "
        "weights; ingest embeds with an int8 copy), 'onnx' (ONNX, float32 only) or 'torch'.",
    )
    embedding_batch_size: int = Field(
        64,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_EMBEDDING_BATCH_SIZE", "embedding_batch_size"),
        description="Chunks embedded per batch during ingest.",
    )
    chunk_tokens: int = Field(
        250,
        ge=16,
        validation_alias=AliasChoices("CITEBOT_CHUNK_TOKENS", "chunk_tokens"),
        description="Target chunk size in tokens (cl100k_base).",
    )
    chunk_overlap: int = Field(
        50,
        ge=0,
        validation_alias=AliasChoices("CITEBOT_CHUNK_OVERLAP", "chunk_overlap"),
        description="Tokens of overlap between neighbouring chunks of one document.",
    )
    ingest_group_chunks: int = Field(
        512,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_INGEST_GROUP_CHUNKS", "ingest_group_chunks"),
        description="New chunks held at once during ingest before they are embedded and stored: "
        "ingest memory grows with this, not with the corpus.",
    )
    max_file_mb: float = Field(
        20,
        gt=0,
        validation_alias=AliasChoices("CITEBOT_MAX_FILE_MB", "max_file_mb"),
        description="Files bigger than this many MB are skipped at ingest with one line saying so.",
    )
    top_k: int = Field(
        4,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_TOP_K", "top_k"),
        description="Chunks returned by hybrid search and given to the answerer.",
    )
    candidates: int = Field(
        30,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_CANDIDATES", "candidates"),
        description="Candidates each retriever (dense and BM25) contributes before fusion.",
    )
    chroma_host: str = Field(
        "",
        validation_alias=AliasChoices("CHROMA_HOST", "chroma_host"),
        description="Chroma server host (started with `chroma run`); empty uses the embedded store.",
    )
    chroma_port: int = Field(
        8000,
        validation_alias=AliasChoices("CHROMA_PORT", "chroma_port"),
        description="Chroma server port, used with CHROMA_HOST.",
    )
    collection: str = Field(
        "citebot",
        validation_alias=AliasChoices("CITEBOT_COLLECTION", "collection"),
        description="Chroma collection name, so several corpora can share one server.",
    )
    redact_secrets: bool = Field(
        True,
        validation_alias=AliasChoices("CITEBOT_REDACT_SECRETS", "redact_secrets"),
        description="Mask credentials (API keys, tokens, private keys, passwords) found in documents at ingest.",
    )
