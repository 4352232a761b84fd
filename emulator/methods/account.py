"""The bot itself and its chats: getMe, the command menus, getChat, getChatMember."""

from __future__ import annotations

import re

from emulator import limits
from emulator.errors import CHAT_NOT_FOUND, bad_request
from emulator.methods.registry import Context, method
from emulator.model import chat_member

_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
           "chat_administrators", "chat_member"}
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^([a-z]{2})?$")


@method("getMe")
def get_me(ctx: Context) -> dict:
    return ctx.bot.get_me()


def scope_key(ctx: Context) -> tuple[str, str]:
    """The (scope, language_code) a command list is stored under."""
    params = ctx.params
    scope = params.json("scope", "scope")
    language = _language(ctx)
    if scope is None:
        return "default", language
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise bad_request("can't parse BotCommandScope: Unsupported type specified")
    kind = scope["type"]
    if kind in ("chat", "chat_administrators", "chat_member"):
        chat_id = scope.get("chat_id")
        if chat_id in (None, ""):
            raise bad_request("chat_id is empty")
        try:
            chat = ctx.state.resolve_chat(ctx.bot, chat_id if str(chat_id).startswith("@") else int(chat_id),
                                          sending=False)
        except ValueError:
            raise bad_request(CHAT_NOT_FOUND) from None
        if kind == "chat_member":
            user_id = scope.get("user_id")
            if not isinstance(user_id, int) or user_id not in ctx.state.users:
                raise bad_request("invalid user_id specified")
            return f"chat_member:{chat.id}:{user_id}", language
        return f"{kind}:{chat.id}", language
    return kind, language


@method("setMyCommands")
def set_my_commands(ctx: Context) -> bool:
    commands = ctx.params.json("commands", "commands")
    if commands is None:
        raise bad_request('parameter "commands" is required')
    if not isinstance(commands, list):
        raise bad_request("expected an Array of BotCommand")
    if len(commands) > limits.COMMANDS_MAX:
        raise bad_request("too many commands specified")
    cleaned = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        name = str(command.get("command") or "").strip()
        if name.startswith("/"):
            name = name[1:]
        description = str(command.get("description") or "").strip()
        if not _COMMAND.match(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not description or len(description) > limits.COMMAND_DESCRIPTION_MAX:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        cleaned.append({"command": name, "description": description})
    key = scope_key(ctx)
    if cleaned:
        ctx.bot.commands[key] = cleaned
    else:
        ctx.bot.commands.pop(key, None)
    return True


@method("getMyCommands")
def get_my_commands(ctx: Context) -> list[dict]:
    return list(ctx.bot.commands.get(scope_key(ctx), []))


@method("deleteMyCommands")
def delete_my_commands(ctx: Context) -> bool:
    ctx.bot.commands.pop(scope_key(ctx), None)
    return True


def _profile_text(field: str, limit: int):
    def set_text(ctx: Context) -> bool:
        language = _language(ctx)
        value = ctx.params.str(field)
        if len(value) > limit:
            raise bad_request(f"{field} is too long")
        if value:
            ctx.bot.profile[(field, language)] = value
        else:
            ctx.bot.profile.pop((field, language), None)
        return True

    def get_text(ctx: Context) -> dict:
        language = _language(ctx)
        default = ctx.bot.user.first_name if field == "name" else ""
        return {field: ctx.bot.profile.get((field, language), ctx.bot.profile.get((field, ""), default))}

    return set_text, get_text


def _language(ctx: Context) -> str:
    language = ctx.params.str("language_code").strip()
    if not _LANGUAGE.match(language):
        raise bad_request("invalid language code specified")
    return language


for _field, _limit, _suffix in (("name", 64, "Name"), ("description", 512, "Description"),
                                ("short_description", 120, "ShortDescription")):
    _set, _get = _profile_text(_field, _limit)
    method(f"setMy{_suffix}")(_set)
    method(f"getMy{_suffix}")(_get)
del _field, _limit, _suffix, _set, _get


@method("setChatMenuButton")
def set_chat_menu_button(ctx: Context) -> bool:
    button = ctx.params.json("menu_button", "menu button")
    if button is not None and (not isinstance(button, dict) or button.get("type") not in ("commands", "web_app",
                                                                                             "default")):
        raise bad_request("can't parse menu button: Unsupported type specified")
    chat_id = ctx.state.resolve_chat(ctx.bot, ctx.params.chat_id(), sending=False).id if "chat_id" in ctx.params \
        else None
    if button is None or button["type"] == "default":
        ctx.bot.menu_buttons.pop(chat_id, None)
    else:
        ctx.bot.menu_buttons[chat_id] = button
    return True


@method("getChatMenuButton")
def get_chat_menu_button(ctx: Context) -> dict:
    chat_id = ctx.state.resolve_chat(ctx.bot, ctx.params.chat_id(), sending=False).id if "chat_id" in ctx.params \
        else None
    return ctx.bot.menu_buttons.get(chat_id) or ctx.bot.menu_buttons.get(None) or {"type": "commands"}


@method("getChat")
def get_chat(ctx: Context) -> dict:
    chat = ctx.state.resolve_chat(ctx.bot, ctx.params.chat_id(), sending=False)
    info = {**chat.to_dict(), "accent_color_id": chat.id % 7, "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True,
                                    "premium_subscription": True, "gifts_from_channels": True}}
    return info


@method("getChatMember")
def get_chat_member(ctx: Context) -> dict:
    chat = ctx.state.resolve_chat(ctx.bot, ctx.params.chat_id(), sending=False)
    user_id = ctx.params.int("user_id")
    user = ctx.state.users.get(user_id)
    if user_id <= 0 or user is None:
        raise bad_request("invalid user_id specified")
    if chat.is_private:
        status = "member" if user_id in (chat.id, ctx.bot.id) else None
    elif user.is_bot:
        status = chat.bots.get(user_id)
    else:
        status = "member" if user_id in chat.members else None
    if status is None:
        if chat.is_private:
            raise bad_request("user not found")
        status = "left"
    return chat_member(user.to_dict(), status)
