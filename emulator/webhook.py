"""Webhook delivery: up to the webhook's `max_connections` updates in flight at once, each chat's
in order, each update retried with backoff until the receiver takes it.

As Telegram does, setWebhook's `max_connections` (1-100, default 40) bounds how many updates are
being POSTed to the receiver at the same time, and the updates of one chat are never delivered
concurrently: an update waits until every earlier update of its chat has been taken, so a
receiver sees each chat's updates in the order they were made. Updates without a chat (an
inline query, a poll) are ordered by their user, and those with neither go as soon as there is
room. With `max_connections=1` delivery is strictly in order, one update at a time.

An update leaves the queue only when the receiver answers 2xx, so an update whose answer was
lost is delivered again, as Telegram does. One that fails is retried with backoff, holding up
its own chat only. A JSON answer naming a "method" is executed, as Telegram executes a method
call returned in the webhook response.

`resend_every=n` delivers every n-th update taken once more, at once and beside the chat's next
updates, as Telegram does when the receiver's answer was lost on the way (a timeout): the
receiver must recognise it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from emulator.emulator import Emulator
    from emulator.model import BotAccount, Webhook

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def order_key(update: dict) -> Any:
    """What an update must keep its order within: its chat's id, else its user's id, else None
    (no order to keep)."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat")
        if chat is None and isinstance(payload.get("message"), dict):
            chat = payload["message"].get("chat")  # a callback query: the chat of its message
        if isinstance(chat, dict) and "id" in chat:
            return chat["id"]
        user = payload.get("from") or payload.get("user")
        if isinstance(user, dict) and "id" in user:
            return user["id"]
        return None
    return None


def _remove(updates: deque[dict], update: dict) -> None:
    """Take `update` (this very object) off the queue, wherever it is; nothing if it is gone."""
    if updates and updates[0] is update:
        updates.popleft()
        return
    for index, queued in enumerate(updates):
        if queued is update:
            del updates[index]
            return


class WebhookSender:
    def __init__(self, emulator: Emulator, backoff: tuple[float, float] = (0.05, 2.0), timeout: float = 10.0,
                 resend_every: int = 0):
        self.emulator = emulator
        self.resend_every = resend_every
        self.taken = 0  # updates the receiver took
        self.resent = 0  # of which delivered once more (resend_every)
        self._resends: set[asyncio.Task] = set()
        self.first_delay, self.max_delay = backoff
        self.timeout = timeout
        self.deliveries = 0  # POSTs made, retries included
        self.most_in_flight = 0  # the most updates one bot had in flight at once
        self._tasks: dict[int, asyncio.Task] = {}

    def start(self, bot: BotAccount) -> None:
        """(Re)start delivery for `bot`'s current webhook."""
        self.stop(bot)
        self._tasks[bot.id] = asyncio.get_running_loop().create_task(self._run(bot), name=f"webhook {bot.username}")

    def stop(self, bot: BotAccount) -> None:
        task = self._tasks.pop(bot.id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values()) + list(self._resends)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, bot: BotAccount) -> None:
        """Start deliveries while there is room and an update whose chat is free; wait for a new
        update or a finished delivery; again."""
        loop = asyncio.get_running_loop()
        in_flight: dict[int, asyncio.Task] = {}  # id(update) -> its delivery
        busy: set[Any] = set()  # order keys with an update in flight

        def finished(update_id: int, key: Any, _task: asyncio.Task) -> None:
            in_flight.pop(update_id, None)
            busy.discard(key)
            bot.updates_changed.set()

        try:
            while bot.webhook is not None:
                bot.updates_changed.clear()
                hook = bot.webhook
                room = hook.max_connections - len(in_flight)
                if room > 0 and len(bot.updates) > len(in_flight):
                    for update in bot.updates:
                        marker = id(update)
                        if marker in in_flight:
                            continue
                        key = order_key(update)
                        if key is not None:
                            if key in busy:
                                continue  # an earlier update of its chat is on its way
                            busy.add(key)
                        task = loop.create_task(self._deliver(bot, hook, update))
                        in_flight[marker] = task
                        task.add_done_callback(lambda t, m=marker, k=key: finished(m, k, t))
                        room -= 1
                        if room == 0:
                            break
                    self.most_in_flight = max(self.most_in_flight, len(in_flight))
                await bot.updates_changed.wait()
        finally:
            tasks = list(in_flight.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, bot: BotAccount, hook: Webhook, update: dict) -> None:
        """POST `update` until the receiver takes it (or the webhook changes), then dequeue it."""
        delay = self.first_delay
        while bot.webhook is hook:
            error = await self._post(bot, hook, update)
            if bot.webhook is not hook:
                return
            if error is None:
                _remove(bot.updates, update)
                self.taken += 1
                if self.resend_every and self.taken % self.resend_every == 0:
                    self.resent += 1
                    task = asyncio.get_running_loop().create_task(self._post(bot, hook, update))
                    self._resends.add(task)
                    task.add_done_callback(self._resends.discard)
                return
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def _post(self, bot: BotAccount, hook: Webhook, update: dict) -> str | None:
        """Deliver one update: None when the receiver took it, else Telegram's error text."""
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers[SECRET_HEADER] = hook.secret_token
        body = json.dumps(update, ensure_ascii=False).encode()
        self.deliveries += 1
        try:
            session = self.emulator.http_session()
            async with session.post(hook.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                answer = await response.read()
                if not 200 <= response.status < 300:
                    return f"Wrong response from the webhook: {response.status} {response.reason}"
                content_type = response.content_type
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, ConnectionRefusedError):
                return "Connection refused"
            return f"Failed to connect: {error.os_error}"
        except aiohttp.ClientError as error:
            return f"Connection error: {error}"
        if content_type == "application/json" and answer:
            await self._run_reply(bot, answer)
        return None

    async def _run_reply(self, bot: BotAccount, answer: bytes) -> None:
        try:
            reply = json.loads(answer)
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            values = {k: v for k, v in reply.items() if k != "method"}
            await self.emulator.api.call(bot, reply["method"], values)
