"""Slow clients cannot hold the HTTP server's connections: a client that sends its headers or its
body a few bytes at a time is cut off (LOA_HTTP_HEADER_SECONDS, LOA_HTTP_BODY_SECONDS), while the
server keeps answering everyone else. Raw sockets, as a slowloris attack sends."""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.bot import served
from tests.fixtures.dashboard import web_settings

TRICKLES = 150  # pieces a slow client sends, one every PAUSE: far longer than the timeouts
PAUSE = 0.2


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_HTTP_HEADER_SECONDS="1", LOA_HTTP_BODY_SECONDS="1")


async def trickle(base: str, head: bytes, piece: bytes) -> tuple[int, bytes | None]:
    """Send `head`, then `piece` every PAUSE until the server closes the connection (or TRICKLES
    pieces went out); the number of pieces sent and what the server answered.

    The answer is None when the connection was reset: a piece that reaches the server just after
    it closed makes its kernel answer with a reset, which may discard the answer before it is read
    (TCP's way, not the server's; it happens on a loaded machine)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = b""
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        while sent < TRICKLES:
            try:
                data = await asyncio.wait_for(reader.read(65536), PAUSE)
            except TimeoutError:
                data = None
            except ConnectionResetError:
                return sent, None
            if data == b"":
                break  # closed by the server
            if data:
                answer += data
                continue
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
        else:
            return sent, answer
        try:
            answer += await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:
            return sent, answer or None
        except (ConnectionError, TimeoutError):
            pass
        return sent, answer
    finally:
        writer.close()


async def healthy(session, base: str) -> bool:
    async with session.get(base + "/healthz") as response:
        return response.status == 200


async def test_headers_sent_too_slowly_are_cut_off_and_others_are_served(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        slow = [asyncio.create_task(trickle(base, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n"))
                for _ in range(3)]
        assert await healthy(session, base)
        for sent, answer in await asyncio.gather(*slow):
            assert sent < TRICKLES and not answer  # closed without an answer
        # A connection that sends nothing at all is closed too.
        sent, answer = await trickle(base, b"", b"")
        assert sent < TRICKLES and not answer
        assert await healthy(session, base)


@pytest.mark.parametrize("path, content_type", [
    ("/open311/v2/requests.json", b"application/json"),
    ("/dashboard/login", b"text/html"),
])
async def test_a_body_sent_too_slowly_gets_408_and_the_connection_is_closed(application, emulator, settings, db,
                                                                            path, content_type):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: 100000\r\n\r\napi_key=").encode()
    async with served(application, emulator, settings, db) as (base, session):
        for _attempt in range(3):  # a reset may swallow the answer (see trickle): try again
            sent, answer = await trickle(base, head, b"x")
            if answer is not None:
                break
        assert sent < TRICKLES and answer is not None
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"Content-Type: " + content_type in answer
        assert await healthy(session, base)
