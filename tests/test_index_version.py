"""The index version stamp: readers key their BM25 cache on it, and an unfinished ingest shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes import WordOverlapEmbeddings

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.index import CorpusIndex
from retrieval.lexical import LexicalIndex
from retrieval.store import ChunkStore, chunking_signature, make_chroma_client

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEED_FILE = "000_a03238ee93841bab.txt"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, folder)
    return folder


def open_index(embeddings: WordOverlapEmbeddings) -> CorpusIndex:
    return CorpusIndex.open(PathSettings(), RetrievalSettings(), embeddings)


def reader_index(embeddings: WordOverlapEmbeddings, lexical_dir: Path) -> CorpusIndex:
    """Another reader of the same store with its own BM25 cache folder, as on another machine."""
    settings = RetrievalSettings()
    store = ChunkStore.open(
        make_chroma_client(settings, PathSettings().data_dir),
        settings.collection,
        model_id=embeddings.model_id,
        chunking=chunking_signature(settings),
    )
    return CorpusIndex(
        store=store,
        embeddings=embeddings,
        settings=settings,
        lexical_dir=lexical_dir,
        location="reader",
    )


def edit(corpus: Path, old: str, new: str) -> None:
    path = corpus / SEED_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_ingest_that_changes_the_index_writes_a_new_stamp(corpus: Path) -> None:
    index = open_index(WordOverlapEmbeddings())
    index.ingest(corpus)
    first, unfinished = index.store.version()
    assert first is not None and unfinished is None

    index.ingest(corpus)
    assert index.store.version() == (first, None), "nothing changed: readers keep their cache"

    edit(corpus, "300,000 people", "412,000 zebras")
    index.ingest(corpus)
    second, unfinished = index.store.version()
    assert second not in (None, first) and unfinished is None


def test_a_reader_rebuilds_its_bm25_when_the_stamp_moves_though_the_count_does_not(
    corpus: Path, tmp_path: Path
) -> None:
    embeddings = WordOverlapEmbeddings()
    writer = open_index(embeddings)
    writer.ingest(corpus)
    reader = reader_index(embeddings, tmp_path / "reader-cache")
    before = reader.lexical()
    assert reader.lexical() is before, "an unchanged stamp costs no rebuild"
    count = reader.store.count()

    edit(corpus, "300,000 people", "412,000 zebras")  # same length: the chunk count stays
    writer.ingest(corpus)
    assert reader.store.count() == count

    after = reader.lexical()
    assert after is not before and after.stamp == reader.store.version()[0]
    assert any("412,000 zebras" in c.text for c, _ in after.search("zebras", 3))
    assert LexicalIndex.load(tmp_path / "reader-cache") is not None, "cached for next time"


def test_a_cache_built_at_an_older_stamp_is_rebuilt(corpus: Path, tmp_path: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)
    cache = tmp_path / "reader-cache"
    reader = reader_index(embeddings, cache)
    stale = reader.store.all_chunks()[:3]
    LexicalIndex.build(stale, stamp="an-older-version").save(cache)

    lexical = reader_index(embeddings, cache).lexical()

    assert lexical.stamp == reader.store.version()[0]
    assert len(lexical.chunks) == reader.store.count() > len(stale)
    saved = LexicalIndex.load(cache)
    assert saved is not None and saved.stamp == lexical.stamp


def test_a_cache_saved_before_stamps_existed_is_rebuilt(corpus: Path, tmp_path: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)
    cache = tmp_path / "reader-cache"
    reader = reader_index(embeddings, cache)
    LexicalIndex.build(reader.store.all_chunks()[:3]).save(cache)
    for stamp in cache.glob("v*/stamp"):
        stamp.unlink()  # the layout of an older citebot

    lexical = reader_index(embeddings, cache).lexical()

    assert len(lexical.chunks) == reader.store.count()


def test_a_cache_saved_by_another_analyzer_is_rebuilt(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BM25 cache whose terms older code made (before camelCase words were split, say) is not
    searched with today's query terms: it is rebuilt from the store's chunk texts."""
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)
    cache = tmp_path / "reader-cache"
    reader = reader_index(embeddings, cache)
    stamp = reader.store.version()[0]
    LexicalIndex.build(reader.store.all_chunks()[:3], stamp=stamp).save(cache)
    assert LexicalIndex.load(cache) is not None
    monkeypatch.setattr("retrieval.lexical.ANALYZER_VERSION", "a later one")

    assert LexicalIndex.load(cache) is None
    lexical = reader_index(embeddings, cache).lexical()

    assert len(lexical.chunks) == reader.store.count() > 3
    assert LexicalIndex.load(cache) is not None, "saved again under the analyzer of today"


class FailingEmbeddings(WordOverlapEmbeddings):
    """Fails on the second batch, as a crash mid-ingest would stop it."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.calls:
            raise RuntimeError("power cut")
        return super().embed_documents(texts)


def test_an_ingest_that_did_not_finish_is_recorded_until_one_does(corpus: Path) -> None:
    index = CorpusIndex.open(
        PathSettings(), RetrievalSettings(embedding_batch_size=1), FailingEmbeddings()
    )
    with pytest.raises(RuntimeError, match="power cut"):
        index.ingest(corpus)

    started = open_index(WordOverlapEmbeddings()).stats().unfinished_ingest
    assert started is not None and started.startswith("20")

    repaired = open_index(WordOverlapEmbeddings())
    repaired.ingest(corpus)
    assert repaired.stats().unfinished_ingest is None
    assert repaired.unfinished_ingest() is None


def test_an_ingest_reports_where_its_time_went(corpus: Path) -> None:
    report = open_index(WordOverlapEmbeddings()).ingest(corpus)

    assert set(report.stages) == {"load", "chunk", "embed", "store", "bm25"}
    assert all(seconds >= 0 for seconds in report.stages.values())
    assert sum(report.stages.values()) <= report.seconds


def test_ask_says_the_last_ingest_did_not_finish_and_repairs_it(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import bot.wiring
    from bot.doors.cli import cli

    monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setattr(
        bot.wiring, "make_embeddings", lambda settings, **_: WordOverlapEmbeddings()
    )
    index = open_index(WordOverlapEmbeddings())
    index.ingest(corpus)
    index.store.begin_ingest()  # as a killed ingest leaves it

    stats = CliRunner().invoke(cli, ["stats"])
    assert "did not finish" in stats.stderr and "run `citebot ingest` again" in stats.stderr

    ask = CliRunner().invoke(cli, ["ask", "How many people did the dispute displace?"])
    assert ask.exit_code == 0, ask.output
    assert "did not finish" in ask.stderr and "ingesting again now" in ask.stderr

    after = CliRunner().invoke(cli, ["stats"])
    assert after.exit_code == 0 and "did not finish" not in after.stderr
