"""A Bot API transport for python-telegram-bot built on aiohttp.

PTB's default ``HTTPXRequest`` spends most of its time in httpx/httpcore Python code; on a small
machine it tops out at a few hundred sendMessage calls a second.  ``AiohttpRequest`` implements the
same ``telegram.request.BaseRequest`` contract on one keep-alive ``aiohttp.ClientSession`` and is
several times faster (see docs/BENCHMARKS.md).  Use it like any PTB request class::

    ApplicationBuilder().token(token).request(AiohttpRequest(connection_pool_size=64))

Nothing here logs or repeats request URLs: they contain the bot token.
"""

from __future__ import annotations

import asyncio

import aiohttp
import yarl
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]

_POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """``telegram.request.BaseRequest`` on aiohttp; arguments mean what they mean for
    ``telegram.request.HTTPXRequest`` (timeouts in seconds, ``None`` = no limit).

    ``connection_pool_size`` bounds the number of connections (and so of requests in flight);
    a request that waits longer than ``pool_timeout`` for one fails with ``TimedOut`` without
    having been sent.  ``media_write_timeout`` replaces ``write_timeout`` for uploads.
    """

    __slots__ = (
        "_connect_timeout",
        "_default_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_shut_down",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ):
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._default_timeout = self._client_timeout(read_timeout, write_timeout, connect_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._shut_down = False

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds (see ``BaseRequest.read_timeout``)."""
        return self._read_timeout

    @staticmethod
    def _client_timeout(
        read: float | None, write: float | None, connect: float | None
    ) -> aiohttp.ClientTimeout:
        # How PTB's four timeouts map onto aiohttp's:
        # - pool: not aiohttp's business; a semaphore of `connection_pool_size` slots is waited
        #   for before aiohttp sees the request (so aiohttp's own queue never waits, and a pool
        #   timeout can say for certain that nothing was sent).
        # - connect -> `connect` and `sock_connect` (DNS + TCP + TLS of a new connection).
        # - read -> `sock_read`: longest silence from the server; aiohttp starts this clock
        #   once the request body is written, exactly like httpx's read timeout.
        # - write: aiohttp has no per-write timeout, so `total` = connect + write + read bounds
        #   the whole exchange (a stalled upload still ends); no total if any part is unlimited.
        total = None
        if read is not None and write is not None and connect is not None:
            total = read + write + connect
        return aiohttp.ClientTimeout(
            total=total, connect=connect, sock_connect=connect, sock_read=read
        )

    def _timeout_for(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        upload: bool,
    ) -> aiohttp.ClientTimeout:
        """The aiohttp timeout for one request; DEFAULT_NONE means this instance's default."""
        if isinstance(write, DefaultValue):
            write = self._media_write_timeout if upload else self._write_timeout
        if isinstance(read, DefaultValue) and isinstance(connect, DefaultValue):
            if write == self._write_timeout:
                return self._default_timeout  # the common case, built once
        return self._client_timeout(
            self._read_timeout if isinstance(read, DefaultValue) else read,
            write,
            self._connect_timeout if isinstance(connect, DefaultValue) else connect,
        )

    async def initialize(self) -> None:
        """Open the session (again, after ``shutdown``); does nothing if it is open."""
        self._shut_down = False
        if self._session is None:
            self._open()

    def _open(self) -> None:
        self._slots = asyncio.Semaphore(self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool_size),  # keep-alive is the default
            headers={"User-Agent": self.USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._default_timeout,
        )

    async def shutdown(self) -> None:
        """Close the session and its connections; until ``initialize``, requests raise
        ``RuntimeError``."""
        self._shut_down = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See ``BaseRequest.do_request``."""
        if self._session is None:
            if self._shut_down:
                raise RuntimeError("This AiohttpRequest is not initialized!")
            self._open()  # used without initialize(), which HTTPXRequest allows too
        session, slots = self._session, self._slots

        headers = None
        data: aiohttp.FormData | bytes | None = None
        files = {}
        if request_data is not None and request_data.contains_files:
            files = request_data.multipart_data
            data = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                data.add_field(name, value)
            for name, (filename, content, content_type) in files.items():
                data.add_field(name, content, filename=filename, content_type=content_type)
        elif request_data is not None:
            data = request_data.url_encoded_parameters().encode()
            headers = _FORM_HEADERS

        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        timeout = self._timeout_for(read_timeout, write_timeout, connect_timeout, bool(files))
        return await self._exchange(session, slots, method, url, data, headers, timeout, pool_timeout)

    async def post_form(self, url: str, body: bytes) -> tuple[int, bytes]:
        """POST an already url-encoded body with the default timeouts: the sender's hot path,
        which builds its bodies itself instead of going through PTB's Bot and RequestData."""
        if self._session is None:
            if self._shut_down:
                raise RuntimeError("This AiohttpRequest is not initialized!")
            self._open()
        return await self._exchange(self._session, self._slots, "POST", url, body, _FORM_HEADERS,
                                    self._default_timeout, self._pool_timeout)

    @staticmethod
    async def _exchange(session, slots, method, url, data, headers, timeout, pool_timeout) -> tuple[int, bytes]:
        if slots.locked():  # every connection is busy: wait at most pool_timeout
            try:
                async with asyncio.timeout(pool_timeout):
                    await slots.acquire()
            except TimeoutError as err:
                raise TimedOut(_POOL_TIMEOUT_MESSAGE) from err
        else:
            await slots.acquire()  # returns at once, without arming a timer
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # asyncio's, and aiohttp.ServerTimeoutError (a subclass)
            raise TimedOut from err
        except (aiohttp.ClientError, OSError) as err:
            raise NetworkError(_redact(f"aiohttp.{type(err).__name__}: {err}", url)) from err
        finally:
            slots.release()


def _redact(text: str, url: str) -> str:
    """Remove the request URL, whose path holds the bot token, from an error message."""
    secrets = {url}
    try:
        parsed = yarl.URL(url)
        secrets |= {str(parsed), parsed.raw_path, parsed.path}
    except ValueError:
        pass
    secrets -= {"", "/"}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "<url>")
    return text
