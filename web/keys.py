"""What every route finds on the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from telegram.ext import Application

from kernel.settings import Settings
from storage.db import Database

BOT = web.AppKey("bot", Application)  # the running PTB Application (its bot, bot_data, update queue)
SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
# Optional: what the dashboard's signed-out page adds to "send /dashboard to the bot", a message
# id translated in the page's language (the sandbox's names the demo staff to sign in as).
SIGN_IN_HINT = web.AppKey("sign_in_hint", str)
