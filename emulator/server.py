"""The HTTP face of the emulator: Bot API routes, parameter parsing, the response envelope,
injected faults, and the file download route."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator import limits
from emulator.errors import ApiError, internal_error, not_found, too_many_requests, unauthorized
from emulator.methods import METHODS, ApiResult, Context
from emulator.methods.updates import TERMINATED
from emulator.model import BotAccount
from emulator.params import Params, Upload

if TYPE_CHECKING:
    from emulator.emulator import Emulator

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator")
_JSON = "application/json"


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(error: ApiError) -> web.Response:
    return web.Response(status=error.code, body=_dumps(error.envelope()), content_type=_JSON)


async def read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query) if request.query_string else {}
    if not request.body_exists:
        return Params(values)
    content_type = request.content_type
    try:
        if content_type == _JSON:
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
            if isinstance(body, dict):
                values.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    values[name] = Upload(value.file.read(), value.filename, value.content_type)
                else:
                    values[name] = value
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    return Params(values)


class BotApi:
    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    async def handle(self, request: web.Request) -> web.Response:
        emulator = self.emulator
        bot = emulator.state.bots.get(request.match_info["token"])
        if bot is None:
            emulator.record_error(request.match_info["method"], Params({}), unauthorized())
            return error_response(unauthorized())
        faults = emulator.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        name = request.match_info["method"].lower()
        entry = METHODS.get(name)
        try:
            params = await read_params(request)
        except ApiError as error:
            return error_response(error)
        if entry is None:
            emulator.record_error(request.match_info["method"], params, not_found())
            return error_response(not_found())
        if emulator.record_calls:
            emulator.record_call(entry.name, params)
        fault = faults.pick(name)
        if fault is not None:
            return await self._fault(fault)
        status, body = await self._run(bot, entry, params)
        if status != 200:
            error = ApiError(status, body["description"], body.get("parameters"))
            client_gone = request.transport is None or request.transport.is_closing()
            if not (client_gone and body["description"].endswith(TERMINATED)):
                emulator.record_error(entry.name, params, error)
        return web.Response(status=status, body=_dumps(body), content_type=_JSON)

    async def _run(self, bot: BotAccount, entry, params: Params) -> tuple[int, dict]:
        ctx = Context(self.emulator, bot, params)
        try:
            result = await entry.function(ctx) if entry.is_async else entry.function(ctx)
        except ApiError as error:
            return error.code, error.envelope()
        if isinstance(result, ApiResult):
            return 200, {"ok": True, "result": result.value, "description": result.description}
        return 200, {"ok": True, "result": result}

    async def call(self, bot: BotAccount, method: str, values: dict) -> dict:
        """Run a method without HTTP (a method returned in a webhook answer); errors are recorded."""
        entry = METHODS.get(method.lower())
        params = Params(values)
        if entry is None:
            self.emulator.record_error(method, params, not_found())
            return not_found().envelope()
        if self.emulator.record_calls:
            self.emulator.record_call(entry.name, params)
        status, body = await self._run(bot, entry, params)
        if status != 200:
            error = ApiError(status, body["description"], body.get("parameters"))
            self.emulator.record_error(entry.name, params, error)
        return body

    async def _fault(self, fault: str) -> web.Response:
        faults = self.emulator.faults
        if fault == "429":
            return error_response(too_many_requests(faults.retry_after))
        if fault == "500":
            return error_response(internal_error())
        # Hang without processing; the client is expected to give up first.
        await asyncio.wait({self.emulator.closing}, timeout=faults.timeout_hang)
        return error_response(ApiError(502, "Bad Gateway"))

    async def download(self, request: web.Request) -> web.Response:
        state = self.emulator.state
        stored = state.files.by_path(request.match_info["path"])
        if request.match_info["token"] not in state.bots or stored is None:
            return error_response(not_found())
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")


def build_app(emulator: Emulator) -> tuple[web.Application, BotApi]:
    app = web.Application(client_max_size=limits.REQUEST_MAX)
    api = BotApi(emulator)
    app[EMULATOR_KEY] = emulator
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    app.router.add_get("/file/bot{token}/{path:.+}", api.download)
    return app, api
