"""Webhook delivery: updates POSTed in order, one at a time per bot, retried with backoff.

An update leaves the queue only when the receiver answers 2xx, so an update whose answer was
lost is delivered again, as Telegram does. A JSON answer naming a "method" is executed, as
Telegram executes a method call returned in the webhook response.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from emulator.emulator import Emulator
    from emulator.model import BotAccount, Webhook

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookSender:
    def __init__(self, emulator: Emulator, backoff: tuple[float, float] = (0.05, 2.0), timeout: float = 10.0):
        self.emulator = emulator
        self.first_delay, self.max_delay = backoff
        self.timeout = timeout
        self.deliveries = 0
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
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, bot: BotAccount) -> None:
        delay = self.first_delay
        while bot.webhook is not None:
            if not bot.updates:
                bot.updates_changed.clear()
                await bot.updates_changed.wait()
                continue
            hook = bot.webhook
            update = bot.updates[0]
            error = await self._post(bot, hook, update)
            if bot.webhook is not hook:
                continue
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.popleft()
                delay = self.first_delay
                continue
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
        except asyncio.TimeoutError:
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
