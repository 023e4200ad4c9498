"""The Telegram door: python-telegram-bot handlers over the one answer service.

Long polling or a webhook; allow-lists, group etiquette and a per-user quota in front of the
answerer; cited answers as escaped HTML, split under Telegram's limit, with a button per source.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.answering.answer import Citation
from bot.doors.telegram.access import (
    TelegramConfigError,
    TelegramUnreachableError,
    check_access,
    keep_token_out_of_logs,
    validate_token,
)
from bot.doors.telegram.format import (
    button_label,
    cited_sources,
    escape,
    format_answer,
    format_quotes,
    to_plain,
)
from bot.doors.telegram.state import STATE_KEY, AnswerTiming, BotState, Quota
from bot.settings import Settings
from retrieval.errors import IndexUnavailableError

if TYPE_CHECKING:
    from telegram import Bot

    from bot.answering.service import Answerer

logger = logging.getLogger(__name__)

BotApp = Application[Any, Any, Any, Any, Any, Any]

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Answers are CPU-bound for a few tens of ms (embedding, ranking), then may wait seconds on an
# LLM: enough threads that waiting users do not queue behind a slow model.
ANSWER_THREADS = 32
# Answers running at once: fewer than the threads, so a slow model can never hold them all and
# /start still finds a thread; the others wait their turn, with "typing…" shown. The LLM
# deadline counts from the question's arrival, so waiting for a slot shortens the model's time.
ANSWER_SLOTS = ANSWER_THREADS - 8
TYPING_DELAY_S = 0.5
TYPING_REFRESH_S = 4.5  # Telegram shows "typing…" for 5 seconds
RETRY_AFTER_ATTEMPTS = 3
# Tries to reach the Bot API at start-up (PTB backs off between them) before giving up.
BOOTSTRAP_RETRIES = 2
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

NOT_ALLOWED = (
    "Sorry, this bot answers only for the people it was set up for. "
    "Ask its owner to add your user id ({user_id}) to TELEGRAM_ALLOWED_USERS."
)
NOT_ALLOWED_HERE = (
    "Sorry, this bot answers only for the people it was set up for. "
    "Ask its owner to add this chat's id ({chat_id}) to TELEGRAM_ALLOWED_CHATS "
    "(your user id is {user_id})."
)
UNAVAILABLE = (
    "Sorry, I cannot reach my documents right now. Please try again in a minute; "
    "if it lasts, tell the bot's owner."
)
SORRY = "Sorry, something went wrong while answering. Please try again in a moment."
NON_TEXT = "I can only read text. Please type your question."
TOO_LONG = "That message is {length} characters long; please ask in under {limit} characters."
OVER_QUOTA = (
    "You have asked {limit} questions in the last minute. Please wait {wait} seconds and ask again."
)
ASK_USAGE = "Ask like this: /ask What do the documents say about …?"
HELP = (
    "I answer questions from a folder of documents and cite them as [1], [2]…; "
    "tap a source's button to read the passage in full. "
    "If the documents don't say, I say so.\n\n"
    "/ask <question> – ask (in groups: or mention me, or reply to me)\n"
    "/sources – the sources of my last answer, in full\n"
    "/reset – forget this chat's conversation\n"
    "/start – what I know\n"
    "/help – this message\n\n"
    "In a private chat, just type your question. Follow-up questions use the conversation."
)
COMMANDS = [
    BotCommand("ask", "Ask a question about the documents"),
    BotCommand("sources", "Show the last answer's sources in full"),
    BotCommand("reset", "Forget this chat's conversation"),
    BotCommand("start", "What I know"),
    BotCommand("help", "How to use me"),
]


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    state: BotState = context.bot_data[STATE_KEY]
    return state


async def send_html(
    bot: Bot,
    chat_id: int,
    html_text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
    thread_id: int | None = None,
) -> Message:
    """Send HTML; if Telegram cannot parse it, send the same text as plain text."""
    options: dict[str, Any] = {
        "reply_markup": reply_markup,
        "link_preview_options": NO_PREVIEW,
        "message_thread_id": thread_id,
    }
    if reply_to is not None:
        options["reply_parameters"] = ReplyParameters(reply_to, allow_sending_without_reply=True)
    try:
        return await bot.send_message(chat_id, html_text, parse_mode=ParseMode.HTML, **options)
    except BadRequest as exc:
        if "can't parse entities" not in exc.message.lower():
            raise
        logger.warning("Telegram rejected our HTML (%s); sending plain text instead", exc.message)
        return await bot.send_message(chat_id, to_plain(html_text), **options)


async def _reply(update: Update, html_text: str) -> None:
    """Answer the update's message in its chat (and topic), as a reply in groups."""
    message = update.effective_message
    if message is None:
        return
    in_group = message.chat.type != ChatType.PRIVATE
    await send_html(
        message.get_bot(),
        message.chat_id,
        html_text,
        reply_to=message.message_id if in_group else None,
        thread_id=message.message_thread_id if message.is_topic_message else None,
    )


async def _admit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Let an allowed user through; give anyone else one polite refusal."""
    user, chat = update.effective_user, update.effective_chat
    user_id = user.id if user else None
    if _state(context).is_allowed(user_id, chat.id if chat else None):
        return True
    logger.info("Refused user %s in chat %s", user_id, chat.id if chat else None)
    chat_id = chat.id if chat else None
    template = NOT_ALLOWED_HERE if chat_id is not None and chat_id != user_id else NOT_ALLOWED
    await _reply(update, escape(template.format(user_id=user_id, chat_id=chat_id)))
    return False


def _mention(username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@])@{re.escape(username)}\b", re.IGNORECASE)


def _addressed_to_bot(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """In a group: the bot was mentioned or replied to. In a private chat: always."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == context.bot.id:
        return True
    text = message.text or message.caption or ""
    return bool(_mention(context.bot.username).search(text))


async def _keep_typing(bot: Bot, chat_id: int, thread_id: int | None, repeat: bool) -> None:
    """Show "typing…" until cancelled; best effort, so the first failure ends it quietly.

    It starts only once the answer has taken `TYPING_DELAY_S`: quick answers need no indicator,
    and every chat action counts against the bot's 30 requests a second.
    """
    await asyncio.sleep(TYPING_DELAY_S)
    while True:
        try:
            await bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
        except TelegramError as exc:
            logger.debug("Typing action failed, ignored: %s", exc)
            return
        if not repeat:
            return
        await asyncio.sleep(TYPING_REFRESH_S)


def _source_buttons(answer_id: int, citations: list[Citation]) -> InlineKeyboardMarkup | None:
    if not citations:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button_label(c), callback_data=f"quote:{answer_id}:{c.n}")]
            for c in citations
        ]
    )


def llm_deadline(arrived: float, deadline_s: float, reserve_s: float) -> float:
    """When the LLM must stop for an answer to a question that arrived at `arrived` (monotonic).

    The user's deadline counts from arrival; the LLM gets it less `reserve_s` for the fallback
    and the delivery, which run after the LLM gives up, but never less than half of it.
    """
    return arrived + max(deadline_s - reserve_s, deadline_s / 2)


async def _answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
) -> None:
    """Check length and quota, run the answer service off the loop, deliver the cited answer."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    state = _state(context)
    limit = state.settings.telegram.max_question_chars
    if len(question) > limit:
        await _reply(update, escape(TOO_LONG.format(length=len(question), limit=limit)))
        return
    wait = state.quota.wait_for(user.id if user else message.chat_id)
    if wait:
        text = OVER_QUOTA.format(limit=state.quota.per_minute, wait=max(1, round(wait)))
        await _reply(update, escape(text))
        return

    arrived = time.monotonic()
    deadline_s = state.settings.llm.deadline_s
    stop = llm_deadline(arrived, deadline_s, state.times.reserve(deadline_s))
    memory = state.memory(message.chat_id)
    thread_id = message.message_thread_id if message.is_topic_message else None
    private = message.chat.type == ChatType.PRIVATE
    async with memory.lock:
        # Groups too: an LLM answer can take most of a minute, and "typing…" lasts 5 s.
        typing = asyncio.create_task(_keep_typing(context.bot, message.chat_id, thread_id, True))
        try:
            async with state.answer_slots:
                waited = time.monotonic() - arrived
                answer = await state.run(
                    functools.partial(
                        state.answerer.answer,
                        question,
                        conversation=memory.conversation,
                        deadline=stop,
                    )
                )
            made = time.monotonic() - arrived
        except IndexUnavailableError as error:  # the operator gets the how-to-fix line
            logger.error("%s", error)
            await _reply(update, escape(UNAVAILABLE))
            return
        finally:
            typing.cancel()
        answer_id = next(state.answer_ids)
        memory.remember(answer_id, answer)
        parts = format_answer(answer)
        buttons = None if answer.abstained else _source_buttons(answer_id, cited_sources(answer))
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await send_html(
                context.bot,
                message.chat_id,
                part,
                reply_markup=buttons if last else None,
                reply_to=message.message_id if not private and index == 0 else None,
                thread_id=thread_id,
            )
        timing = AnswerTiming(
            waited=waited,
            made=made,
            sent=time.monotonic() - arrived,
            llm_stop=stop - arrived,
            fallback=answer.notice is not None,
        )
        state.times.note(timing)
        if timing.sent > deadline_s:
            logger.warning(
                "An answer took %.1f s, past the %g s deadline (answer made at %.1f s, the LLM "
                "stopped at %.1f s); the next answers keep a larger reserve",
                timing.sent,
                deadline_s,
                timing.made,
                timing.llm_stop,
            )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot knows: the corpus, its size and the answer backend."""
    if not await _admit(update, context):
        return
    state = _state(context)
    stats = await state.run(state.answerer.stats)
    describe = await state.run(state.answerer.describe)
    text = (
        f"Hello! I answer questions from {stats.documents} documents "
        f"({stats.chunks} passages), citing them; "  # not where the index lives: a server path
        "when they don't say, I tell you so.\n"
        f"Backend: {describe}\n\n"
        "Type a question, or /help."
    )
    await _reply(update, escape(text))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain the commands and how groups work."""
    if await _admit(update, context):
        await _reply(update, escape(HELP))


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question after /ask, in any chat."""
    message = update.effective_message
    if message is None or not await _admit(update, context):
        return
    parts = (message.text or "").split(maxsplit=1)
    await _answer_or_show_usage(update, context, parts[1].strip() if len(parts) > 1 else "")


async def answer_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message: every one in a private chat, in groups only when addressed."""
    message = update.effective_message
    if message is None or not _addressed_to_bot(message, context):
        return
    if not await _admit(update, context):
        return
    text = _mention(context.bot.username).sub("", message.text or "").strip()
    await _answer_or_show_usage(update, context, text)


async def _answer_or_show_usage(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str
) -> None:
    if not text:
        await _reply(update, escape(ASK_USAGE))
        return
    await _answer_question(update, context, text)


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Hint that only text is read (photos, voice, files…), when the message is for the bot."""
    message = update.effective_message
    if message is None or not _addressed_to_bot(message, context):
        return
    if await _admit(update, context):
        await _reply(update, escape(NON_TEXT))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point an unknown command in a private chat to /help."""
    if await _admit(update, context):
        await _reply(update, escape("I don't know that command. Try /help."))


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the last answer's sources in full."""
    message = update.effective_message
    if message is None or not await _admit(update, context):
        return
    memory = _state(context).chats.get(message.chat_id)
    answer = memory.last_answer if memory else None
    if answer is None:
        await _reply(update, escape("No answer yet in this chat: ask a question first."))
        return
    cited = [] if answer.abstained else cited_sources(answer)
    if not cited:
        await _reply(update, escape("My last answer cited no sources."))
        return
    for part in format_quotes(cited):
        await _reply(update, part)


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget this chat's conversation, so the next question starts fresh."""
    message = update.effective_message
    if message is None or not await _admit(update, context):
        return
    memory = _state(context).memory(message.chat_id)
    async with memory.lock:
        memory.conversation.reset()
    await _reply(update, escape("Done: I have forgotten our conversation. Ask away."))


async def show_quote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the full quote of the source whose button was tapped."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    chat = update.effective_chat
    state = _state(context)
    if not state.is_allowed(query.from_user.id, chat.id if chat else None):
        await query.answer("Sorry, you are not allowed to use this bot.", show_alert=True)
        return
    try:
        _, answer_id, n = query.data.split(":")
        memory = state.chats.get(chat.id) if chat else None
        answer = memory.answers[int(answer_id)] if memory else None
        citation = next(c for c in answer.citations if c.n == int(n)) if answer else None
    except (ValueError, KeyError, StopIteration):
        citation = None
    if chat is None or citation is None:
        await query.answer("I no longer remember that answer; please ask again.", show_alert=True)
        return
    await query.answer()
    for part in format_quotes([citation]):
        await send_html(context.bot, chat.id, part)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error with its traceback and tell the chat, politely, without it."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("Error while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, SORRY)


async def post_init(application: BotApp) -> None:
    """Start the answer threads and publish the command menu (best effort)."""
    state: BotState = application.bot_data[STATE_KEY]
    state.executor = ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix="citebot-answer")
    try:
        await application.bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        logger.warning("Could not set the command menu: %s", exc)
    logger.info("Telegram bot @%s is up", application.bot.username)


async def post_shutdown(application: BotApp) -> None:
    """Stop the answer threads."""
    state: BotState = application.bot_data[STATE_KEY]
    if state.executor is not None:
        state.executor.shutdown(wait=False, cancel_futures=True)
        state.executor = None


def build_application(settings: Settings, answerer: Answerer) -> BotApp:
    """The configured PTB application: handlers, rate limiter, concurrent updates."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    token = validate_token(settings.telegram.bot_token)
    keep_token_out_of_logs(token)
    builder = (
        Application.builder()
        .token(token)
        .rate_limiter(AIORateLimiter(max_retries=RETRY_AFTER_ATTEMPTS))
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.telegram.base_url:
        builder = builder.base_url(settings.telegram.base_url)
    application = builder.build()
    application.bot_data[STATE_KEY] = BotState(
        settings=settings,
        answerer=answerer,
        quota=Quota(settings.telegram.questions_per_minute),
        answer_slots=asyncio.Semaphore(ANSWER_SLOTS),
    )
    only_new = filters.UpdateType.MESSAGE  # edits are not new questions
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("ask", ask))
    application.add_handler(CommandHandler("sources", sources))
    application.add_handler(CommandHandler("reset", reset))
    application.add_handler(CallbackQueryHandler(show_quote, pattern=r"^quote:"))
    application.add_handler(
        MessageHandler(only_new & filters.TEXT & ~filters.COMMAND, answer_message)
    )
    application.add_handler(
        MessageHandler(only_new & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command)
    )
    application.add_handler(
        MessageHandler(only_new & ~filters.TEXT & ~filters.StatusUpdate.ALL, non_text)
    )
    application.add_error_handler(error_handler)
    return application


def webhook_options(webhook_url: str, listen: str, port: int) -> dict[str, Any]:
    """Arguments for `run_webhook`/`start_webhook`: local path from the URL, a fresh secret."""
    parsed = urlparse(webhook_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TelegramConfigError(
            f"--webhook-url must be a full URL such as https://bot.example.com/citebot, "
            f"not {webhook_url!r}."
        )
    # Telegram delivers webhooks over HTTPS only; plain HTTP works just with a local Bot API server.
    if parsed.scheme != "https" and parsed.hostname not in LOOPBACK_HOSTS:
        raise TelegramConfigError(
            f"--webhook-url must use HTTPS (Telegram refuses plain HTTP webhooks), not "
            f"{webhook_url!r}: put the bot behind a TLS proxy, or use long polling (no URL)."
        )
    return {
        "listen": listen,
        "port": port,
        "url_path": parsed.path.strip("/"),
        "webhook_url": webhook_url,
        # Telegram echoes it in a header; PTB answers 403 to any update without it.
        "secret_token": secrets.token_urlsafe(32),
        "allowed_updates": ALLOWED_UPDATES,
    }


class OneLineNetworkErrors(logging.Filter):
    """PTB logs each failed network loop with a full traceback; keep one line with the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Fold a network error's traceback into the message."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, NetworkError) and "Bootstrap" in record.getMessage():
            return False  # start-up gave up: run_bot reports it in one line of its own
        if isinstance(error, NetworkError):
            record.msg = f"{record.getMessage()} ({error.message})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def run_bot(
    settings: Settings,
    answerer: Answerer,
    *,
    webhook_url: str | None,
    listen: str,
    port: int,
    public: bool,
) -> None:
    """Run the bot until interrupted: long polling, or a webhook when `webhook_url` is given."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    # Under `citebot` the root logger is set up already (WARNING without -v), which makes the call
    # above a no-op; the operator should still see that the bot is up and whom it refused.
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    check_access(settings, public=public)
    application = build_application(settings, answerer)
    options = webhook_options(webhook_url, listen, port) if webhook_url else None
    quiet = OneLineNetworkErrors()
    logging.getLogger("telegram.ext").addFilter(quiet)
    try:
        if options:
            application.run_webhook(**options, bootstrap_retries=BOOTSTRAP_RETRIES)
        else:
            application.run_polling(
                allowed_updates=ALLOWED_UPDATES, bootstrap_retries=BOOTSTRAP_RETRIES
            )
    except NetworkError as error:  # TimedOut too: no network, a dead TELEGRAM_BASE_URL
        where = settings.telegram.base_url or "https://api.telegram.org"
        raise TelegramUnreachableError(
            f"Cannot reach the Telegram Bot API at {where} ({error.message}): check the network "
            "and TELEGRAM_BASE_URL."
        ) from None
    except InvalidToken:
        # PTB's message repeats the token; ours must not.
        raise TelegramConfigError(
            "Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather."
        ) from None
    finally:
        logging.getLogger("telegram.ext").removeFilter(quiet)
