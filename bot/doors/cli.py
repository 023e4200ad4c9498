"""The `citebot` command: ingest, search, stats, ask, chat, eval and telegram."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.errors import CitebotError
from bot.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

# Their INFO lines are request URLs (the OpenAI client's among them) and library chatter.
NOISY_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "chromadb",
    "sentence_transformers",
    "openai",
    "bm25s",
)


class CitebotGroup(click.Group):
    """A click group that turns CitebotError into a one-line message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating citebot's errors at this door."""
        try:
            return super().invoke(ctx)
        except CitebotError as error:
            raise click.ClickException(str(error)) from error


def top_k_option(help_text: str) -> Callable[[F], F]:
    """The `-k N` option shared by search, ask and eval (default: CITEBOT_TOP_K)."""
    return click.option(
        "-k", "top_k", type=click.IntRange(min=1), envvar="CITEBOT_TOP_K", help=help_text
    )


def settings_of(ctx: click.Context) -> Settings:
    """The settings built once by the group for this invocation."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


@click.group(cls=CitebotGroup)
@click.version_option(package_name="citebot", prog_name="citebot", message="%(prog)s %(version)s")
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
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        ctx.obj = load_settings(env_file if env_file.is_file() else None)
    except CitebotError as error:
        raise click.ClickException(str(error)) from error


def warn_line(message: str) -> None:
    """One warning line on stderr."""
    click.echo(f"warning: {message}", err=True)


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
    from retrieval.loaders import READABLE

    settings = settings_of(ctx)
    root = path or settings.paths.corpus_dir
    index = open_index(settings, rebuild=rebuild)
    report = index.ingest(root, progress=progress_bars(not quiet and sys.stderr.isatty()))
    print_skipped(report)
    click.echo(report.summary())
    if report.documents_total == 0:
        raise click.ClickException(f"Nothing could be ingested from '{root}': add {READABLE}.")


@cli.command()
@click.argument("query")
@top_k_option("How many chunks to show.")
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
    from bot.wiring import open_index, unfinished_ingest_message

    info = open_index(settings_of(ctx)).stats()
    if info.unfinished_ingest:
        click.echo(f"warning: {unfinished_ingest_message(info.unfinished_ingest)}", err=True)
    click.echo(f"documents:       {info.documents}")
    click.echo(f"chunks:          {info.chunks}")
    click.echo(f"embedding model: {info.embedding_model} ({info.dimension or '?'} dimensions)")
    click.echo(f"chunking:        {info.chunking}")
    click.echo(f"index location:  {info.location}")


def print_answer_json(answer: Any) -> None:
    """The `ask --json` object on stdout."""
    click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))


def corpus_option(help_text: str) -> Callable[[F], F]:
    """The `--corpus PATH` option of ask (the folder to answer from)."""
    return click.option(
        "--corpus",
        "corpus",
        type=click.Path(file_okay=False, path_type=Path),
        help=help_text,
    )


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (fields in README).")
@corpus_option("The documents folder (default: CITEBOT_CORPUS_DIR, else the one last ingested).")
@top_k_option("Chunks to retrieve.")
@click.pass_context
def ask(
    ctx: click.Context, question: str, as_json: bool, corpus: Path | None, top_k: int | None
) -> None:
    """Answer one QUESTION from the documents, citing the text it used.

    With --json a failure is printed as {"error": "..."} on stdout, with the same exit code.
    """
    from bot.doors.repl import format_answer
    from bot.wiring import build_answerer

    if not question.strip():
        raise click.UsageError("The question is empty: ask something about the documents.")
    try:
        answerer = build_answerer(
            settings_of(ctx),
            corpus=corpus,
            progress=not as_json and sys.stderr.isatty(),
            warn=warn_line,
        )
        answer = answerer.answer(question, k=top_k)
    except CitebotError as error:
        if not as_json:
            raise
        click.echo(json.dumps({"error": str(error)}, ensure_ascii=False))
        ctx.exit(click.ClickException.exit_code)
    if as_json:
        print_answer_json(answer)
    else:
        click.echo(format_answer(answer))


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-stream", is_flag=True, help="Print LLM answers whole instead of streaming.")
@click.pass_context
def chat(ctx: click.Context, path: Path | None, no_stream: bool) -> None:
    """Open the REPL on PATH: ingests it (fast when unchanged), then answers your questions.

    PATH defaults to CITEBOT_CORPUS_DIR, else the folder last ingested into this data folder.
    """
    from bot.answering.conversation import Conversation
    from bot.doors.repl import Repl, enable_line_editing
    from bot.wiring import build_answerer, corpus_folder, open_index

    settings = settings_of(ctx)
    folder = path or corpus_folder(settings, open_index(settings))
    click.echo(f"Indexing {folder} …", err=True)
    answerer = build_answerer(settings, corpus=folder, progress=sys.stderr.isatty(), warn=warn_line)
    save_history = enable_line_editing(settings.paths.data_dir / "repl_history")
    try:
        Repl(
            answerer=answerer,
            conversation=Conversation(max_tokens=settings.llm.history_tokens),
            stream=not no_stream,
        ).run()
    finally:
        save_history()


@cli.command("eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval-out"),
    show_default=True,
    help="Folder for results.jsonl, summary.json, report.md and the plots.",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "extractive", "llm"]),
    envvar="CITEBOT_BACKEND",
    help="Answer backend (default: from settings).",
)
@top_k_option("Chunks retrieved per question.")
@click.option(
    "--fail-under",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Exit 1 when METRIC is below VALUE (above, for false_abstention_rate and latencies). Repeatable.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def evaluate(
    ctx: click.Context,
    questions: Path,
    out_dir: Path,
    backend: str | None,
    top_k: int | None,
    fail_under: tuple[str, ...],
    quiet: bool,
) -> None:
    """Score the bot on a question set (JSON Lines) and write a report.

    Each line: {"id", "question", "answers": [keys that must all appear], "sources": [files]};
    both lists empty means the bot must refuse. Every question runs through the same pipeline
    as `citebot ask`. Metrics are defined in the report.
    """
    from bot.doors.evaluation.report import file_type_lines, write_report
    from bot.doors.evaluation.run import (
        check_thresholds,
        load_questions,
        parse_fail_under,
        run_evaluation,
        summarize,
    )
    from bot.wiring import build_answerer

    try:
        thresholds = parse_fail_under(list(fail_under))
    except CitebotError as error:  # a typo in a gate is a usage error (exit 2), not a quality drop
        raise click.BadParameter(str(error), param_hint="--fail-under") from error
    settings = settings_of(ctx)
    if backend:
        settings.llm.backend = backend
    loaded, errors = load_questions(questions)
    for problem in errors:
        click.echo(f"warning: {questions}: {problem}", err=True)
    if not loaded:
        raise click.ClickException(f"No valid questions in {questions}.")
    answerer = build_answerer(settings, progress=not quiet and sys.stderr.isatty())
    k = top_k or settings.retrieval.top_k
    results, scores = run_evaluation(answerer.answer, loaded, k=k, progress=not quiet)
    summary = summarize(loaded, results, scores, k)
    written = write_report(out_dir, loaded, results, scores, summary)
    for name in (
        "answer_accuracy",
        "right_source_rate",
        "abstention_recall",
        "false_abstention_rate",
        "citation_support",
        "hit@1",
        "hit@4",
        "mrr",
    ):
        if name in summary:
            click.echo(f"{name:24} {summary[name]:.3f}")
    for line in file_type_lines(loaded, scores):
        click.echo(line)
    click.echo(f"report: {written[0].parent / 'report.md'}")
    failures = check_thresholds(summary, thresholds)
    if failures:
        for failure in failures:
            click.echo(f"FAIL {failure}", err=True)
        ctx.exit(1)


@cli.command()
@click.option(
    "--webhook-url",
    envvar="TELEGRAM_WEBHOOK_URL",
    help="Public HTTPS URL: run as a webhook instead of long polling.",
)
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    envvar="TELEGRAM_LISTEN",
    help="Webhook listen address.",
)
@click.option(
    "--port",
    default=8443,
    show_default=True,
    type=int,
    envvar="TELEGRAM_PORT",
    help="Webhook listen port.",
)
@click.option(
    "--public",
    is_flag=True,
    help="Answer anyone (no allow-list). The documents may be private: think twice.",
)
@click.pass_context
def telegram(
    ctx: click.Context, webhook_url: str | None, listen: str, port: int, public: bool
) -> None:
    """Run the Telegram bot (long polling, or a webhook with --webhook-url).

    Needs TELEGRAM_BOT_TOKEN, and TELEGRAM_ALLOWED_USERS / TELEGRAM_ALLOWED_CHATS unless --public.
    """
    from bot.doors.telegram.access import (
        TelegramConfigError,
        TelegramUnreachableError,
        check_access,
        validate_token,
    )
    from bot.doors.telegram.app import run_bot, webhook_options
    from bot.wiring import build_answerer

    settings = settings_of(ctx)
    try:
        validate_token(settings.telegram.bot_token)
        check_access(settings, public=public)
        if webhook_url:
            webhook_options(webhook_url, listen, port)  # a plain-HTTP URL fails here, not later
    except TelegramConfigError as error:
        click.echo(f"Error: {error}", err=True)
        ctx.exit(2)
    answerer = build_answerer(settings, progress=sys.stderr.isatty())
    try:
        run_bot(
            settings, answerer, webhook_url=webhook_url, listen=listen, port=port, public=public
        )
    except TelegramConfigError as error:  # a bad webhook URL, a token Telegram rejects
        click.echo(f"Error: {error}", err=True)
        ctx.exit(2)
    except TelegramUnreachableError as error:  # no network, a dead TELEGRAM_BASE_URL
        click.echo(f"Error: {error}", err=True)
        ctx.exit(1)
