"""The real answer service called from several threads at once, as the Telegram adapter does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fake_openai import seed_answerer

from bot.answering.service import Answerer

__all__ = ["seed_answerer"]  # the fixture, imported for pytest

QUESTIONS = [
    "How many people did the Thai-Cambodian border dispute displace?",
    "What did Hegseth say about Taiwan?",
    "How many detained Cambodian soldiers will Thailand release?",
    "Who is the Philippine Defense Secretary who met Hegseth in Kuala Lumpur?",
    "How many Malaysian officials attend military training in the United States each year?",
    "In what year did an international court reject China's view of the South China Sea?",
]


def test_answers_from_four_threads_match_answers_from_one(seed_answerer: Answerer) -> None:
    sequential = [seed_answerer.answer(q).to_dict() for q in QUESTIONS]

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda q: seed_answerer.answer(q).to_dict(), QUESTIONS * 3))

    def essentials(result: dict[str, object]) -> tuple[object, ...]:
        return result["answer"], result["abstained"], result["citations"]

    assert [essentials(r) for r in concurrent] == [essentials(r) for r in sequential] * 3
    assert "300,000" in str(concurrent[0]["answer"])
