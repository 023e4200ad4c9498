"""The `citebot` command: ingest, search, stats, ask, chat, eval and telegram."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from bot.errors import CitebotError
from bot.settings import Settings, load_settings


class CitebotGroup(click.Group):
    """A click group that turns CitebotError into a one-line message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating citebot's errors at this door."""
        try:
            return super().invoke(ctx)
        except CitebotError as error:
            raise click.ClickException(str(error)) from error


def settings_of(ctx: click.Context) -> Settings:
    """The settings built once by the group for this invocation."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


@click.group(cls=CitebotGroup)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    envvar="CITEBOT_ENV_FILE",
    help="Settings file read after the environment (see .env.example).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (retrieval, token budgets).")
@click.pass_context
def cli(ctx: click.Context, env_file: Path, verbose: bool) -> None:
    """citebot answers questions from your documents, citing the exact text it used.

    Start with `citebot chat` (ingests the corpus, then opens a prompt). Settings come from the
    environment and `.env`; `.env.example` lists them all.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="citebot: %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers", "openai", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = load_settings(env_file if env_file.is_file() else None)


def print_skipped(report: Any) -> None:
    """One warning line per skipped file, on stderr."""
    for skipped in report.skipped:
        click.echo(f"warning: skipped {skipped.source}: {skipped.reason}", err=True)


@cli.command()
@click.argument(
    "path",
    required=False,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CITEBOT_CORPUS_DIR",
)
@click.option("--rebuild", is_flag=True, help="Drop the index and embed everything again.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def ingest(ctx: click.Context, path: Path | None, rebuild: bool, quiet: bool) -> None:
    """Add the documents under PATH (default: the corpus folder) to the index.

    Incremental: unchanged files cost nothing, edited files are re-embedded, deleted files are
    removed. Unreadable files are skipped with a warning; the rest is still ingested.
    """
    from bot.wiring import open_index, progress_bars

    settings = settings_of(ctx)
    root = path or settings.paths.corpus_dir
    index = open_index(settings, rebuild=rebuild)
    report = index.ingest(root, progress=progress_bars(not quiet and sys.stderr.isatty()))
    print_skipped(report)
    click.echo(report.summary())
    if report.documents_total == 0:
        raise click.ClickException(
            f"Nothing could be ingested from '{root}': add .txt, .md, .html or .pdf files."
        )


@cli.command()
@click.argument("query")
@click.option(
    "-k",
    "top_k",
    type=click.IntRange(min=1),
    help="How many chunks to show.",
    envvar="CITEBOT_TOP_K",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, best first.")
@click.pass_context
def search(ctx: click.Context, query: str, top_k: int | None, as_json: bool) -> None:
    """Show the chunks hybrid search finds for QUERY (no answering)."""
    from bot.wiring import open_index

    if not query.strip():
        raise click.UsageError("The query is empty: say what to search for.")
    settings = settings_of(ctx)
    hits = open_index(settings).searcher().search(query, top_k)
    if as_json:
        rows = [
            {
                "source": hit.chunk.source,
                "title": hit.chunk.title,
                "chunk_id": hit.chunk.chunk_id,
                "score": round(hit.score, 6),
                "found_by": hit.found_by,
                "text": hit.chunk.text,
            }
            for hit in hits
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    wanted = top_k or settings.retrieval.top_k
    if len(hits) < wanted:
        click.echo(f"(only {len(hits)} chunks in the index)", err=True)
    for rank, hit in enumerate(hits, start=1):
        found = ", ".join(f"{name} #{r}" for name, r in hit.found_by.items())
        click.echo(f"{rank}. {hit.chunk.source} (score {hit.score:.4f}; {found})")
        click.echo("   " + " ".join(hit.chunk.text.split())[:300])


@cli.command()
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Show what the index holds and where it lives."""
    from bot.wiring import open_index

    info = open_index(settings_of(ctx)).stats()
    click.echo(f"documents:       {info.documents}")
    click.echo(f"chunks:          {info.chunks}")
    click.echo(f"embedding model: {info.embedding_model} ({info.dimension or '?'} dimensions)")
    click.echo(f"chunking:        {info.chunking}")
    click.echo(f"index location:  {info.location}")
