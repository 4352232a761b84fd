"""The Emulator: a Telegram Bot API server on aiohttp plus the test-side users API.

    emu = Emulator()
    await emu.start()                       # emu.url, emu.token
    lan = emu.user(first_name="Lan")        # a simulated resident
    await lan.send("/start")
    reply = await lan.next_message()
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from emulator.errors import ApiError
from emulator.faults import Faults
from emulator.files import FileStore
from emulator.limits import Limits
from emulator.model import BotAccount, CallbackQuery, Chat, Message, User
from emulator.params import Params
from emulator.server import build_app
from emulator.state import State
from emulator.users import SimGroup, SimUser
from emulator.webhook import WebhookSender

DEFAULT_TOKEN = "123456:TEST-token"
log = logging.getLogger("emulator")


@dataclass
class RecordedError:
    """A Bot API error the emulator answered."""

    method: str
    chat_id: Any
    code: int
    description: str
    params: dict = field(repr=False, default_factory=dict)
    expected: bool = False

    def __str__(self) -> str:
        chat = f" chat={self.chat_id}" if self.chat_id not in (None, "") else ""
        return f"{self.method}{chat}: {self.code} {self.description}"


class Call(NamedTuple):
    """One Bot API call: unpacks as (method, params)."""

    method: str
    params: dict


class Expectation:
    """Errors a test allows: a description substring, or an error code."""

    def __init__(self, match: str | int):
        self.match = match
        self.matched: list[RecordedError] = []

    def matches(self, error: RecordedError) -> bool:
        if isinstance(self.match, int):
            return error.code == self.match
        return self.match.lower() in error.description.lower()

    def __bool__(self) -> bool:
        return bool(self.matched)

    def __repr__(self) -> str:
        return f"<Expectation {self.match!r}: {len(self.matched)} matched>"


class Emulator:
    def __init__(
        self,
        limits: Limits | None = None,
        faults: Faults | None = None,
        record_calls: bool = True,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "loa_test_bot",
        bot_name: str = "Loa Test Bot",
        auto_users: bool = False,
        history_limit: int | None = None,
        max_errors: int | None = None,
        webhook_backoff: tuple[float, float] = (0.05, 2.0),
        webhook_timeout: float = 10.0,
    ):
        """`auto_users` makes any positive chat id a user who has started the bot (for load tests
        from another process); `history_limit` keeps only that many messages per chat."""
        self.limits = limits if limits is not None else Limits()
        self.faults = faults if faults is not None else Faults()
        self.record_calls = record_calls
        self.state = State(FileStore(), history_limit=history_limit, auto_users=auto_users)
        self.errors: list[RecordedError] | deque[RecordedError] = (
            deque(maxlen=max_errors) if max_errors is not None else []
        )
        self.calls: list[Call] = []
        self._expected: list[Expectation] = []
        self.webhooks = WebhookSender(self, webhook_backoff, webhook_timeout)
        self.app, self.api = build_app(self)
        self.default_bot = self.create_bot(token, bot_username, bot_name)
        self.url: str | None = None
        self.closing: asyncio.Future | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # life cycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False) -> str:
        self.closing = asyncio.get_running_loop().create_future()
        self._runner = web.AppRunner(self.app, access_log=log if access_log else None,
                                     handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self.closing is not None and not self.closing.done():
            self.closing.set_result(None)
        await self.webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Emulator:
        if self.url is None:
            await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def http_session(self) -> aiohttp.ClientSession:
        """The client session for webhooks and photos sent by URL. Its connections are not
        capped: each bot's webhook keeps at most its own `max_connections` (emulator/webhook.py)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session

    # accounts

    @property
    def token(self) -> str:
        return self.default_bot.token

    @property
    def bot_user(self) -> User:
        return self.default_bot.user

    def create_bot(self, token: str | None = None, username: str | None = None, first_name: str | None = None,
                   *, can_read_all_group_messages: bool = False) -> BotAccount:
        number = len(self.state.bots) + 1
        token = token or f"{123456 + number}:TEST-token-{number}"
        username = username or f"test{number}_bot"
        return self.state.add_bot(token, username, first_name or username, can_read_all_group_messages)

    def bot(self, token: str | None = None) -> BotAccount:
        return self.state.bots[token] if token else self.default_bot

    def user(self, first_name: str = "Test", *, last_name: str | None = None, username: str | None = None,
             language_code: str | None = "en", id: int | None = None, phone_number: str | None = None,
             is_premium: bool = False, location: tuple[float, float] | None = None,
             bot: BotAccount | None = None) -> SimUser:
        """A simulated Telegram user; their private chat with the bot has id == user.id and
        exists only once they write to the bot."""
        account = self.state.add_user(first_name, id=id, last_name=last_name, username=username,
                                      language_code=language_code, phone_number=phone_number,
                                      is_premium=is_premium)
        return SimUser(self, account, bot or self.default_bot, location=location)

    def group(self, title: str = "Group", members: list[SimUser] | tuple = (), *, type: str = "supergroup",
              bot_admin: bool = False, bot: BotAccount | None = None, id: int | None = None,
              username: str | None = None) -> SimGroup:
        """A group the bot is a member of (an administrator with `bot_admin`), with `members`."""
        chat = self.state.add_group(title, type, id=id, username=username)
        group = SimGroup(self, chat, bot or self.default_bot)
        for member in members:
            group.add(member)
        group.add_bot(bot or self.default_bot, admin=bot_admin)
        return group

    async def polling(self, timeout: float = 5.0, bot: BotAccount | None = None) -> None:
        """Wait until the bot holds a long poll (getUpdates with a timeout) open."""
        bot = bot or self.default_bot
        try:
            await asyncio.wait_for(bot.poll_started.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{bot} did not start long polling within {timeout}s") from None

    def on_change(self, observer: Callable[[str, Chat, Message | None], None]) -> None:
        """Call `observer(event, chat, message)` on every change: message, edit, delete, action,
        callback_answer, block."""
        self.state.observers.append(observer)

    # what the bot did

    def record_call(self, method: str, params: Params) -> None:
        self.calls.append(Call(method, params.loggable()))

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def record_error(self, method: str, params: Params, error: ApiError) -> None:
        recorded = RecordedError(method, params.raw("chat_id"), error.code, error.description, params.loggable())
        self._match(recorded)
        self.errors.append(recorded)

    def _match(self, error: RecordedError) -> None:
        for expectation in self._expected:
            if expectation.matches(error):
                expectation.matched.append(error)
                error.expected = True
                return

    def expect_error(self, match: str | int) -> Expectation:
        """Allow errors whose description contains `match` (or whose code is `match`), also those
        already recorded. The returned Expectation lists the errors it matched."""
        expectation = Expectation(match)
        self._expected.append(expectation)
        for error in self.errors:
            if not error.expected and expectation.matches(error):
                expectation.matched.append(error)
                error.expected = True
        return expectation

    def unexpected_errors(self) -> list[RecordedError]:
        return [error for error in self.errors if not error.expected]

    def unanswered_callback_queries(self) -> list[CallbackQuery]:
        """Queries the bot never tried to answer (one answered too late is its error instead)."""
        return [query for bot in self.state.bots.values() for query in bot.callback_queries.values()
                if not query.answered and not query.late]

    def problems(self) -> list[str]:
        """What a test should fail on: unexpected Bot API errors, unanswered callback queries."""
        found = [f"Bot API error the test did not expect: {error}" for error in self.unexpected_errors()]
        for query in self.unanswered_callback_queries():
            found.append(f"callback query {query.id} (data {query.data!r}, from {query.user.first_name}) "
                         f"was never answered")
        return found
