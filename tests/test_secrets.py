"""Credentials in documents are masked at ingest: never stored, never searchable, never quoted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes import WordOverlapEmbeddings

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.index import CorpusIndex
from retrieval.loaders import load_corpus
from retrieval.text.secrets import find_secrets, mask_secrets

OPENAI_KEY = "sk-test-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK_TOKEN = "xoxb-" + "123456789012-abcdefghijkl"
BOT_TOKEN = "123456789:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n"
    "-----END RSA PRIVATE KEY-----"
)
PASSWORD = "hunter2-correct-horse"

NOTES = f"""Service notes for the billing gateway

The gateway reads its settings from the environment at start-up.
OPENAI_API_KEY={OPENAI_KEY}
aws_access_key_id = {AWS_KEY}
The deploy bot uses {GITHUB_TOKEN} and posts with {SLACK_TOKEN}.
The Telegram bot token is {BOT_TOKEN} for now.
DB_PASSWORD="{PASSWORD}"
smtp_password: mail2024pass
{PEM}
The gateway retries failed payments three times before giving up.
"""
SECRETS = [
    *(OPENAI_KEY, AWS_KEY, GITHUB_TOKEN, SLACK_TOKEN, BOT_TOKEN, PASSWORD),
    *("mail2024pass", "MIIEpAIBAAKC"),
]


def test_every_well_known_kind_is_found_and_masked_in_place() -> None:
    masked, found = mask_secrets(NOTES)
    assert len(masked) == len(NOTES)  # same length: offsets computed later stay valid
    assert masked.count("\n") == NOTES.count("\n")
    for secret in SECRETS:
        assert secret not in masked
    kinds = {f.kind for f in found}
    assert kinds == {
        "OpenAI API key",
        "AWS access key id",
        "GitHub token",
        "Slack token",
        "Telegram bot token",
        "password or token assignment",
        "private key block",
    }
    # What is not a secret is left alone, byte for byte.
    assert "The gateway retries failed payments three times before giving up." in masked
    assert "DB_PASSWORD=" in masked


@pytest.mark.parametrize(
    "text",
    [
        "The token economy grew by 12 percent; passwords should be long.",
        "Ratio 10:30 at 12:45:00, see https://example.org/sk-learn and ask-me-anything.",
        "The secret to success is patience.",
        "Reset your password: ask the help desk.",
        "Token: a word people use for many things.",
        "Token: Tokenization splits text into pieces.",
        "Password: choose one that is long and hard to guess.",
    ],
)
def test_ordinary_prose_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_ingest_stores_no_secret_and_warns_once_per_file_without_the_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gateway.txt").write_text(NOTES, encoding="utf-8")
    (corpus / "plain.txt").write_text("A file with nothing secret in it at all.\n")
    index = CorpusIndex.open(PathSettings(), RetrievalSettings(), WordOverlapEmbeddings())
    with caplog.at_level(logging.WARNING):
        index.ingest(corpus)
    stored = " ".join(chunk.text for chunk in index.store.all_chunks())
    for secret in SECRETS:
        assert secret not in stored
    assert "retries failed payments three times" in stored
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about_gateway = [w for w in warnings if "gateway.txt" in w]
    assert len(about_gateway) == 1
    assert "OpenAI API key" in about_gateway[0] and "private key block" in about_gateway[0]
    assert not any(secret in w for w in warnings for secret in SECRETS)
    assert not any("plain.txt" in w for w in warnings)
    # Quotes are exact slices of the stored text: offsets survived the masking.
    documents, _ = load_corpus(corpus)
    for chunk in index.store.all_chunks():
        original = next(d for d in documents if d.source == chunk.source)
        assert len(chunk.text) == chunk.end - chunk.start <= len(original.text)
    # Search cannot find the key either.
    hits = index.searcher().search(f"What is the API key {OPENAI_KEY}?", 4)
    assert hits and all(OPENAI_KEY not in hit.chunk.text for hit in hits)


def test_redaction_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gateway.txt").write_text(NOTES, encoding="utf-8")
    monkeypatch.setenv("CITEBOT_REDACT_SECRETS", "false")
    settings = RetrievalSettings()
    assert settings.redact_secrets is False
    index = CorpusIndex.open(PathSettings(), settings, WordOverlapEmbeddings())
    index.ingest(corpus)
    assert OPENAI_KEY in " ".join(chunk.text for chunk in index.store.all_chunks())
