"""The REPL: `citebot chat` driven through a real pseudo-terminal, and `Repl` in-process."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.answering.answer import Answer, Citation, Suggestion
from bot.answering.conversation import Conversation
from bot.answering.prompts import REFUSAL
from bot.answering.service import Answerer
from bot.doors.repl import Repl, enable_line_editing, format_answer, format_sources
from bot.errors import CitebotError, LLMError
from retrieval.documents import Chunk, ScoredChunk

NEWS = "000_a03238ee93841bab.txt"
DISPLACED_Q = "How many people did the Thai-Cambodian border dispute displace?"
TAIWAN_Q = "What did Hegseth say about Taiwan?"
CITEBOT = Path(sys.executable).parent / "citebot"


# --- through a pseudo-terminal ---------------------------------------------------------------


# Runs in the child's new session: the pty becomes its controlling terminal, so Ctrl-C (\x03)
# sends SIGINT, then the command replaces it. (Not a preexec_fn: forking a threaded pytest and
# running Python before exec can deadlock.)
TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class Terminal:
    """A child process on the slave side of a pty; the test reads and types on the master side."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.seen = ""  # everything read so far, for failure messages
        self._pending = b""
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", TAKE_TERMINAL, *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            os.close(slave)

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, text: str, timeout: float) -> str | None:
        """Everything up to and including `text`, or None after `timeout` seconds; fails at EOF."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self._pending:
            left = deadline - time.monotonic()
            # poll, not select: select() refuses descriptors above 1024, which a long suite reaches
            poller = select.poll()
            poller.register(self.master, select.POLLIN)
            if not poller.poll(max(left, 0) * 1000):
                return None
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                pytest.fail(f"the REPL ended before {text!r}; output:\n{self.seen}")
            self._pending += chunk
            self.seen += chunk.decode(errors="replace")
        end = self._pending.index(wanted) + len(wanted)
        before, self._pending = self._pending[:end], self._pending[end:]
        return before.decode(errors="replace").replace("\r\n", "\n")

    def expect(self, text: str, timeout: float) -> str:
        """Everything up to and including `text`; fails after `timeout` seconds."""
        got = self.read_until(text, timeout)
        if got is None:
            pytest.fail(f"no {text!r} within {timeout} s; output so far:\n{self.seen}")
        return got

    def interrupt(self, expected: str, attempts: int = 3) -> str:
        """Press Ctrl-C until `expected` shows.

        CPython's readline loses a SIGINT that lands between printing the prompt and waiting
        for input (it then blocks in select), so a second press is what a user would do too.
        """
        for _ in range(attempts):
            time.sleep(0.3)  # let readline reach its wait; the prompt is printed just before
            self.send("\x03")
            got = self.read_until(expected, timeout=10)
            if got is not None:
                return got
        pytest.fail(f"Ctrl-C never printed {expected!r}; output so far:\n{self.seen}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self.master)


PROMPT = "\n> "


@pytest.mark.slow
def test_chat_through_a_pseudo_terminal(isolated_paths: Path) -> None:
    env = dict(os.environ, CITEBOT_BACKEND="extractive", TERM="dumb")
    terminal = Terminal([str(CITEBOT), "chat"], env, cwd=isolated_paths)
    try:
        banner = terminal.expect(PROMPT, timeout=120)  # ingest and model load on a busy machine
        assert "2 documents" in banner
        assert "Offline extractive backend" in banner
        assert "/help" in banner

        terminal.send(DISPLACED_Q + "\n")
        answer = terminal.expect(PROMPT, timeout=60)
        assert "300,000" in answer
        assert "Sources:" in answer
        assert f"({NEWS})" in answer
        assert re.search(r"\[\d+\]", answer.split("Sources:")[0])  # the answer cites [n]

        terminal.send("/sources\n")
        sources = terminal.expect(PROMPT, timeout=30)
        assert "Cited:" in sources
        assert "characters" in sources
        assert NEWS in sources
        assert "Retrieved:" in sources
        assert "Backend: extractive" in sources

        terminal.send(TAIWAN_Q + "\n")
        refusal = terminal.expect(PROMPT, timeout=60)
        assert REFUSAL in refusal
        assert "Sources:" not in refusal

        terminal.send("/reset\n")
        assert "Conversation cleared." in terminal.expect(PROMPT, timeout=30)
        terminal.send("/sources\n")
        assert "No answer yet" in terminal.expect(PROMPT, timeout=30)

        terminal.send("/help\n")
        help_text = terminal.expect(PROMPT, timeout=30)
        for command in ("/sources", "/reset", "/help", "/quit"):
            assert command in help_text

        terminal.interrupt("Ctrl-D or /quit")  # Ctrl-C at the prompt: a hint, not an exit
        terminal.expect(PROMPT, timeout=30)

        terminal.send("\x04")  # Ctrl-D on an empty line
        terminal.expect("bye", timeout=30)
        assert terminal.process.wait(timeout=30) == 0
    finally:
        terminal.close()
    assert "Traceback" not in terminal.seen
    # Line editing keeps a history across sessions.
    history = (Path(env["CITEBOT_DATA_DIR"]) / "repl_history").read_text(encoding="utf-8")
    assert DISPLACED_Q in history


# --- in-process, with a scripted answerer ----------------------------------------------------


def chunk(text: str, source: str = "news.txt", index: int = 0) -> Chunk:
    return Chunk(f"{source}#{index}", source, "Border news", index, 0, len(text), text)


FACT = "The dispute displaced an estimated 300,000 people."


def displaced_answer(question: str = "How many were displaced?") -> Answer:
    return Answer(
        question=question,
        text="The dispute displaced an estimated 300,000 people. [1]",
        abstained=False,
        citations=[Citation(1, "news.txt", "Border news", None, "news.txt#0", FACT, 100, 150)],
        retrieved=[ScoredChunk(chunk(FACT), 0.0325, {"dense": 1, "bm25": 2})],
        backend="extractive",
        model=None,
        timings_ms={"retrieve": 12.0, "total": 30.0},
    )


def refusal_answer(question: str) -> Answer:
    return Answer(
        question=question,
        text=REFUSAL,
        abstained=True,
        citations=[],
        retrieved=[],
        backend="extractive",
        model=None,
    )


class ScriptedAnswerer:
    """Stands in for `Answerer`: replies with scripted answers or raises scripted errors."""

    def __init__(self, *replies: Answer | BaseException, tokens: Iterable[str] = ()) -> None:
        self.replies = list(replies)
        self.tokens = list(tokens)
        self.streams = bool(self.tokens)
        self.asked: list[str] = []
        self.streaming: list[bool] = []  # per question: was a token sink passed?

    def stats(self) -> Any:
        return SimpleNamespace(documents=2, chunks=17, location="/data/chroma")

    def describe(self) -> str:
        return "Offline extractive backend: answers quote the documents verbatim."

    def answer(
        self,
        question: str,
        conversation: Conversation | None = None,
        *,
        k: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        self.asked.append(question)
        self.streaming.append(on_token is not None)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        for token in self.tokens if on_token else ():
            on_token(token)
        if conversation is not None:
            conversation.add(question, reply.text)
        return reply


def scripted_input(*lines: str | BaseException) -> Callable[[str], str]:
    """An `input` replacement: returns `lines` in order (raising exceptions), then EOF."""
    queue = list(lines)

    def read(prompt: str) -> str:
        if not queue:
            raise EOFError
        line = queue.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line

    return read


def run_repl(
    answerer: ScriptedAnswerer, *lines: str | BaseException, stream: bool = True
) -> tuple[int, str, Conversation]:
    out = io.StringIO()
    conversation = Conversation()
    repl = Repl(
        answerer=cast(Answerer, answerer),
        conversation=conversation,
        out=out,
        read=scripted_input(*lines),
        stream=stream,
    )
    return repl.run(), out.getvalue(), conversation


def test_banner_answer_and_eof() -> None:
    answerer = ScriptedAnswerer(displaced_answer())
    code, out, conversation = run_repl(answerer, "  How many?  ")
    assert code == 0
    assert answerer.streaming == [False]  # nothing to stream from the extractive backend
    assert out.startswith("citebot: 2 documents, 17 chunks (/data/chroma).\nOffline extractive")
    assert "300,000 people. [1]\n\nSources:\n  [1] Border news (news.txt)\n" in out
    assert out.rstrip().endswith("bye")
    assert [t.question for t in conversation.turns] == ["How many?"]


def test_blank_lines_are_ignored() -> None:
    answerer = ScriptedAnswerer()
    code, _, _ = run_repl(answerer, "", "   ")
    assert code == 0
    assert answerer.asked == []


def test_unknown_command_says_so_and_shows_the_help() -> None:
    answerer = ScriptedAnswerer()
    code, out, _ = run_repl(answerer, "/frobnicate now")
    assert code == 0
    assert "Unknown command /frobnicate." in out
    assert "/sources" in out and "/reset" in out
    assert answerer.asked == []  # a command is never sent as a question


def test_sources_before_any_answer() -> None:
    _, out, _ = run_repl(ScriptedAnswerer(), "/sources")
    assert "No answer yet: ask a question first." in out


def test_sources_after_an_answer_and_after_reset() -> None:
    _, out, conversation = run_repl(
        ScriptedAnswerer(displaced_answer()), "How many?", "/sources", "/reset", "/sources"
    )
    assert "Cited:\n  [1] Border news — news.txt, characters 100-150\n" in out
    assert "Retrieved:\n  1. news.txt score 0.0325 (dense #1, bm25 #2)" in out
    assert "Backend: extractive; retrieve 12 ms, total 30 ms" in out
    assert "Conversation cleared." in out
    assert out.count("No answer yet") == 1  # /reset forgot the last answer too
    assert conversation.turns == []


def test_quit_command_leaves_with_code_0() -> None:
    answerer = ScriptedAnswerer(displaced_answer())
    code, out, _ = run_repl(answerer, "/QUIT", "How many?")
    assert code == 0
    assert out.rstrip().endswith("bye")
    assert answerer.asked == []  # nothing after /quit is read


def test_ctrl_c_at_the_prompt_does_not_exit() -> None:
    answerer = ScriptedAnswerer(displaced_answer())
    code, out, _ = run_repl(answerer, KeyboardInterrupt(), "How many?")
    assert code == 0
    assert "(Ctrl-D or /quit to leave)" in out
    assert answerer.asked == ["How many?"]


def test_ctrl_c_during_an_answer_cancels_it_and_the_loop_goes_on() -> None:
    answerer = ScriptedAnswerer(KeyboardInterrupt(), displaced_answer())
    code, out, conversation = run_repl(answerer, "First?", "/sources", "How many?")
    assert code == 0
    assert "(cancelled)" in out
    assert "No answer yet" in out  # the cancelled answer is not the last answer
    assert "300,000" in out
    assert [t.question for t in conversation.turns] == ["How many?"]


@pytest.mark.parametrize(
    "error",
    [
        CitebotError("The index is empty: run `citebot ingest`."),
        LLMError("The LLM failed: bad key; set OPENAI_API_KEY."),
    ],
)
def test_citebot_error_is_one_line_and_the_loop_goes_on(error: CitebotError) -> None:
    answerer = ScriptedAnswerer(error, refusal_answer(TAIWAN_Q))
    code, out, _ = run_repl(answerer, "First?", TAIWAN_Q)
    assert code == 0
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {error}"]
    assert "Traceback" not in out
    assert REFUSAL in out


def test_refusal_has_no_sources_and_sources_say_so() -> None:
    _, out, _ = run_repl(ScriptedAnswerer(refusal_answer(TAIWAN_Q)), TAIWAN_Q, "/sources")
    assert REFUSAL in out
    assert "Sources:" not in out
    assert "Cited: nothing (the answer was a refusal)." in out


def test_streamed_answer_is_not_repeated_and_its_sources_follow() -> None:
    answer = displaced_answer()
    answerer = ScriptedAnswerer(answer, tokens=[answer.text[:20], answer.text[20:] + " "])
    _, out, _ = run_repl(answerer, "How many?")
    assert answerer.streaming == [True]
    assert out.count(answer.text) == 1  # streamed once, not printed again
    assert "Sources:\n  [1] Border news (news.txt)" in out


def test_a_fallback_after_streaming_prints_the_answer_with_its_notice() -> None:
    answer = displaced_answer()
    answer.notice = "The LLM failed (timeout); this is the offline extractive answer."
    answerer = ScriptedAnswerer(answer, tokens=["A first checked sentence [1]. "])
    _, out, _ = run_repl(answerer, "How many?")
    assert "! The LLM failed (timeout)" in out
    assert "300,000 people. [1]" in out


def test_no_streaming_when_turned_off() -> None:
    answerer = ScriptedAnswerer(displaced_answer(), tokens=["never ", "shown"])
    _, out, _ = run_repl(answerer, "How many?", stream=False)
    assert answerer.streaming == [False]
    assert "never" not in out
    assert "300,000" in out


def test_format_answer_shows_the_notice_first_and_folds_long_quotes() -> None:
    answer = displaced_answer()
    answer.notice = "The LLM failed (timeout); this is the offline extractive answer."
    long_quote = "word " * 80
    answer.citations = [Citation(1, "report.pdf", "Report", 3, "r#0", long_quote, 0, 400)]
    text = format_answer(answer)
    assert text.startswith("! The LLM failed (timeout)")
    assert "  [1] Report (report.pdf, page 3)" in text
    quoted = [line for line in text.splitlines() if line.startswith("      “")]
    assert len(quoted) == 1 and quoted[0].endswith("…”") and len(quoted[0]) < 180


def test_format_sources_shows_the_standalone_question() -> None:
    answer = displaced_answer("And how many fled?")
    answer.standalone_question = "How many fled the Thai-Cambodian border dispute?"
    assert format_sources(answer).startswith(
        "Question: How many fled the Thai-Cambodian border dispute?"
    )
    assert format_sources(None) == "No answer yet: ask a question first."


def test_line_editing_creates_the_history_folder(isolated_paths: Path) -> None:
    history = isolated_paths / "data" / "nested" / "repl_history"
    save = enable_line_editing(history)
    assert history.parent.is_dir()
    save()
    assert history.is_file()


# --- waiting feedback and width ----------------------------------------------------------------


class TerminalOut(io.StringIO):
    """A StringIO that says it is a terminal, as the REPL's stdout is."""

    def isatty(self) -> bool:
        return True


class SlowAnswerer(ScriptedAnswerer):
    def answer(self, *args: Any, **kwargs: Any) -> Answer:
        time.sleep(0.8)
        return super().answer(*args, **kwargs)


def test_a_spinner_shows_while_answering_and_is_wiped_before_the_answer() -> None:
    out = TerminalOut()
    repl = Repl(
        answerer=cast(Answerer, SlowAnswerer(displaced_answer())),
        conversation=Conversation(),
        out=out,
        read=scripted_input("How many?"),
    )
    repl.run()
    shown = out.getvalue()
    assert "answering…" in shown
    spinner_end = shown.rindex("answering…")
    wipe = shown.index("\r", spinner_end)
    assert shown.index("300,000 people") > wipe  # the answer comes after the spinner is gone


def test_no_spinner_when_output_is_not_a_terminal() -> None:
    _, out, _ = run_repl(SlowAnswerer(displaced_answer()), "How many?")
    assert "answering…" not in out and "\r" not in out


def test_answers_wrap_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = displaced_answer()
    answer.text = " ".join(["The dispute displaced an estimated 300,000 people."] * 4) + " [1]"
    monkeypatch.setenv("COLUMNS", "70")
    lines = format_answer(answer).splitlines()
    assert max(len(line) for line in lines[:3]) <= 70
    assert len(lines[0]) > 60  # the whole width is used, not a fixed narrower one
    monkeypatch.setenv("COLUMNS", "160")
    assert format_answer(answer).splitlines()[0].startswith(answer.text[:150].rsplit(" ", 1)[0])


def test_a_source_shows_the_heading_its_quote_sits_under() -> None:
    answer = displaced_answer()
    answer.citations = [
        Citation(
            1,
            "CHANGES.md",
            "Version History",
            None,
            "c#0",
            "Add prompt customization.",
            57,
            83,
            "v1.2.5",
        )
    ]
    text = format_answer(answer)
    assert "  [1] Version History › v1.2.5 (CHANGES.md)" in text
    assert "[1] Version History › v1.2.5 — CHANGES.md" in format_sources(answer)
    # A section that is the title itself adds nothing, nor one cut short (a byline).
    for section in ("Guide", "By Harbour Agency |"):
        answer.citations = [Citation(1, "a.md", "Guide", None, "c#0", "A quote.", 0, 8, section)]
        assert "  [1] Guide (a.md)" in format_answer(answer)
    # A refusal's places to look name the section of their closest passage.
    refused = displaced_answer()
    refused.abstained, refused.citations = True, []
    refused.suggestions = [Suggestion("Version History", "CHANGES.md", None, "v1.2.5")]
    assert "  - Version History › v1.2.5 (CHANGES.md)" in format_answer(refused)
