"""reply_markup validation with the Bot API's error texts."""

from __future__ import annotations

from emulator import limits
from emulator.errors import bad_request
from emulator.html_entities import normalize_link
from emulator.params import Params

_INLINE_KINDS = ("callback_game", "pay", "switch_inline_query", "switch_inline_query_current_chat",
                 "switch_inline_query_chosen_chat", "login_url", "web_app", "copy_text")


def reply_markup(params: Params) -> dict | None:
    return validate(params.json("reply_markup", "reply keyboard markup"))


def validate(value: object) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    result: dict | None = None
    if "keyboard" in value:
        rows = value["keyboard"]
        if not isinstance(rows, list):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        for row in rows:
            if not isinstance(row, list):
                raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
            for button in row:
                _keyboard_button(button)
        if rows:
            result = {k: v for k, v in value.items() if k != "inline_keyboard"}
    if result is None and "inline_keyboard" in value:
        rows = value["inline_keyboard"]
        if not isinstance(rows, list):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        count = 0
        for row in rows:
            if not isinstance(row, list):
                raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
            for button in row:
                _inline_button(button)
                count += 1
        if count > limits.INLINE_BUTTONS_MAX:
            raise bad_request("reply markup is too long")
        if rows:
            result = {"inline_keyboard": rows}
    for flag, kind in (("resize_keyboard", "ReplyKeyboardMarkup"), ("one_time_keyboard", "ReplyKeyboardMarkup"),
                       ("is_persistent", "ReplyKeyboardMarkup"), ("remove_keyboard", "ReplyKeyboardRemove"),
                       ("selective", "reply markup"), ("force_reply", "reply markup")):
        if flag in value and not isinstance(value[flag], bool):
            raise bad_request(f'field "{flag}" of the {kind} must be of the type Boolean')
    if result is None and value.get("remove_keyboard"):
        result = {k: v for k, v in value.items() if k in ("remove_keyboard", "selective")}
    if result is None and value.get("force_reply"):
        result = {k: v for k, v in value.items()
                  if k in ("force_reply", "input_field_placeholder", "selective")}
    return result


def _string_field(button: dict, name: str, what: str) -> str:
    if name not in button:
        raise bad_request(f'can\'t parse {what}: Can\'t find field "{name}"')
    value = button[name]
    if not isinstance(value, str):
        raise bad_request(f'can\'t parse {what}: Field "{name}" must be of type String')
    return value


def _keyboard_button(button: object) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict):
        raise bad_request("can't parse keyboard button: KeyboardButton must be a String or an Object")
    _string_field(button, "text", "keyboard button")


def _inline_button(button: object) -> None:
    what = "inline keyboard button"
    if not isinstance(button, dict):
        raise bad_request(f"can't parse {what}: InlineKeyboardButton must be an Object")
    _string_field(button, "text", what)
    url = button.get("url")
    if isinstance(url, str) and url:
        if normalize_link(url) is None:
            raise bad_request("BUTTON_URL_INVALID")
        return
    data = button.get("callback_data")
    if data is not None and not isinstance(data, str):
        raise bad_request(f'can\'t parse {what}: Field "callback_data" must be of type String')
    if data:
        if len(data.encode("utf-8")) > limits.CALLBACK_DATA_MAX:
            raise bad_request("BUTTON_DATA_INVALID")
        return
    if any(kind in button for kind in _INLINE_KINDS):
        return
    raise bad_request(f"can't parse {what}: Text buttons are unallowed in the inline keyboard")


def inline_only(markup: dict | None) -> dict | None:
    """Edits take inline keyboards only."""
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def button_rows(markup: dict | None, key: str) -> list[list[dict]] | None:
    """The rows of `key` ("inline_keyboard" or "keyboard") with string buttons as {"text": ...}."""
    if not markup or key not in markup:
        return None
    return [[{"text": b} if isinstance(b, str) else b for b in row] for row in markup[key]]
