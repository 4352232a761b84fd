"""The `loa` command as an operator runs it, in a separate process."""

from __future__ import annotations

import asyncio
import shlex
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp

from tests.fixtures.cli import LOA, environment, loa

ROOT = Path(__file__).resolve().parents[1]


def make_run() -> list[str]:
    """The command `make run` runs once Loa is installed (its set-up done), with this checkout's `loa`."""
    # --no-print-directory: under `make test` the nested make would print its directory around it.
    printed = subprocess.run(["make", "--dry-run", "--no-print-directory", "--old-file=setup",
                              "-f", str(ROOT / "Makefile"), "run", f"BIN={Path(LOA[0]).parent}"],
                             capture_output=True, text=True, check=True).stdout
    lines = printed.strip().splitlines()
    assert len(lines) == 1, f"make run does more than start loa: {printed}"
    return shlex.split(lines[0])


async def test_run_without_a_token_starts_the_sandbox_and_says_where_to_open_it(tmp_path):
    """What `make run` does without a token: the sandbox, and the real bot's data/loa.db untouched."""
    process = await asyncio.create_subprocess_exec(
        *make_run(), cwd=tmp_path, env=environment(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        lines = []
        while not any("Chat with the bot" in line for line in lines):
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, "loa run ended before saying where to open the sandbox:\n" + "".join(lines)
            lines.append(line.decode())
        url = next(line for line in lines if "Chat with the bot" in line).split()[-1]
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200 and "Hoa Trần" in await response.text()
        assert (tmp_path / "data" / "sandbox.db").exists() and not (tmp_path / "data" / "loa.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_webhook_mode_without_a_token_explains_how_to_get_one(tmp_path):
    code, _out, err = await loa("run", "--webhook", cwd=tmp_path)
    assert code == 1
    assert "TELEGRAM_BOT_TOKEN" in err and "@BotFather" in err and "Traceback" not in err


async def test_a_bad_setting_is_named_without_a_traceback(tmp_path):
    code, _out, err = await loa("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x", LOA_ADMIN_IDS="me")
    assert code == 1
    assert "LOA_ADMIN_IDS" in err and "Traceback" not in err


async def test_db_upgrade_creates_the_default_sqlite_database(tmp_path):
    code, out, _err = await loa("db", "upgrade", cwd=tmp_path)
    assert code == 0 and "database at" in out
    assert (tmp_path / "data" / "loa.db").exists()
    code, out, _err = await loa("db", "current", cwd=tmp_path)
    assert code == 0 and "up to date" in out


async def test_run_refuses_a_database_that_is_not_migrated(tmp_path, emulator):
    code, _out, err = await loa("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN=emulator.token,
                                TELEGRAM_API_URL=emulator.url)
    assert code == 1
    assert "loa db upgrade" in err and "Traceback" not in err


async def test_make_run_with_a_token_prepares_the_database_and_starts_the_bot(tmp_path, emulator):
    process = await asyncio.create_subprocess_exec(
        *make_run(), cwd=tmp_path,
        env=environment(TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        resident = emulator.user(first_name="Minh", language_code="vi")
        await resident.send("/start")
        assert (await resident.next_message(timeout=60)).text.startswith("Xin chào! Đây là Loa")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "database at" in out.decode()
    with sqlite3.connect(tmp_path / "data" / "loa.db") as prepared:
        wards = prepared.execute("SELECT count(*) FROM areas WHERE name_vi = 'Long Biên'").fetchone()[0]
    assert wards == 1, "the shipped areas were not imported"
    assert not (tmp_path / "data" / "sandbox.db").exists()


async def test_run_with_a_token_telegram_refuses(tmp_path, emulator):
    await loa("db", "upgrade", cwd=tmp_path)
    code, _out, err = await loa("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="42:not-a-known-token",
                                TELEGRAM_API_URL=emulator.url)
    assert code == 1
    assert "refused the bot token" in err and "Traceback" not in err
    emulator.expect_error("Unauthorized")


async def test_run_answers_start_through_the_emulator_and_stops_cleanly(tmp_path, emulator):
    await loa("db", "upgrade", cwd=tmp_path)
    process = await asyncio.create_subprocess_exec(
        *LOA, "run", cwd=tmp_path,
        env=environment(TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        resident = emulator.user(first_name="Minh", language_code="vi")
        await resident.send("/start")
        reply = await resident.next_message(timeout=30)
        assert reply.text.startswith("Xin chào! Đây là Loa")
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    assert "update id=" in log and f"chat={resident.id}" in log
    assert "started bot=" in log and "stopping" in log
    assert emulator.token not in log and emulator.token.split(":")[1] not in log
    commands = [name for name, params in emulator.calls if name == "setMyCommands"]
    assert len(commands) == 3


async def test_a_second_run_on_one_sqlite_file_refuses_and_says_why(tmp_path, emulator):
    await loa("db", "upgrade", cwd=tmp_path)
    env = {"TELEGRAM_BOT_TOKEN": emulator.token, "TELEGRAM_API_URL": emulator.url}
    first = await asyncio.create_subprocess_exec(*LOA, "run", cwd=tmp_path, env=environment(**env),
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        resident = emulator.user(first_name="Minh", language_code="vi")
        await resident.send("/start")
        await resident.next_message(timeout=30)  # the first one serves
        code, _out, err = await loa("run", cwd=tmp_path, **env)
        assert code == 1, err
        assert "another `loa run` already serves the SQLite database" in err and "PostgreSQL" in err
        assert "Traceback" not in err
        # The first one still answers.
        await resident.send("/help")
        await resident.next_message(timeout=30)
    finally:
        first.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == 0, err.decode()
    # Once it stopped, the next one may start (the lock went with the process).
    second = await asyncio.create_subprocess_exec(*LOA, "run", cwd=tmp_path, env=environment(**env),
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await resident.send("/help")
        await resident.next_message(timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0
