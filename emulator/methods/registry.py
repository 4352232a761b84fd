"""The table of Bot API methods and what a method implementation sees."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.params import Params

if TYPE_CHECKING:
    from emulator.emulator import Emulator
    from emulator.model import BotAccount


class Context:
    """One Bot API call: the emulator, the calling bot, the parameters."""

    __slots__ = ("emulator", "bot", "params", "state", "limits")

    def __init__(self, emulator: Emulator, bot: BotAccount, params: Params):
        self.emulator = emulator
        self.bot = bot
        self.params = params
        self.state = emulator.state
        self.limits = emulator.limits


class ApiResult:
    """A result with the "description" Telegram adds to some successful answers."""

    __slots__ = ("value", "description")

    def __init__(self, value: Any, description: str | None = None):
        self.value = value
        self.description = description


Handler = Callable[[Context], Any]

class Entry:
    __slots__ = ("name", "function", "is_async")

    def __init__(self, name: str, function: Handler):
        self.name = name
        self.function = function
        self.is_async = inspect.iscoroutinefunction(function)


# Method names are case-insensitive, as in Telegram: the table is keyed by the lower-case name.
METHODS: dict[str, Entry] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        METHODS[name.lower()] = Entry(name, function)
        return function
    return register
