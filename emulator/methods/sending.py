"""Methods that send messages: sendMessage, sendPhoto, sendDocument, sendMediaGroup,
sendLocation, and sendChatAction."""

from __future__ import annotations

import time

from emulator import limits
from emulator.errors import bad_request, parameter_required
from emulator.formatting import caption, caption_from, message_text
from emulator.markup import reply_markup
from emulator.methods import media
from emulator.methods.common import new_message, replied_message, take_rate, target_chat
from emulator.methods.registry import Context, method

CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice", "record_audio",
    "upload_audio", "upload_document", "choose_sticker", "find_location", "pick_up_location",
    "record_video_note", "upload_video_note", "cancel",
})


@method("sendMessage")
def send_message(ctx: Context) -> dict:
    text = message_text(ctx.params, ctx.state.user_dicts())
    markup = reply_markup(ctx.params)
    chat = target_chat(ctx)
    reply_to = replied_message(ctx, chat)
    take_rate(ctx, chat)
    message = new_message(ctx, chat, reply_to, markup, text=text.text, entities=text.entities, raw=text.raw,
                          parse_mode=ctx.params.str("parse_mode") or None,
                          link_preview_options=_link_preview(ctx, text.entities))
    return message.to_dict()


def _link_preview(ctx: Context, entities: list[dict]) -> dict | None:
    """Telegram echoes link_preview_options only on messages that have a link."""
    options = ctx.params.json("link_preview_options", "link preview options")
    if ctx.params.bool("disable_web_page_preview") and options is None:
        options = {"is_disabled": True}
    if not isinstance(options, dict) or not any(e["type"] in ("url", "text_link") for e in entities):
        return None
    return options


@method("sendPhoto")
async def send_photo(ctx: Context) -> dict:
    params = ctx.params
    given = await media.resolve_input(ctx, params.raw("photo"), "photo", limits.PHOTO_URL_MAX)
    if given is None:
        raise bad_request("there is no photo in the request")
    text = caption(params, ctx.state.user_dicts())
    markup = reply_markup(params)
    chat = target_chat(ctx)
    reply_to = replied_message(ctx, chat)
    store = await media.prepare_photo(ctx, given)
    take_rate(ctx, chat)
    message = new_message(ctx, chat, reply_to, markup, photo=store(), has_media_spoiler=params.bool("has_spoiler"),
                          show_caption_above_media=params.bool("show_caption_above_media"),
                          **_caption_fields(text))
    return message.to_dict()


@method("sendDocument")
async def send_document(ctx: Context) -> dict:
    params = ctx.params
    given = await media.resolve_input(ctx, params.raw("document"), "document", limits.DOWNLOAD_MAX)
    if given is None:
        raise bad_request("there is no document in the request")
    text = caption(params, ctx.state.user_dicts())
    markup = reply_markup(params)
    chat = target_chat(ctx)
    reply_to = replied_message(ctx, chat)
    store = media.prepare_document(ctx, given)
    take_rate(ctx, chat)
    message = new_message(ctx, chat, reply_to, markup, document=store(), **_caption_fields(text))
    return message.to_dict()


@method("sendMediaGroup")
async def send_media_group(ctx: Context) -> list[dict]:
    params = ctx.params
    if "media" not in params:
        raise parameter_required("media")
    items = params.json("media", "media")
    if not isinstance(items, list):
        raise bad_request("expected an Array of InputMedia")
    parsed = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_request("can't parse InputMedia: expected an Object")
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            raise bad_request('can\'t parse InputMedia: Can\'t find field "type"')
        if kind == "animation":
            raise bad_request('type "animation" can\'t be used in sendMediaGroup')
        if kind not in ("photo", "document"):
            raise bad_request(f'type "{kind}" is unsupported')
        text = caption_from(str(item.get("caption") or ""), str(item.get("parse_mode") or ""),
                            item.get("caption_entities"), ctx.state.user_dicts())
        given = await media.resolve_input(ctx, item.get("media"), "", limits.PHOTO_URL_MAX)
        if given is None:
            raise bad_request("media not found")
        parsed.append((kind, given, text, bool(item.get("has_spoiler"))))
    if not parsed:
        raise bad_request("media to send are not specified")
    if len(parsed) < limits.MEDIA_GROUP_MIN:
        raise bad_request("too few messages to send as an album")
    if len(parsed) > limits.MEDIA_GROUP_MAX:
        raise bad_request("too many messages to send as an album")
    kinds = {kind for kind, *_ in parsed}
    if "document" in kinds and len(kinds) > 1:
        raise bad_request("document can't be mixed with other media types")
    chat = target_chat(ctx)
    reply_to = replied_message(ctx, chat)
    prepared = []
    for kind, given, text, spoiler in parsed:
        if kind == "photo":
            prepared.append(("photo", await media.prepare_photo(ctx, given),
                             {"has_media_spoiler": spoiler, **_caption_fields(text)}))
        else:
            prepared.append(("document", media.prepare_document(ctx, given), _caption_fields(text)))
    take_rate(ctx, chat, len(prepared))
    group_id = ctx.state.new_media_group_id()
    return [new_message(ctx, chat, reply_to, None, media_group_id=group_id, **{kind: store()}, **fields).to_dict()
            for kind, store, fields in prepared]


@method("sendLocation")
def send_location(ctx: Context) -> dict:
    params = ctx.params
    latitude, longitude = params.float("latitude"), params.float("longitude")
    if latitude is None:
        raise bad_request("latitude is empty")
    if longitude is None:
        raise bad_request("longitude is empty")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong location specified")
    markup = reply_markup(params)
    chat = target_chat(ctx)
    reply_to = replied_message(ctx, chat)
    take_rate(ctx, chat)
    location = {"latitude": latitude, "longitude": longitude}
    accuracy = params.float("horizontal_accuracy")
    if accuracy:
        location["horizontal_accuracy"] = min(max(accuracy, 0.0), 1500.0)
    live_period = params.int("live_period")
    if live_period:
        location["live_period"] = live_period
        for name in ("heading", "proximity_alert_radius"):
            if params.int(name):
                location[name] = params.int(name)
    message = new_message(ctx, chat, reply_to, markup, location=location)
    return message.to_dict()


@method("sendChatAction")
def send_chat_action(ctx: Context) -> bool:
    action = ctx.params.str("action").strip().lower()
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat = target_chat(ctx)
    chat.last_action = (action, time.time())
    ctx.state.notify("action", chat)
    return True


def _caption_fields(text) -> dict:
    if text is None:
        return {}
    return {"caption": text.text, "caption_entities": text.entities, "raw_caption": text.raw}
