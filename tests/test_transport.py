"""AiohttpRequest (kernel/transport.py) driven by PTB's real Bot against a small fake Bot API."""

import asyncio
import json
import socket
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from kernel.transport import AiohttpRequest

TOKEN = "123456:TEST-token-secret"
ME = {"id": 123456, "is_bot": True, "first_name": "Loa", "username": "loa_bot"}
CHAT = {"id": 42, "type": "private", "first_name": "Resident"}


def message(**extra):
    return {"message_id": 7, "date": 0, "chat": CHAT, **extra}


@dataclass
class Seen:
    """One request as the fake Bot API received it."""

    method: str
    http_method: str
    content_type: str
    headers: dict
    fields: dict  # form field -> str, or (filename, content_type, bytes) for uploads
    peer: tuple


@dataclass
class FakeBotAPI:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    # method -> (HTTP status, body) to answer with instead of the default
    replies: dict = field(default_factory=dict)
    hold: asyncio.Event = field(default_factory=asyncio.Event)  # "hold" methods wait on it
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def base_url(self):
        return f"{self.url}/bot"


@pytest.fixture
async def api():
    fake = FakeBotAPI()

    async def handle(request: web.Request) -> web.Response:
        fields = {}
        if request.method == "POST":
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    fields[name] = (value.filename, value.content_type, value.file.read())
                else:
                    fields[name] = value
        method = request.match_info["method"]
        fake.seen.append(
            Seen(
                method=method,
                http_method=request.method,
                content_type=request.content_type,
                headers=dict(request.headers),
                fields=fields,
                peer=request.transport.get_extra_info("peername"),
            )
        )
        fake.in_flight += 1
        fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if method == "hold":
                await fake.hold.wait()
            elif method == "slow":
                await asyncio.sleep(0.005)
        finally:
            fake.in_flight -= 1
        if method in fake.replies:
            status, body = fake.replies[method]
            return web.json_response(body, status=status)
        result = {
            "getMe": ME,
            "sendMessage": message(text=fields.get("text")),
            "sendPhoto": message(
                photo=[{"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}]
            ),
            "getFile": {"file_id": "f", "file_unique_id": "fu", "file_path": "docs/a.txt"},
        }.get(method, True)
        return web.json_response({"ok": True, "result": result})

    async def file(request: web.Request) -> web.Response:
        return web.Response(body=b"file:" + request.match_info["path"].encode())

    app = web.Application()
    app.router.add_route("*", f"/bot{TOKEN}/{{method}}", handle)
    app.router.add_get(f"/file/bot{TOKEN}/{{path:.+}}", file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    fake.hold.set()
    await runner.cleanup()


def make_bot(api: FakeBotAPI, request: BaseRequest) -> Bot:
    return Bot(TOKEN, base_url=api.base_url, base_file_url=f"{api.url}/file/bot", request=request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def call(bot: Bot, api_method: str, **params):
    """Call a Bot API method by name through PTB's request machinery."""
    return await bot.do_api_request(api_method, api_kwargs=params)


async def test_get_me_and_send_message_send_form_fields(api):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Да ✓", callback_data="yes:1")]])
    async with make_bot(api, AiohttpRequest()) as bot:
        sent = await bot.send_message(42, "Привет, город", reply_markup=markup)

    assert bot.username == "loa_bot"
    assert [s.method for s in api.seen] == ["getMe", "sendMessage"]
    seen = api.seen[1]
    assert seen.http_method == "POST"
    assert seen.content_type == "application/x-www-form-urlencoded"
    assert seen.headers["User-Agent"] == BaseRequest.USER_AGENT
    assert seen.fields["chat_id"] == "42"
    assert seen.fields["text"] == "Привет, город"
    assert json.loads(seen.fields["reply_markup"]) == {
        "inline_keyboard": [[{"text": "Да ✓", "callback_data": "yes:1"}]]
    }
    assert sent.text == "Привет, город" and sent.chat.id == 42


async def test_send_photo_uploads_bytes_as_multipart(api):
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    async with make_bot(api, AiohttpRequest()) as bot:
        sent = await bot.send_photo(42, photo, caption="Яма на дороге", filename="pit.png")

    seen = api.seen[-1]
    assert seen.method == "sendPhoto"
    assert seen.content_type == "multipart/form-data"
    assert seen.fields["chat_id"] == "42"
    assert seen.fields["caption"] == "Яма на дороге"
    filename, content_type, content = seen.fields["photo"]
    assert filename == "pit.png"
    assert content_type == "image/png"
    assert content == photo
    assert sent.photo[0].file_id == "p"


async def test_file_download_uses_get(api):
    async with make_bot(api, AiohttpRequest()) as bot:
        tg_file = await bot.get_file("f")
        content = await tg_file.download_as_bytearray()
    assert content == b"file:docs/a.txt"


async def test_read_timeout_raises_timed_out(api):
    async with make_bot(api, AiohttpRequest(read_timeout=0.05)) as bot:
        async with asyncio.timeout(30):  # if the read timeout were ignored: fail, not hang
            with pytest.raises(TimedOut):
                await call(bot, "hold")
    assert api.seen[-1].method == "hold"  # it was sent; the answer was late


async def test_per_call_read_timeout_overrides_the_default(api):
    # No default read timeout at all: only the per-call value can end this request.
    async with make_bot(api, AiohttpRequest(read_timeout=None)) as bot:
        async with asyncio.timeout(30):  # if the per-call value were ignored: fail, not hang
            with pytest.raises(TimedOut):
                await bot.do_api_request("hold", read_timeout=0.05)


async def test_exhausted_pool_times_out_without_sending(api):
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.05, read_timeout=None)
    async with make_bot(api, request) as bot:
        first = asyncio.create_task(call(bot, "hold"))
        while not any(s.method == "hold" for s in api.seen):
            await asyncio.sleep(0.001)
        with pytest.raises(TimedOut, match="not\\* sent"):
            await bot.send_message(1, "queued")
        assert [s.method for s in api.seen].count("sendMessage") == 0
        api.hold.set()
        assert await first is True
        # The slot is free again.
        await bot.send_message(1, "now")
    assert [s.method for s in api.seen].count("sendMessage") == 1


async def test_closed_port_raises_network_error():
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=AiohttpRequest())
    with pytest.raises(NetworkError) as info:
        await bot.get_me()
    assert not isinstance(info.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in info.value.message
    await bot.request.shutdown()


async def test_error_messages_do_not_contain_the_token():
    # aiohttp's InvalidURL message is the URL itself, token included.
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url="http:///bot", request=request)
    with pytest.raises(NetworkError) as info:
        await bot.get_me()
    assert info.value.message == "aiohttp.InvalidUrlClientError: <url>"
    assert TOKEN not in info.value.message
    assert TOKEN.split(":")[1] not in info.value.message
    await request.shutdown()


ERRORS = [
    (400, {"description": "Bad Request: chat not found"}, BadRequest, "Chat not found"),
    (403, {"description": "Forbidden: bot was blocked by the user"}, Forbidden, "blocked"),
    (
        429,
        {"description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}},
        RetryAfter,
        "Retry in 3 ",
    ),
]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after
@pytest.mark.parametrize("transport", [AiohttpRequest, HTTPXRequest])
@pytest.mark.parametrize(("status", "body", "error", "text"), ERRORS)
async def test_error_envelopes_raise_like_the_default_transport(
    api, transport, status, body, error, text
):
    api.replies["sendMessage"] = (status, {"ok": False, "error_code": status, **body})
    async with make_bot(api, transport()) as bot:
        with pytest.raises(error, match=text) as info:
            await bot.send_message(42, "hello")
    assert type(info.value) is error


async def test_concurrent_requests_share_a_few_keep_alive_connections(api):
    request = AiohttpRequest(connection_pool_size=4, pool_timeout=None)
    async with make_bot(api, request) as bot:
        results = await asyncio.gather(*(call(bot, "slow", n=n) for n in range(60)))
        await bot.get_me()  # after the burst: an idle pooled connection is reused
    assert results == [True] * 60
    peers = {s.peer for s in api.seen}
    assert len(api.seen) == 62  # getMe from initialize, 60 slow, one getMe
    assert len(peers) <= 4
    assert api.max_in_flight <= 4
    assert api.seen[-1].peer in {s.peer for s in api.seen[1:61]}


@pytest.mark.parametrize("transport", [AiohttpRequest, HTTPXRequest])
async def test_use_after_shutdown_raises_runtime_error(api, transport):
    request = transport()
    url = f"{api.base_url}{TOKEN}/getMe"
    async with make_bot(api, request) as bot:
        await bot.get_me()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST")
    # Through post() (as Bot calls it) BaseRequest wraps it in a NetworkError.
    with pytest.raises(NetworkError) as info:
        await request.post(url)
    assert isinstance(info.value.__cause__, RuntimeError)
    # initialize() after shutdown makes it usable again.
    await request.initialize()
    assert await request.post(url) == ME
    await request.shutdown()
    await request.shutdown()  # idempotent
    with pytest.raises(RuntimeError):
        await request.do_request(url, "POST")


async def test_works_without_initialize_and_as_context_manager(api):
    url = f"{api.base_url}{TOKEN}/getMe"
    request = AiohttpRequest()
    assert await request.post(url) == ME  # the session is opened lazily
    await request.shutdown()

    async with AiohttpRequest() as entered:
        assert isinstance(entered, AiohttpRequest)
        assert await entered.post(url) == ME
    with pytest.raises(RuntimeError):
        await entered.do_request(url, "POST")


def test_timeouts_map_onto_aiohttp():
    request = AiohttpRequest(
        read_timeout=2, write_timeout=3, connect_timeout=4, media_write_timeout=20
    )
    assert request.read_timeout == 2
    default = request._timeout_for(*[BaseRequest.DEFAULT_NONE] * 3, upload=False)
    assert (default.sock_read, default.connect, default.sock_connect) == (2, 4, 4)
    assert default.total == 2 + 3 + 4
    # Media uploads get media_write_timeout instead of write_timeout ...
    upload = request._timeout_for(*[BaseRequest.DEFAULT_NONE] * 3, upload=True)
    assert upload.total == 2 + 20 + 4
    # ... unless the call names its own; per-call values win over the defaults.
    custom = request._timeout_for(7, 1, BaseRequest.DEFAULT_NONE, upload=True)
    assert (custom.sock_read, custom.connect, custom.total) == (7, 4, 7 + 1 + 4)
    # An unlimited part makes the whole exchange unlimited.
    unlimited = request._timeout_for(None, BaseRequest.DEFAULT_NONE, 4, upload=False)
    assert unlimited.total is None and unlimited.sock_read is None
    assert AiohttpRequest(read_timeout=None).read_timeout is None
