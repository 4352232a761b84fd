"""A Telegram Bot API emulator on aiohttp, with a users API through which tests play residents.

The real python-telegram-bot talks to it over HTTP (base_url=f"{emu.url}/bot",
base_file_url=f"{emu.url}/file/bot"); it answers like Telegram, error texts and limits included.

    emu = Emulator(limits=Limits(), faults=Faults(), record_calls=True)
    await emu.start()                                   # emu.url, emu.token, emu.bot_user
    lan = emu.user(first_name="Lan", language_code="vi")
    await lan.send("/start")
    reply = await lan.next_message()                    # a BotMessage: text, html, buttons, photo...
    answer = await (await lan.tap("Tiếng Việt")).answer()
    mods = emu.group("Moderators", members=[lan])
    await mods.send(lan, "/queue")
    emu.expect_error("message is not modified")         # errors the test provokes on purpose
    emu.problems()                                      # unexpected errors, unanswered callback queries

Modules: server (HTTP, parameters, envelope, faults), methods/ (the Bot API methods), state and
model (bots, users, chats, messages, updates), users and views (the test side), html_entities and
markdown (parse modes), formatting, markup, limits, faults, files and images, webhook.
"""

from emulator.emulator import DEFAULT_TOKEN, Call, Emulator, Expectation, RecordedError
from emulator.errors import ApiError
from emulator.faults import Faults
from emulator.limits import Limits
from emulator.users import SimGroup, SimUser
from emulator.views import BotMessage, CallbackAnswer, Tap

__all__ = [
    "DEFAULT_TOKEN", "ApiError", "BotMessage", "Call", "CallbackAnswer", "Emulator", "Expectation", "Faults",
    "Limits", "RecordedError", "SimGroup", "SimUser", "Tap",
]
