"""Load on the Telegram adapter: simulated users asking at once through the Bot API emulator.

Each of N users (default 20) asks M questions (default 10) from the seed set, one after the other
as a person would, all users at the same time, against the real bot (PTB, AIORateLimiter, the
answer threads) polling the npm emulator. The same questions then go through the answer service
in-process: once one by one, once with the same concurrency, so the difference is the adapter's
overhead. Every reply is checked against the in-process answer: none lost, none duplicated.

    npm ci --prefix tests
    .venv/bin/python benchmarks/telegram_load.py [--users 20] [--questions 10]

With --slow-llm the bot answers through the LLM backend, pointed at the loopback
OpenAI-compatible server of the tests, which answers slowly: most requests after 1-3 s, some
dripping a byte at a time, some stalling (both past the deadline). Every user must get an answer
or the extractive fallback within the deadline plus the wait for a free answer slot, and a
separate user sends /help every second throughout: its reply times are reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from telegram_emulator import (  # noqa: E402
    ChatUser,
    Emulator,
    emulator_installed,
    new_token,
    running_bot,
    telegram_settings,
)

from benchmarks.stats import percentile  # noqa: E402
from bot.answering.conversation import Conversation  # noqa: E402
from bot.answering.prompts import REFUSAL  # noqa: E402
from bot.doors.telegram.app import (  # noqa: E402
    ANSWER_SLOTS,
    ANSWER_THREADS,
    build_application,
)
from bot.doors.telegram.format import format_answer  # noqa: E402
from bot.doors.telegram.state import STATE_KEY, AnswerTiming  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.wiring import build_answerer  # noqa: E402

SEED_QUESTIONS = REPO / "tests" / "data" / "seed_questions.jsonl"
FIRST_USER = 10_000


def questions_for(users: int, per_user: int) -> list[list[str]]:
    """Each user's questions, taken round-robin from the seed set."""
    seeds = [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text().splitlines()]
    return [[seeds[(u * per_user + i) % len(seeds)] for i in range(per_user)] for u in range(users)]


def expected_replies(
    answerer: Any, plan: list[list[str]], history_tokens: int
) -> list[list[list[str]]]:
    """Per user, per question: the messages the bot must send (same conversation as in the chat)."""
    expected = []
    for questions in plan:
        conversation = Conversation(max_tokens=history_tokens)
        expected.append([format_answer(answerer.answer(q, conversation)) for q in questions])
    return expected


def in_process(
    answerer: Any, plan: list[list[str]], history_tokens: int, workers: int
) -> list[float]:
    """Seconds per answer through the service itself: users in parallel on `workers` threads,
    or one after the other on this thread when `workers` is 0."""

    def one_user(questions: list[str]) -> list[float]:
        conversation = Conversation(max_tokens=history_tokens)
        times = []
        for question in questions:
            started = time.perf_counter()
            answerer.answer(question, conversation)
            times.append(time.perf_counter() - started)
        return times

    if workers == 0:  # on the calling thread, as `citebot ask` runs
        return [t for questions in plan for t in one_user(questions)]
    with ThreadPoolExecutor(workers) as pool:
        return [t for times in pool.map(one_user, plan) for t in times]


async def one_user(
    user: ChatUser, questions: list[str], expected: list[list[str]], timeout: float
) -> tuple[list[float], int, int]:
    """Ask in turn; returns (seconds per answer, answers received intact, problems)."""
    times, intact, problems = [], 0, 0
    for question, messages in zip(questions, expected, strict=True):
        started = time.perf_counter()
        await user.send(question)
        try:
            # 20 users polling every 30 ms would load the emulator more than the bot does
            received = await user.replies(len(messages), timeout=timeout, settle=0, poll=0.1)
        except TimeoutError:
            problems += 1
            continue
        times.append(time.perf_counter() - started)
        if [r.text for r in received] == messages:
            intact += 1
        else:
            problems += 1  # an extra, missing or foreign message
    await asyncio.sleep(0.5)
    problems += len(await user.fetch())  # anything late is a duplicate
    return times, intact, problems


async def through_telegram(
    emulator: Emulator,
    answerer: Any,
    plan: list[list[str]],
    expected: list[list[list[str]]],
    timeout: float,
) -> tuple[list[float], int, int, float]:
    """Run the bot and the users; returns (times, intact answers, problems, wall seconds)."""
    token = new_token()
    user_ids = [FIRST_USER + u for u in range(len(plan))]
    settings = telegram_settings(emulator, token, allowed_users=user_ids, questions_per_minute=1000)
    application = build_application(settings, answerer)
    limits = httpx.Limits(max_connections=len(plan) * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, running_bot(application):
        users = [ChatUser(emulator, token, http, user_id=uid) for uid in user_ids]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_user(u, q, e, timeout) for u, q, e in zip(users, plan, expected, strict=True))
        )
        wall = time.perf_counter() - started
    times = [t for result in results for t in result[0]]
    return times, sum(r[1] for r in results), sum(r[2] for r in results), wall


def slow_script(server: Any, requests: int, seed: int = 0) -> dict[str, int]:
    """Queue `requests` slow replies on the fake server: how many of each kind."""
    from fake_openai import Reply

    rng = random.Random(seed)
    kinds = {"slow 1-3 s": 0, "drip (past the deadline)": 0, "stall (past the deadline)": 0}
    for _ in range(requests):
        roll = rng.random()
        if roll < 0.8:
            server.script.append(Reply(text=REFUSAL, delay_s=rng.uniform(1.0, 3.0)))
            kinds["slow 1-3 s"] += 1
        elif roll < 0.9:
            server.script.append(Reply(text=REFUSAL * 20, drip_s=1.0, drip_bytes=8))
            kinds["drip (past the deadline)"] += 1
        else:
            server.script.append(Reply(text=REFUSAL, delay_s=600))
            kinds["stall (past the deadline)"] += 1
    return kinds


async def slow_user(
    user: ChatUser, questions: list[str], timeout: float
) -> tuple[list[float], int, int]:
    """Ask in turn under a slow LLM; returns (seconds per answer, fallbacks, unanswered)."""
    times, fallbacks, missing = [], 0, 0
    for question in questions:
        started = time.perf_counter()
        await user.send(question)
        try:
            received = await user.replies(1, timeout=timeout, settle=0, poll=0.1)
        except TimeoutError:
            missing += 1
            continue
        times.append(time.perf_counter() - started)
        fallbacks += any("⚠️" in r.text for r in received)
        await asyncio.sleep(0.3)
        await user.fetch()  # the rest of a long answer, if it came in several messages
    return times, fallbacks, missing


async def help_prober(user: ChatUser, stop: asyncio.Event) -> list[float]:
    """Send /help every second until `stop`; seconds each reply took."""
    times = []
    while not stop.is_set():
        started = time.perf_counter()
        await user.send("/help")
        await user.replies(1, timeout=30, settle=0, poll=0.05)
        times.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return times


async def slow_through_telegram(
    emulator: Emulator, answerer: Any, plan: list[list[str]], timeout: float
) -> tuple[list[float], int, int, list[float], float, list[AnswerTiming]]:
    """Users and a /help prober at once: (times, fallbacks, unanswered, help times, wall, the
    door's own timings)."""
    token = new_token()
    user_ids = [FIRST_USER + u for u in range(len(plan) + 1)]
    settings = telegram_settings(emulator, token, allowed_users=user_ids, questions_per_minute=1000)
    application = build_application(settings, answerer)
    limits = httpx.Limits(max_connections=len(plan) * 2 + 4)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, running_bot(application):
        users = [ChatUser(emulator, token, http, user_id=uid) for uid in user_ids]
        stop = asyncio.Event()
        prober = asyncio.create_task(help_prober(users[-1], stop))
        started = time.perf_counter()
        results = await asyncio.gather(
            *(slow_user(u, q, timeout) for u, q in zip(users, plan, strict=False))
        )
        wall = time.perf_counter() - started
        stop.set()
        help_times = await prober
    times = [t for result in results for t in result[0]]
    timings = list(application.bot_data[STATE_KEY].times.recent)
    fallbacks, missing = sum(r[1] for r in results), sum(r[2] for r in results)
    return times, fallbacks, missing, help_times, wall, timings


class StageRecorder:
    """The answer service, keeping the stage timings of answers that took long to make."""

    def __init__(self, answerer: Any, slow_s: float) -> None:
        self.answerer = answerer
        self.slow_s = slow_s
        self.slow: list[dict[str, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.answerer, name)

    def answer(self, question: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        answer = self.answerer.answer(question, **kwargs)
        took = time.monotonic() - started
        if took > self.slow_s:
            self.slow.append({"total": took * 1000, **answer.timings_ms})
        return answer


def breakdown(timings: list[AnswerTiming], deadline_s: float) -> list[str]:
    """Lines saying where the time of the answers went, as the Telegram door measured it."""
    waits = [t.waited for t in timings]
    made = [t.made for t in timings]
    sent = [t.sent for t in timings]
    fallback = [t.made for t in timings if t.fallback]
    finish = [t.finish for t in timings if t.finish > 0]
    stops = [t.llm_stop for t in timings]
    return [
        f"wait for an answer slot: p95 {percentile(waits, 95):.2f} s, max {max(waits):.2f} s",
        f"arrival to answer made (all): p95 {percentile(made, 95):.2f} s, max {max(made):.2f} s",
        f"arrival to answer made (fallbacks, n={len(fallback)}): "
        + (f"p50 {percentile(fallback, 50):.2f} s, max {max(fallback):.2f} s" if fallback else "-"),
        f"arrival to last message sent: p95 {percentile(sent, 95):.2f} s, max {max(sent):.2f} s; "
        f"past the {deadline_s:g} s deadline: {sum(t > deadline_s for t in sent)}",
        f"LLM stop after arrival: min {min(stops):.2f} s, max {max(stops):.2f} s "
        f"(the reserve grows with the slowest recent finish)",
        f"LLM stop to reply sent, when after the stop (n={len(finish)}): "
        + (f"p50 {percentile(finish, 50):.2f} s, max {max(finish):.2f} s" if finish else "-"),
    ]


def slow_llm_main(args: argparse.Namespace) -> None:
    """The --slow-llm run: the LLM backend against a slow loopback server."""
    from fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    os.environ.update(
        OPENAI_BASE_URL=server.base_url,
        CITEBOT_BACKEND="llm",
        CITEBOT_LLM_DEADLINE=str(args.deadline),
        CITEBOT_LLM_TIMEOUT=str(min(15.0, args.deadline)),
    )
    try:
        settings = load_settings()
        print("Opening the index and loading the model…", file=sys.stderr)
        answerer = StageRecorder(build_answerer(settings), settings.llm.deadline_s)
        plan = questions_for(args.users, args.questions)
        # Follow-ups cost a second (condense) request: queue enough for both.
        kinds = slow_script(server, 3 * args.users * args.questions)
        emulator = Emulator().start()
        try:
            times, fallbacks, missing, help_times, wall, timings = asyncio.run(
                slow_through_telegram(emulator, answerer, plan, args.timeout)
            )
        finally:
            emulator.stop()
        used = len(server.requests)
    finally:
        server.stop()
    total = args.users * args.questions
    print(
        f"\n{args.users} users x {args.questions} questions = {total} questions with a slow LLM "
        f"(deadline {args.deadline:g} s; {ANSWER_SLOTS} answer slots on {ANSWER_THREADS} threads)"
    )
    print(f"LLM replies queued by kind: {kinds}; requests made: {used}")
    print(f"{'path':<38}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'wall s':>8}")
    print(row("Telegram, answers", times, wall))
    print(row("Telegram, /help during the load", help_times))
    print(
        f"\nanswered: {len(times)}/{total} (of which the extractive fallback: {fallbacks}); "
        f"unanswered within {args.timeout:g} s: {missing}; max answer {max(times):.1f} s; "
        f"past the deadline as the user saw it: {sum(t > args.deadline for t in times)}"
    )
    print("\n".join(breakdown(timings, args.deadline)))
    for stages in answerer.slow:
        print("answer made late, ms by stage:", {k: round(v) for k, v in stages.items()})
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


def row(name: str, times: list[float], wall: float | None = None) -> str:
    """One line of the table."""
    p50, p95 = percentile(times, 50) * 1000, percentile(times, 95) * 1000
    mean = statistics.fmean(times) * 1000
    wall_text = f"{wall:8.1f}" if wall is not None else f"{'':8}"
    return f"{name:<38}{len(times):>6}{p50:>10.0f}{p95:>10.0f}{mean:>10.0f}{wall_text}"


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="per user")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per answer")
    parser.add_argument(
        "--slow-llm", action="store_true", help="answer through a slow loopback LLM server"
    )
    parser.add_argument(
        "--deadline", type=float, default=8.0, help="CITEBOT_LLM_DEADLINE for --slow-llm"
    )
    args = parser.parse_args()
    if not emulator_installed():
        sys.exit("The emulator is missing: run `npm ci --prefix tests` first.")
    if args.slow_llm:
        slow_llm_main(args)
        return

    settings = load_settings()
    history = settings.llm.history_tokens
    print("Opening the index and loading the model…", file=sys.stderr)
    answerer = build_answerer(settings)
    plan = questions_for(args.users, args.questions)
    total = args.users * args.questions
    expected = expected_replies(answerer, plan, history)  # also warms the model up
    messages = sum(len(m) for user in expected for m in user)

    sequential = in_process(answerer, plan, history, workers=0)
    one_thread = in_process(answerer, plan, history, workers=1)
    started = time.perf_counter()
    parallel = in_process(answerer, plan, history, workers=ANSWER_THREADS)
    parallel_wall = time.perf_counter() - started

    emulator = Emulator().start()
    try:
        times, intact, problems, wall = asyncio.run(
            through_telegram(emulator, answerer, plan, expected, args.timeout)
        )
    finally:
        emulator.stop()

    print(
        f"\n{args.users} users x {args.questions} questions = {total} questions, "
        f"{messages} bot messages expected; backend: {answerer.describe()}\n"
    )
    print(f"{'path':<38}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'wall s':>8}")
    print(row("in-process, main thread (citebot ask)", sequential, sum(sequential)))
    print(row("in-process, one worker thread", one_thread, sum(one_thread)))
    print(
        row(f"in-process, {args.users} users on {ANSWER_THREADS} threads", parallel, parallel_wall)
    )
    print(row("Telegram (emulator), users at once", times, wall))
    overhead = percentile(times, 50) - percentile(parallel, 50)
    print(f"\nanswers received intact: {intact}/{total}; lost, duplicated or garbled: {problems}")
    print(
        f"adapter overhead at p50 (Telegram - in-process, same concurrency): {overhead * 1000:.0f} ms"
    )
    print(
        f"throughput through Telegram: {len(times) / wall:.1f} answers/s "
        f"(AIORateLimiter allows 30 requests/s overall)"
    )


if __name__ == "__main__":
    main()
