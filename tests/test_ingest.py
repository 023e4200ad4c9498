"""Incremental ingest into the embedded Chroma store, with a fake embedding so it runs fast."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from fakes import WordOverlapEmbeddings, write_bad_files

from retrieval.config import PathSettings, RetrievalSettings
from retrieval.documents import Chunk, Document
from retrieval.errors import CitebotError, EmptyIndexError, IndexMismatchError
from retrieval.index import CorpusIndex
from retrieval.ingest import IngestReport, Progress, chunk_corpus
from retrieval.lexical import LexicalIndex
from retrieval.passages import PASSAGE_SCHEME, passage_texts
from retrieval.store import make_chroma_client

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEED_FILES = ["000_a03238ee93841bab.txt", "004_7bcb2394e0e0540d.txt"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seed corpus."""
    folder = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, folder)
    return folder


def open_index(
    embeddings: WordOverlapEmbeddings, *, rebuild: bool = False, **settings: int
) -> CorpusIndex:
    return CorpusIndex.open(
        PathSettings(), RetrievalSettings(**settings), embeddings, rebuild=rebuild
    )


def ids_by_source(index: CorpusIndex) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for chunk_id, source in index.store.sources_by_id().items():
        out.setdefault(source, set()).add(chunk_id)
    return out


def expected_ids(corpus: Path, **settings: int) -> dict[str, set[str]]:
    chunks, _, _ = chunk_corpus(corpus, RetrievalSettings(**settings))
    out: dict[str, set[str]] = {}
    for chunk in chunks:
        out.setdefault(chunk.source, set()).add(chunk.chunk_id)
    return out


def passage_count(index: CorpusIndex) -> int:
    """How many passages the index's chunks have, by the rule ingest embeds them with."""
    return sum(len(passage_texts(chunk)) for chunk in index.store.all_chunks())


def passage_owners(index: CorpusIndex) -> set[str]:
    """The chunk ids the stored passages belong to."""
    stored = index.store.passages.get(include=["metadatas"])
    return {str(meta["chunk_id"]) for meta in stored["metadatas"]}


def test_first_ingest_stores_every_chunk(corpus: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    report = open_index(embeddings).ingest(corpus)
    expected = expected_ids(corpus)
    total = sum(len(ids) for ids in expected.values())
    assert report.added == SEED_FILES
    assert (report.updated, report.removed, report.unchanged, report.skipped) == ([], [], [], [])
    assert report.chunks_embedded == total == report.chunks_total
    index = open_index(embeddings)
    passages = passage_count(index)
    assert passages > total, "chunks of several sentences are embedded as several passages"
    assert embeddings.texts_embedded == passages == index.store.passages.count()
    assert passage_owners(index) == set().union(*expected.values())
    assert report.documents_total == 2
    assert ids_by_source(open_index(embeddings)) == expected
    assert "2 added" in report.summary() and f"{total} chunks embedded" in report.summary()


def test_second_ingest_of_an_unchanged_corpus_embeds_nothing(corpus: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    first = open_index(embeddings).ingest(corpus)
    calls = len(embeddings.calls)

    # A fresh index object, as a second `citebot ingest` process would open.
    again = open_index(embeddings).ingest(corpus)

    assert len(embeddings.calls) == calls, "no embedding call at all"
    assert again.chunks_embedded == 0
    assert again.unchanged == SEED_FILES and not again.changed
    assert again.chunks_total == first.chunks_total
    assert again.documents_total == 2


def test_edited_file_has_its_old_chunks_replaced(corpus: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    index = open_index(embeddings)
    index.ingest(corpus)
    before = ids_by_source(index)
    edited = corpus / SEED_FILES[0]
    edited.write_text(
        edited.read_text(encoding="utf-8").replace("300,000 people", "412,000 zebras"),
        encoding="utf-8",
    )
    embedded_before = embeddings.texts_embedded

    report = index.ingest(corpus)

    after = ids_by_source(index)
    assert report.updated == [SEED_FILES[0]] and report.unchanged == [SEED_FILES[1]]
    assert after == expected_ids(corpus), "exactly the new chunks, no stale ones"
    assert after[SEED_FILES[1]] == before[SEED_FILES[1]]
    replaced = before[SEED_FILES[0]] - after[SEED_FILES[0]]
    assert replaced, "the chunks holding the edit got new ids"
    assert report.chunks_removed == len(replaced)
    assert report.chunks_embedded == len(replaced)
    new_chunks = [
        c
        for c in index.store.all_chunks()
        if c.chunk_id in after[SEED_FILES[0]] - before[SEED_FILES[0]]
    ]
    assert embeddings.texts_embedded - embedded_before == sum(
        len(passage_texts(c)) for c in new_chunks
    ), "only the new chunks' passages are embedded"
    assert passage_owners(index) == set().union(*after.values()), "no passage of a stale chunk"
    assert index.store.passages.count() == passage_count(index)
    # The lexical side follows: the new words are found, the old ones are gone.
    lexical = index.searcher().lexical
    assert any("412,000 zebras" in c.text for c, _ in lexical.search("zebras", 3))
    assert not any("300,000 people" in c.text for c in lexical.chunks)


def test_deleted_file_has_its_chunks_removed(corpus: Path) -> None:
    index = open_index(WordOverlapEmbeddings())
    index.ingest(corpus)
    (corpus / SEED_FILES[1]).unlink()

    report = index.ingest(corpus)

    assert report.removed == [SEED_FILES[1]]
    assert set(ids_by_source(index)) == {SEED_FILES[0]}
    assert report.chunks_total == index.store.count() == len(expected_ids(corpus)[SEED_FILES[0]])
    assert report.documents_total == 1
    assert passage_owners(index) == ids_by_source(index)[SEED_FILES[0]]
    assert {c.source for c in index.searcher().lexical.chunks} == {SEED_FILES[0]}


def test_two_identical_files_are_both_kept(tmp_path: Path) -> None:
    folder = tmp_path / "twins"
    folder.mkdir()
    text = (SEED_CORPUS / SEED_FILES[1]).read_text(encoding="utf-8")
    (folder / "a.txt").write_text(text, encoding="utf-8")
    (folder / "b.txt").write_text(text, encoding="utf-8")

    report = open_index(WordOverlapEmbeddings()).ingest(folder)

    assert report.added == ["a.txt", "b.txt"] and report.documents_total == 2
    index = open_index(WordOverlapEmbeddings())
    by_source = ids_by_source(index)
    assert len(by_source["a.txt"]) == len(by_source["b.txt"]) > 0
    assert not by_source["a.txt"] & by_source["b.txt"]
    assert index.stats().documents == 2


def test_another_embedding_model_is_refused_until_rebuild(corpus: Path) -> None:
    open_index(WordOverlapEmbeddings(model_id="fake:model-a")).ingest(corpus)

    with pytest.raises(IndexMismatchError) as raised:
        open_index(WordOverlapEmbeddings(model_id="fake:model-b"))
    message = str(raised.value)
    assert "fake:model-a" in message and "fake:model-b" in message
    assert "citebot ingest --rebuild" in message

    other = WordOverlapEmbeddings(model_id="fake:model-b", dimensions=64)
    rebuilt = open_index(other, rebuild=True)
    report = rebuilt.ingest(corpus)
    assert report.added == SEED_FILES, "the rebuild starts from an empty index"
    assert report.chunks_embedded == report.chunks_total
    assert other.texts_embedded == passage_count(rebuilt) == rebuilt.store.passages.count()
    stats = open_index(WordOverlapEmbeddings(model_id="fake:model-b", dimensions=64)).stats()
    assert (stats.embedding_model, stats.dimension) == ("fake:model-b", 64)


def test_an_index_without_passages_is_refused_until_rebuild(corpus: Path) -> None:
    # What an older citebot left: one vector per chunk, no passages, no passage scheme recorded.
    client = make_chroma_client(RetrievalSettings(), PathSettings().data_dir)
    old = client.create_collection(
        "citebot",
        metadata={"embedding_model": "fake:word-overlap-256", "chunking": "cl100k_base:250/50"},
        embedding_function=None,
    )
    old.add(ids=["old"], documents=["An old chunk."], embeddings=[[1.0] + [0.0] * 255])

    with pytest.raises(IndexMismatchError) as raised:
        open_index(WordOverlapEmbeddings())
    message = str(raised.value)
    assert PASSAGE_SCHEME in message and "citebot ingest --rebuild" in message

    rebuilt = open_index(WordOverlapEmbeddings(), rebuild=True)
    report = rebuilt.ingest(corpus)
    assert report.added == SEED_FILES and "old" not in rebuilt.store.sources_by_id()
    assert rebuilt.store.metadata["passages"] == PASSAGE_SCHEME
    assert open_index(WordOverlapEmbeddings()).searcher().search("border dispute", 1)


def test_bad_files_are_skipped_and_the_rest_is_ingested(corpus: Path) -> None:
    expected = write_bad_files(corpus / "bad")

    report = open_index(WordOverlapEmbeddings()).ingest(corpus)

    assert report.added == SEED_FILES
    assert {s.source for s in report.skipped} == {f"bad/{name}" for name in expected}
    assert report.documents_total == 2
    assert f"{len(expected)} skipped" in report.summary()


def test_a_file_that_turns_unreadable_keeps_its_chunks(corpus: Path) -> None:
    index = open_index(WordOverlapEmbeddings())
    index.ingest(corpus)
    before = ids_by_source(index)
    (corpus / SEED_FILES[1]).write_bytes(b"\x00\x01 now binary")

    report = index.ingest(corpus)

    assert [s.source for s in report.skipped] == [SEED_FILES[1]]
    assert report.removed == [] and report.documents_total == 2
    assert ids_by_source(index) == before, "skipping a file never loses what was indexed"


def test_changed_chunk_size_rechunks_without_stale_chunks(corpus: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)

    index = open_index(embeddings, chunk_tokens=64, chunk_overlap=8)
    report = index.ingest(corpus)

    assert report.updated == SEED_FILES
    assert ids_by_source(index) == expected_ids(corpus, chunk_tokens=64, chunk_overlap=8)
    assert index.stats().chunking == "cl100k_base:64/8"


def test_embeddings_go_in_batches_with_progress(corpus: Path) -> None:
    opened: list[tuple[int, str]] = []
    updates: list[int] = []
    closed: list[bool] = []

    class RecordingProgress(Progress):
        def __init__(self, total: int, label: str) -> None:
            opened.append((total, label))

        def update(self, n: int) -> None:
            updates.append(n)

        def close(self) -> None:
            closed.append(True)

    embeddings = WordOverlapEmbeddings()
    open_index(embeddings, embedding_batch_size=5).ingest(corpus, progress=RecordingProgress)

    assert [len(batch) for batch in embeddings.calls[:-1]] == [5] * (len(embeddings.calls) - 1)
    assert 0 < len(embeddings.calls[-1]) <= 5
    corpus_size = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
    assert opened == [(corpus_size, "Ingesting")]
    assert sum(updates) == corpus_size and all(n > 0 for n in updates)
    assert closed == [True]


def test_stats_describe_the_index(corpus: Path, isolated_paths: Path) -> None:
    index = open_index(WordOverlapEmbeddings())
    empty = index.stats()
    assert (empty.documents, empty.chunks) == (0, 0)

    report = index.ingest(corpus)

    stats = index.stats()
    assert stats.documents == 2 and stats.chunks == report.chunks_total
    assert stats.embedding_model == "fake:word-overlap-256"
    assert stats.dimension == 256
    defaults = RetrievalSettings()  # the index records the chunking it was built with
    assert stats.chunking == f"cl100k_base:{defaults.chunk_tokens}/{defaults.chunk_overlap}"
    assert stats.location == str((isolated_paths / "data").resolve())


def test_missing_lexical_files_are_rebuilt_from_the_store(corpus: Path) -> None:
    index = open_index(WordOverlapEmbeddings())
    index.ingest(corpus)
    shutil.rmtree(index.lexical_dir)

    reopened = open_index(WordOverlapEmbeddings())
    hits = reopened.searcher().search("How many people did the dispute displace?", 3)

    assert any("300,000" in hit.chunk.text for hit in hits)
    saved = LexicalIndex.load(reopened.lexical_dir)
    assert saved is not None and len(saved.chunks) == reopened.store.count()


def test_a_searcher_follows_an_ingest_by_another_process(corpus: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)
    searcher = open_index(embeddings).searcher()  # e.g. a running Telegram bot
    (corpus / "ferry.txt").write_text(
        "The Gull Island ferry leaves every 40 minutes from the harbour.\n", encoding="utf-8"
    )

    open_index(embeddings).ingest(corpus)  # e.g. `citebot ingest` in another terminal

    hits = searcher.search("How often does the Gull Island ferry leave?", 2)
    assert hits[0].chunk.source == "ferry.txt"


def test_an_empty_index_cannot_be_searched() -> None:
    with pytest.raises(EmptyIndexError, match="citebot ingest"):
        open_index(WordOverlapEmbeddings()).searcher()


def test_a_missing_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CitebotError, match="CITEBOT_CORPUS_DIR"):
        open_index(WordOverlapEmbeddings()).ingest(tmp_path / "nowhere")


def test_another_corpus_folder_is_refused_until_rebuild(corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text(
        "A different folder entirely, about ferries.\n", encoding="utf-8"
    )
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)

    with pytest.raises(CitebotError, match="--rebuild") as refused:
        open_index(embeddings).ingest(other)

    assert str(corpus.resolve()) in str(refused.value)
    assert set(ids_by_source(open_index(embeddings))) == set(expected_ids(corpus))  # untouched
    rebuilt = open_index(embeddings, rebuild=True)
    rebuilt.ingest(other)
    assert set(ids_by_source(rebuilt)) == {"note.txt"}


def test_a_moved_corpus_folder_is_simply_replaced(corpus: Path, tmp_path: Path) -> None:
    embeddings = WordOverlapEmbeddings()
    open_index(embeddings).ingest(corpus)
    moved = corpus.rename(tmp_path / "moved-corpus")

    report = open_index(embeddings).ingest(moved)

    assert report.chunks_embedded == 0 and not report.removed  # same files, same chunks


def test_small_ingest_groups_store_what_one_group_stores(corpus: Path) -> None:
    """Streaming in groups of 2 chunks gives the index that holding every chunk at once gives."""
    for n in range(4):  # more files and chunks than one group, and a file met twice
        text = (corpus / SEED_FILES[n % 2]).read_text(encoding="utf-8")
        (corpus / f"extra_{n}.txt").write_text(f"Copy {n}.\n\n{text}", encoding="utf-8")
    shutil.copy(corpus / SEED_FILES[0], corpus / "same_bytes.txt")
    embeddings = WordOverlapEmbeddings()

    def open_collection(name: str, group: int) -> CorpusIndex:
        settings = RetrievalSettings(
            collection=name, ingest_group_chunks=group, chunk_tokens=60, chunk_overlap=10
        )
        return CorpusIndex.open(PathSettings(), settings, embeddings)

    whole = open_collection("whole", 100_000)
    streamed = open_collection("streamed", 2)
    written: list[int] = []
    add = streamed.store.add

    def recording_add(
        chunks: Sequence[Chunk],
        passages: Sequence[Sequence[Sequence[float]]],
        file_keys: dict[str, str] | None = None,
    ) -> None:
        written.append(len(chunks))
        add(chunks, passages, file_keys)

    streamed.store.add = recording_add  # type: ignore[method-assign]

    def same(first: IngestReport, second: IngestReport) -> None:
        assert first.summary().rsplit("(", 1)[0] == second.summary().rsplit("(", 1)[0]
        assert ids_by_source(whole) == ids_by_source(streamed)
        assert {c.chunk_id: c for c in whole.store.all_chunks()} == {
            c.chunk_id: c for c in streamed.store.all_chunks()
        }
        stored = [c.store.passages.get(include=["embeddings"]) for c in (whole, streamed)]
        vectors = [
            {i: [float(x) for x in v] for i, v in zip(s["ids"], s["embeddings"], strict=True)}
            for s in stored
        ]
        assert vectors[0] == vectors[1]
        # The stored data is the same; the approximate vector index is built in another insertion
        # order, which may reorder the tail of a ranking (and copies of one text tie): the top 3.
        for question in ("How many people did the dispute displace?", "Copy 3"):
            found = [
                [h.chunk.text for h in c.searcher().search(question, 3)] for c in (whole, streamed)
            ]
            assert found[0] == found[1]

    same(whole.ingest(corpus), streamed.ingest(corpus))
    assert written and max(written) <= 2 and sum(written) > 20

    edited = corpus / "extra_1.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA new closing line.\n", "utf-8")
    (corpus / "extra_2.txt").unlink()
    written.clear()
    first, second = whole.ingest(corpus), streamed.ingest(corpus)
    same(first, second)
    assert second.updated == ["extra_1.txt"] and second.removed == ["extra_2.txt"]
    assert 0 < sum(written) == second.chunks_embedded < 5


def test_freed_memory_is_handed_back_after_each_stored_group(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C heap is trimmed once per group written, so an ingest's memory stays its index's."""
    events: list[str] = []
    monkeypatch.setattr("retrieval.ingest.release_freed_memory", lambda: events.append("trim"))
    index = CorpusIndex.open(
        PathSettings(),
        RetrievalSettings(ingest_group_chunks=2, chunk_tokens=60, chunk_overlap=10),
        WordOverlapEmbeddings(),
    )
    add = index.store.add

    def recording_add(
        chunks: Sequence[Chunk],
        passages: Sequence[Sequence[Sequence[float]]],
        file_keys: dict[str, str] | None = None,
    ) -> None:
        events.append("add")
        add(chunks, passages, file_keys)

    index.store.add = recording_add  # type: ignore[method-assign]
    index.ingest(corpus)
    assert events.count("add") > 1
    assert events == ["add", "trim"] * events.count("add")


def test_the_real_malloc_trim_is_found_and_called_without_error() -> None:
    import platform

    from retrieval.ingest import _malloc_trim, release_freed_memory

    if platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None
    release_freed_memory()


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every file the loaders are asked to read during ingest."""
    import retrieval.ingest as ingest_module

    loaded: list[str] = []
    load = ingest_module.load_document

    def counting_load(path: Path, source: str) -> Document:
        loaded.append(source)
        return load(path, source)

    monkeypatch.setattr(ingest_module, "load_document", counting_load)
    return loaded


def test_an_unchanged_reingest_reads_no_file_again(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = WordOverlapEmbeddings()
    index = open_index(embeddings)
    loaded = _count_loads(monkeypatch)
    first = index.ingest(corpus)
    assert sorted(loaded) == sorted(first.added) and loaded
    loaded.clear()

    again = index.ingest(corpus)
    assert loaded == []
    assert again.unchanged == first.added and not again.changed
    assert again.chunks_embedded == 0 and again.chunks_total == first.chunks_total
    assert ids_by_source(index) == expected_ids(corpus)


def test_a_changed_file_is_read_and_reingested_the_others_are_not(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = WordOverlapEmbeddings()
    index = open_index(embeddings)
    first = index.ingest(corpus)
    loaded = _count_loads(monkeypatch)
    edited = corpus / SEED_FILES[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA new closing line.\n", "utf-8")

    report = index.ingest(corpus)
    assert loaded == [SEED_FILES[0]]
    assert report.updated == [SEED_FILES[0]] and report.chunks_embedded > 0
    assert sorted(report.unchanged) == sorted(s for s in first.added if s != SEED_FILES[0])
    assert ids_by_source(index) == expected_ids(corpus)
    loaded.clear()
    assert not index.ingest(corpus).changed and loaded == []


def test_chunks_stored_without_a_file_key_learn_it_and_are_skipped_next_time(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index from before file keys: one ingest reads every file (embedding nothing), then none."""
    import retrieval.store as store_module

    embeddings = WordOverlapEmbeddings()
    index = open_index(embeddings)
    with monkeypatch.context() as old_store:
        old_store.setattr(store_module, "FILE_KEY", "unused_key")
        first = index.ingest(corpus)
    loaded = _count_loads(monkeypatch)
    upgraded = index.ingest(corpus)
    assert sorted(loaded) == sorted(first.added) and upgraded.chunks_embedded == 0
    loaded.clear()
    index.ingest(corpus)
    assert loaded == []


def test_other_chunking_settings_read_every_file_again(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_index(WordOverlapEmbeddings()).ingest(corpus)
    loaded = _count_loads(monkeypatch)
    report = open_index(WordOverlapEmbeddings(), chunk_tokens=80, chunk_overlap=10).ingest(corpus)
    assert sorted(loaded) == sorted(report.added + report.updated + report.unchanged)
    assert ids_by_source(open_index(WordOverlapEmbeddings())) == expected_ids(
        corpus, chunk_tokens=80, chunk_overlap=10
    )


def test_new_reading_code_restores_chunks_whose_text_is_the_same(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading code that gives a file a new title (or new sentence bounds) over the same text
    must reach the index: what is stored with a chunk, and its title-headed passages, are part
    of what a chunk is, not only its text."""
    import dataclasses

    import retrieval.ingest as ingest_module

    embeddings = WordOverlapEmbeddings()
    index = open_index(embeddings)
    index.ingest(corpus)
    load = ingest_module.load_document

    def retitled(path: Path, source: str) -> Document:
        return dataclasses.replace(load(path, source), title="A title the new code reads")

    monkeypatch.setattr(ingest_module, "load_document", retitled)
    monkeypatch.setattr(ingest_module, "_text_code_digest", lambda: "new reading code")
    report = index.ingest(corpus)
    assert sorted(report.updated) == SEED_FILES and report.chunks_embedded > 0
    stored = list(open_index(embeddings).store.all_chunks())
    assert stored and {chunk.title for chunk in stored} == {"A title the new code reads"}
