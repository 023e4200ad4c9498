"""The local REPL: line editing and history, answers with their sources, slash commands."""

from __future__ import annotations

import itertools
import logging
import shutil
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.answering.answer import Answer
from bot.answering.conversation import Conversation
from bot.answering.service import Answerer
from bot.doors.quoting import display_name, display_place, display_quote, display_short_quote
from bot.errors import CitebotError

log = logging.getLogger(__name__)

HELP = """\
Ask a question about the documents, or:
  /sources   the last answer's sources in full (quotes, files, offsets, retrieval scores)
  /reset     forget the conversation (follow-ups start fresh)
  /help      this help
  /quit      leave (Ctrl-D works too; Ctrl-C cancels a running answer)"""


def terminal_width() -> int:
    """Columns to wrap at: the terminal's (or $COLUMNS), 100 when there is none."""
    return max(20, shutil.get_terminal_size((100, 24)).columns)


def format_answer(answer: Answer, *, with_text: bool = True, width: int | None = None) -> str:
    """The answer text (unless already streamed), a notice if any, and its sources below it."""
    width = width or terminal_width()
    lines = []
    if answer.notice:
        lines.append(f"! {answer.notice}")
    if with_text:
        lines.append(
            textwrap.fill(answer.text, width=width, break_on_hyphens=False, break_long_words=False)
            if len(answer.text) < 2000
            else answer.text
        )
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            page = f", page {c.page}" if c.page is not None else ""
            located = display_place(c.title, c.section)
            lines.append(f"  [{c.n}] {located} ({display_name(c.source)}{page})")
            lines.append(f"      “{display_short_quote(c.quote)}”")
    if answer.abstained and answer.suggestions:
        lines.append("")
        lines.append("Closest passages, places to look:")
        for place in answer.suggestions:
            page = f", page {place.page}" if place.page is not None else ""
            where = display_place(place.title, place.section)
            lines.append(f"  - {where} ({display_name(place.source)}{page})")
    return "\n".join(lines)


def format_sources(answer: Answer | None, *, width: int | None = None) -> str:
    """Everything behind the last answer: full quotes with offsets, then what was retrieved."""
    width = width or terminal_width()
    if answer is None:
        return "No answer yet: ask a question first."
    lines = [f"Question: {answer.standalone_question or answer.question}"]
    if answer.citations:
        lines.append("Cited:")
        for c in answer.citations:
            page = f", page {c.page}" if c.page is not None else ""
            lines.append(
                f"  [{c.n}] {display_place(c.title, c.section)} — {display_name(c.source)}{page}, "
                f"characters {c.start}-{c.end}"
            )
            quote = textwrap.fill(display_quote(c.quote), width=max(20, width - 6))
            lines.append(textwrap.indent(quote, "      "))
    else:
        lines.append("Cited: nothing (the answer was a refusal).")
    lines.append("Retrieved:")
    for rank, hit in enumerate(answer.retrieved, start=1):
        found = ", ".join(f"{name} #{r}" for name, r in hit.found_by.items())
        lines.append(f"  {rank}. {display_name(hit.chunk.source)} score {hit.score:.4f} ({found})")
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in answer.timings_ms.items())
    lines.append(
        f"Backend: {answer.backend}{' ' + answer.model if answer.model else ''}; {timings}"
    )
    return "\n".join(lines)


def enable_line_editing(history_file: Path | None) -> Callable[[], None]:
    """Turn on readline editing and persistent history; returns a function that saves it."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input still works
        return lambda: None
    if history_file is not None:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            readline.read_history_file(history_file)
        except OSError:
            pass
        readline.set_history_length(1000)

    def save() -> None:
        if history_file is not None:
            try:
                readline.write_history_file(history_file)
            except OSError:
                pass

    return save


class Spinner:
    """A spinner on the terminal while an answer is being made; nothing when output is not a tty.

    It appears only after `delay_s` (quick answers need none) and is wiped before anything else
    is printed, so it never mixes with the answer.
    """

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, out: TextIO, label: str = "answering…", delay_s: float = 0.3) -> None:
        self.out = out
        self.label = label
        self.delay_s = delay_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._shown = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start spinning (on a tty only)."""
        isatty = getattr(self.out, "isatty", None)
        if isatty is None or not isatty():
            return
        self._thread = threading.Thread(target=self._spin, name="citebot-spinner", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        if self._stop.wait(self.delay_s):
            return
        for frame in itertools.cycle(self.FRAMES):
            with self._lock:
                if self._stop.is_set():
                    return
                self.out.write(f"\r{frame} {self.label}")
                self.out.flush()
                self._shown = True
            if self._stop.wait(0.1):
                return

    def stop(self) -> None:
        """Stop and wipe the spinner's line; safe to call more than once."""
        self._stop.set()
        with self._lock:
            if self._shown:
                self.out.write("\r" + " " * (len(self.label) + 2) + "\r")
                self.out.flush()
                self._shown = False


class Repl:
    """Reads questions, prints answers; every answer comes from the one Answerer."""

    def __init__(
        self,
        *,
        answerer: Answerer,
        conversation: Conversation,
        out: TextIO | None = None,
        read: Callable[[str], str] = input,
        stream: bool = True,
    ) -> None:
        self.answerer = answerer
        self.conversation = conversation
        self.out = out or sys.stdout  # looked up now, not at import (a test may have replaced it)
        self.read = read
        self.stream = stream
        self.last: Answer | None = None

    def say(self, text: str = "") -> None:
        """Print a line and flush (the REPL may be driven through a pipe or a pty)."""
        print(text, file=self.out, flush=True)

    def banner(self) -> str:
        """What the user sees first: the corpus, the backend and how to get help."""
        stats = self.answerer.stats()
        return (
            f"citebot: {stats.documents} documents, {stats.chunks} chunks ({stats.location}).\n"
            f"{self.answerer.describe()}\n"
            "Ask a question; /help for commands, Ctrl-D to quit."
        )

    def run(self) -> int:
        """The read-answer loop; returns the exit code."""
        self.say(self.banner())
        while True:
            try:
                line = self.read("\n> ").strip()
            except EOFError:
                self.say("\nbye")
                return 0
            except KeyboardInterrupt:
                self.say("\n(Ctrl-D or /quit to leave)")
                continue
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line):
                    return 0
                continue
            self.ask(line)

    def command(self, line: str) -> bool:
        """Run a slash command; True means quit."""
        name = line.split()[0].lower()
        match name:
            case "/quit" | "/exit":
                self.say("bye")
                return True
            case "/help":
                self.say(HELP)
            case "/sources":
                self.say(format_sources(self.last))
            case "/reset":
                self.conversation.reset()
                self.last = None
                self.say("Conversation cleared.")
            case _:
                self.say(f"Unknown command {name}. {HELP}")
        return False

    def ask(self, question: str) -> None:
        """Answer one question, streaming tokens when the LLM backend runs."""
        streamed: list[str] = []
        spinner = Spinner(self.out)

        def on_token(piece: str) -> None:
            spinner.stop()
            streamed.append(piece)
            print(piece, end="", file=self.out, flush=True)

        use_stream = self.stream and self.answerer.streams
        spinner.start()
        try:
            try:
                answer = self.answerer.answer(
                    question, self.conversation, on_token=on_token if use_stream else None
                )
            finally:
                spinner.stop()  # before any line below is printed
        except KeyboardInterrupt:
            self.say("\n(cancelled)")
            return
        except CitebotError as error:
            self.say(f"\nerror: {error}")
            return
        except Exception as error:  # last resort: one line for the user, the details in the log
            log.info("answering %r failed", question, exc_info=True)
            self.say(
                f"\nerror: something went wrong ({type(error).__name__}); run with -v for details."
            )
            return
        self.last = answer
        # What streamed already passed the citation checks sentence by sentence; when it is the
        # whole answer only the sources follow, otherwise (a fallback, a refusal) the answer does.
        if streamed and "".join(streamed).strip() == answer.text.strip() and not answer.notice:
            self.say()
            self.say(format_answer(answer, with_text=False))
            return
        if streamed:
            self.say()
        self.say(format_answer(answer))
