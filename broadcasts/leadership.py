"""Electing the one process that sends.

On PostgreSQL a session-level advisory lock, held on a connection of its own, elects the sender:
the server releases it when that connection dies with its process, and another instance, trying
every few seconds, takes over. On SQLite, where all instances share one file on one machine, an
exclusive lock on a file beside the database does the same.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text

from storage.db import Database, _sqlite_file

log = logging.getLogger("loa.sender")



def lock_key(db: Database) -> int:
    """The advisory lock id of "the sender" of this installation (one per schema, so that
    installations sharing a PostgreSQL database do not wait for each other)."""
    return zlib.crc32(f"loa-sender:{db.schema or ''}".encode())


@asynccontextmanager
async def leadership(db: Database, stop: asyncio.Event, retry_every: float = 2.0) -> AsyncIterator[asyncio.Event | None]:
    """Wait until this process is the sender (or `stop` is set: then yields None).

    Yields an event that is set if the leadership is lost (the lock's connection broke).
    """
    if db.is_sqlite:
        async with _file_lock(db, stop, retry_every) as held:
            yield held
    else:
        async with _advisory_lock(db, stop, retry_every) as held:
            yield held


@asynccontextmanager
async def _advisory_lock(db: Database, stop: asyncio.Event, retry_every: float):
    key = lock_key(db)
    async with db.engine.connect() as connection:
        while not stop.is_set():
            acquired = (await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar()
            await connection.commit()
            if acquired:
                break
            await sleep_or_stop(stop, retry_every)
        if stop.is_set():
            yield None
            return
        log.info("elected sender")
        lost = asyncio.Event()
        watch = asyncio.create_task(_watch(connection, lost, stop, retry_every))
        try:
            yield lost
        finally:
            watch.cancel()
            if not lost.is_set():
                try:
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    await connection.commit()
                except Exception:  # the connection is going away anyway, and the lock with it
                    pass


async def _watch(connection, lost: asyncio.Event, stop: asyncio.Event, every: float) -> None:
    while not stop.is_set():
        await sleep_or_stop(stop, every)
        try:
            await connection.execute(text("SELECT 1"))
            await connection.commit()
        except Exception:
            log.error("sender lock connection lost: stepping down")
            lost.set()
            return


@asynccontextmanager
async def _file_lock(db: Database, stop: asyncio.Event, retry_every: float):
    path = _lock_path(db)
    if path is None:  # an in-memory database belongs to this process alone
        yield asyncio.Event()
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while not stop.is_set():
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await sleep_or_stop(stop, retry_every)
        if stop.is_set():
            yield None
            return
        log.info("elected sender")
        yield asyncio.Event()
    finally:
        os.close(descriptor)  # releases the lock


def _lock_path(db: Database) -> Path | None:
    database = _sqlite_file(db.url)
    return database.with_name(database.name + ".sender-lock") if database else None


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
