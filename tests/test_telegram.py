"""The Telegram adapter's pieces without a server: HTML formatting, splitting, access, tokens."""

from __future__ import annotations

import html
import random
import re
from typing import Any

import pytest
from telegram.error import BadRequest

from bot.answering.answer import Answer, Citation, Suggestion, short_quote
from bot.doors.telegram.access import TelegramConfigError, check_access, validate_token
from bot.doors.telegram.app import (
    build_application,
    llm_deadline,
    run_bot,
    send_html,
    webhook_options,
)
from bot.doors.telegram.format import (
    MESSAGE_LIMIT,
    format_answer,
    format_quotes,
    split_text,
    telegram_length,
    to_plain,
)
from bot.doors.telegram.state import (
    RESERVE_MARGIN,
    RESERVE_WINDOW,
    AnswerTimes,
    AnswerTiming,
    Quota,
)
from bot.settings import Settings, TelegramSettings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
TAG = re.compile(r"</?(b|i|code|blockquote)>")
CITATION = re.compile(r"\[\d+\]")


def cite(
    n: int, quote: str = "A quote.", title: str = "Title", source: str = "doc.txt"
) -> Citation:
    return Citation(n, source, title, None, f"c{n}", quote, 0, len(quote))


def answer(text: str, citations: list[Citation] | None = None, **extra: Any) -> Answer:
    cited = citations if citations is not None else [cite(1)]
    return Answer("q?", text, False, cited, [], "extractive", None, **extra)


def assert_well_formed(message: str, limit: int = MESSAGE_LIMIT) -> None:
    """Within the limit, tags balanced and never nested wrongly, no raw markup characters."""
    assert telegram_length(message) <= limit
    stack: list[str] = []
    for match in TAG.finditer(message):
        name = match.group(1)
        if match.group(0).startswith("</"):
            assert stack and stack.pop() == name, message
        else:
            assert not stack, "our tags are never nested"
            stack.append(name)
    assert not stack, message
    bare = TAG.sub("", message)
    assert "<" not in bare and ">" not in bare
    assert not re.search(r"&(?!amp;|lt;|gt;)", bare)


def test_everything_is_escaped() -> None:
    citation = cite(1, quote="x < y && z > 0", title="<b>Bold</b> & co", source="a<b>.txt")
    [message] = format_answer(answer("Use <script> & [1] friends.", [citation]))
    assert_well_formed(message)
    assert "Use &lt;script&gt; &amp; [1] friends." in message
    assert "<b>&lt;b&gt;Bold&lt;/b&gt; &amp; co</b>" in message
    assert "<code>a&lt;b&gt;.txt</code>" in message
    assert "x &lt; y &amp;&amp; z &gt; 0" in message


def test_sources_block_title_file_short_quote() -> None:
    long_quote = "word " * 100
    citations = [cite(2, "Second."), cite(1, long_quote, title="First doc", source="dir/one.pdf")]
    [message] = format_answer(answer("Claim [1]. Other [2].", citations))
    body, sources = message.split("\n\n<b>Sources</b>\n")
    assert body == "Claim [1]. Other [2]."
    first, second = sources.split("\n[2] ")
    assert first.startswith("[1] <b>First doc</b> · <code>dir/one.pdf</code>\n<i>“word word")
    assert first.endswith("word…”</i>")
    assert len(short_quote(long_quote)) <= 161
    assert second == "<b>Title</b> · <code>doc.txt</code>\n<i>“Second.”</i>"


def test_a_source_names_the_heading_its_quote_sits_under() -> None:
    citation = Citation(1, "CHANGES.md", "Version History", None, "c1", "Add it.", 0, 7, "v1.2.5")
    [message] = format_answer(answer("A [1].", [citation]))
    assert "[1] <b>Version History</b> › v1.2.5 · <code>CHANGES.md</code>" in message
    assert_well_formed(message)
    place = Suggestion("Version History", "CHANGES.md", None, "v1.2.<5>")
    refused = Answer("q?", "I don't know.", True, [], [], "extractive", None, suggestions=[place])
    [message] = format_answer(refused)
    assert "• <b>Version History</b> › v1.2.&lt;5&gt; · <code>CHANGES.md</code>" in message
    # A document titled by its file name shows the file, then the heading.
    untitled = Citation(1, "notes.txt", "notes.txt", 2, "c1", "Add it.", 0, 7, "Setup")
    [message] = format_answer(answer("A [1].", [untitled]))
    assert "[1] <code>notes.txt, p. 2</code> › Setup" in message


def test_page_and_untitled_source() -> None:
    citation = Citation(1, "report.pdf", "report.pdf", 7, "c1", "Q.", 0, 2)
    [message] = format_answer(answer("A [1].", [citation]))
    assert "[1] <code>report.pdf, p. 7</code>" in message


def test_refusal_has_no_sources_and_notice_comes_first() -> None:
    refusal = Answer("q", "I don't know.", True, [], [], "extractive", None)
    assert format_answer(refusal) == ["I don't know."]
    [message] = format_answer(answer("A [1].", notice="The LLM failed (timeout)."))
    assert message.startswith("<i>⚠️ The LLM failed (timeout).</i>\n\nA [1].")


def test_long_answer_split_at_paragraphs_with_sources_whole() -> None:
    paragraph = " ".join(f"Fact {i} is true [{i % 3 + 1}]." for i in range(60))
    text = "\n\n".join([paragraph] * 8)
    citations = [cite(n, f"Quote {n} " * 30) for n in (1, 2, 3)]
    messages = format_answer(answer(text, citations))
    assert len(messages) > 1
    for message in messages:
        assert_well_formed(message)
    # whole paragraphs per message: every message but the last ends a paragraph
    assert all(
        m.endswith("[3].") or m.endswith("[1].") or m.endswith("[2].") for m in messages[:-1]
    )
    joined = "\n\n".join(messages)
    assert CITATION.findall(to_plain(joined))[: 60 * 8] == CITATION.findall(text)
    assert messages[-1].count("<b>Sources</b>") == 1


def test_one_huge_paragraph_splits_at_sentences() -> None:
    text = " ".join(f"Sentence number {i} ends here [{i % 9 + 1}]." for i in range(400))
    messages = format_answer(answer(text, []))
    assert len(messages) >= 4
    for message in messages:
        assert_well_formed(message)
        assert message.endswith("].")  # a sentence and its citation stay together
    assert " ".join(messages) == text


def test_hard_cut_never_splits_a_citation() -> None:
    text = "x" * 4090 + "[123]" + "y" * 50
    pieces = split_text(text, 4094)
    assert [gap for gap, _ in pieces] == ["", ""]
    assert pieces[0][1] == "x" * 4090
    assert pieces[1][1].startswith("[123]")


def test_escaping_counts_towards_the_limit() -> None:
    text = "&" * 5000  # 25,000 characters once escaped
    messages = format_answer(answer(text, []))
    assert len(messages) == 7
    for message in messages:
        assert_well_formed(message)
    assert to_plain("".join(messages)) == text


def test_full_quotes_split_into_balanced_blockquotes() -> None:
    quote = "\n\n".join(f"Paragraph {i}: " + "words & more " * 40 for i in range(20))
    messages = format_quotes([cite(4, quote)])
    assert len(messages) >= 3
    for message in messages:
        assert_well_formed(message)
    assert messages[0].startswith("[4] <b>Title</b> · <code>doc.txt</code>\n<blockquote>")
    assert to_plain("".join(messages)).count("words & more") == 800


@pytest.mark.parametrize("seed", range(30))
def test_random_texts_split_well(seed: int) -> None:
    rng = random.Random(seed)
    vocabulary = ["alpha", "<tag>", "&amp;", "Ünïcode", "🙂", "[1]", "[12].", "end.", "\n", "\n\n"]
    text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 3000))).strip()
    limit = rng.choice([64, 200, 1000, 4096])
    messages = format_answer(answer(text, []), limit)
    for message in messages:
        assert_well_formed(message, limit)
        assert message == message.strip()
    assert "".join(CITATION.findall(to_plain("".join(messages)))) == "".join(CITATION.findall(text))
    squash = re.compile(r"\s+")
    assert squash.sub("", to_plain("".join(messages))) == squash.sub("", text)


def test_to_plain_undoes_our_html() -> None:
    [message] = format_answer(answer("A & B < C [1].", [cite(1, "q & <q>")]))
    plain = to_plain(message)
    assert plain.startswith("A & B < C [1].\n\nSources\n[1] Title · doc.txt\n“q & <q>”")
    assert html.escape(plain, quote=False) != plain


class FakeBot:
    """Rejects HTML once, as Telegram does for entities it cannot parse."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.sent: list[dict[str, Any]] = []

    async def send_message(self, chat_id: int, text: str, **options: Any) -> dict[str, Any]:
        self.sent.append({"text": text, **options})
        if options.get("parse_mode") and self.error:
            raise BadRequest(self.error)
        return self.sent[-1]


@pytest.mark.anyio
async def test_unparseable_html_goes_out_as_plain_text() -> None:
    bot = FakeBot("Can't parse entities: can't find end tag corresponding to start tag b")
    await send_html(bot, 1, "<b>A &amp; B</b>")  # type: ignore[arg-type]
    assert [m["text"] for m in bot.sent] == ["<b>A &amp; B</b>", "A & B"]
    assert "parse_mode" not in bot.sent[1]


@pytest.mark.anyio
async def test_other_bad_requests_are_not_hidden() -> None:
    bot = FakeBot("Chat not found")
    with pytest.raises(BadRequest):
        await send_html(bot, 1, "<b>x</b>")  # type: ignore[arg-type]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("bad", [None, "", "not-a-token", "123:short", "abc:" + "x" * 35])
def test_missing_or_malformed_token_is_a_config_error(bad: str | None) -> None:
    with pytest.raises(TelegramConfigError) as error:
        validate_token(bad)
    assert "TELEGRAM_BOT_TOKEN" in str(error.value)
    if bad:
        assert bad not in str(error.value)


def test_valid_token_passes() -> None:
    assert validate_token(f" {TOKEN} ") == TOKEN


def settings(**telegram: Any) -> Settings:
    return Settings(telegram=TelegramSettings(_env_file=None, **telegram))  # type: ignore[call-arg]


def test_no_allow_list_refuses_to_start_unless_public() -> None:
    with pytest.raises(TelegramConfigError, match="--public"):
        check_access(settings(bot_token=TOKEN), public=False)
    check_access(settings(bot_token=TOKEN), public=True)
    check_access(settings(bot_token=TOKEN, allowed_chats=[-5]), public=False)


def test_run_bot_raises_config_errors_before_touching_the_network() -> None:
    with pytest.raises(TelegramConfigError, match="TELEGRAM_ALLOWED_USERS"):
        run_bot(settings(bot_token=TOKEN), None, webhook_url=None, listen="", port=0, public=False)  # type: ignore[arg-type]
    with pytest.raises(TelegramConfigError, match="No Telegram bot token"):
        run_bot(
            settings(allowed_users=[1]), None, webhook_url=None, listen="", port=0, public=False
        )  # type: ignore[arg-type]


def test_allow_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", "1, 2")
    monkeypatch.setenv("TELEGRAM_ALLOWED_CHATS", "-100")
    loaded = Settings(telegram=TelegramSettings(_env_file=None))  # type: ignore[call-arg]
    application = build_application(loaded, None)  # type: ignore[arg-type]
    state = application.bot_data["citebot"]
    assert state.is_allowed(1, 1) and state.is_allowed(3, -100)
    assert not state.is_allowed(3, 3)
    # An allowed user in a group nobody listed: everyone there would read the documents.
    assert not state.is_allowed(1, -200)
    assert state.is_allowed(1, -100)


def test_webhook_options() -> None:
    options = webhook_options("https://bot.example.com/hooks/citebot", "0.0.0.0", 8443)
    assert options["url_path"] == "hooks/citebot"
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", options["secret_token"])
    assert options["secret_token"] != webhook_options("https://x.org/", "", 1)["secret_token"]
    with pytest.raises(TelegramConfigError):
        webhook_options("bot.example.com", "", 1)


def test_quota_per_user_per_minute() -> None:
    now = [0.0]
    quota = Quota(2, clock=lambda: now[0])
    assert quota.wait_for(1) == 0 and quota.wait_for(1) == 0
    assert quota.wait_for(1) == pytest.approx(60)
    assert quota.wait_for(2) == 0  # another user is not affected
    now[0] = 30.0
    assert quota.wait_for(1) == pytest.approx(30)
    now[0] = 60.5
    assert quota.wait_for(1) == 0


@pytest.mark.parametrize(("deadline_s", "reserve_s"), [(8.0, 1.2), (55.0, 5.0), (2.0, 1.0)])
def test_the_llm_stops_before_the_deadline_leaving_time_for_the_fallback(
    deadline_s: float, reserve_s: float
) -> None:
    times = AnswerTimes()  # nothing measured yet: the floor, 15% of the deadline, 1 to 5 s
    assert times.reserve(deadline_s) == pytest.approx(reserve_s)
    arrived = 1000.0
    assert llm_deadline(arrived, deadline_s, times.reserve(deadline_s)) == pytest.approx(
        arrived + deadline_s - reserve_s
    )


def test_a_short_deadline_still_gives_the_llm_half_of_it() -> None:
    assert llm_deadline(0.0, 1.0, 1.0) == pytest.approx(0.5)
    assert llm_deadline(0.0, 8.0, 6.0) == pytest.approx(4.0)


def _timing(finish: float, llm_stop: float = 6.8) -> AnswerTiming:
    sent = llm_stop + finish
    return AnswerTiming(waited=0.0, made=sent - 0.1, sent=sent, llm_stop=llm_stop, fallback=True)


def test_the_reserve_grows_to_cover_the_slowest_recent_finish() -> None:
    times = AnswerTimes()
    times.note(_timing(0.5))  # fallback and sending took 0.5 s after the LLM stopped: floor holds
    assert times.reserve(8.0) == pytest.approx(1.2)
    times.note(_timing(1.6))  # a loaded machine: 1.6 s after the stop, 0.4 s past the deadline
    assert times.reserve(8.0) == pytest.approx(1.6 * RESERVE_MARGIN)
    assert llm_deadline(0.0, 8.0, times.reserve(8.0)) == pytest.approx(8.0 - 2.0)


def test_the_reserve_forgets_a_slow_finish_once_it_is_out_of_the_window() -> None:
    times = AnswerTimes()
    times.note(_timing(3.0))
    for _ in range(RESERVE_WINDOW):
        times.note(_timing(-2.0))  # answered by the LLM well before its stop
    assert times.reserve(8.0) == pytest.approx(1.2)
