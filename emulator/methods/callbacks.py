"""answerCallbackQuery: each query is answerable once, within Telegram's time window."""

from __future__ import annotations

from emulator.errors import QUERY_TOO_OLD, bad_request
from emulator.methods.registry import Context, method


@method("answerCallbackQuery")
def answer_callback_query(ctx: Context) -> bool:
    params = ctx.params
    query = ctx.bot.callback_queries.get(params.str("callback_query_id").strip())
    if query is None or query.answered:
        raise bad_request(QUERY_TOO_OLD)
    if ctx.limits.callback_expired(query.created):
        query.late = True
        raise bad_request(QUERY_TOO_OLD)
    text = params.str("text")
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    query.answer = {"text": text or None, "show_alert": params.bool("show_alert"),
                    "url": params.str("url") or None, "cache_time": params.int("cache_time")}
    ctx.state.notify("callback_answer", query.message.chat, query.message)
    return True
