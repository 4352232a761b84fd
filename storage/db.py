"""Engine and sessions: SQLite (WAL) by default, PostgreSQL through asyncpg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A WAL reader is refused only in rare moments (another connection recovering the WAL): wait
# briefly, since the wait would hold up the event loop.
LOOKUP_BUSY_TIMEOUT_S = 0.5


class Database:
    """One engine and three ways in: `transaction()` for work that writes, `read()` for queries
    that may scan, and `lookup()` for a few rows found by key, which is what most updates need.

    On SQLite a writing transaction starts with BEGIN IMMEDIATE. A deferred one starts as a
    reader and fails with SQLITE_BUSY at its first write when another writer got there first
    (the busy timeout cannot help there), so two handlers writing at once would fail;
    IMMEDIATE makes the second one wait for the lock instead.
    """

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {"echo": echo}
        if self.is_sqlite:
            path = sqlite_file(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        self._write_engine = self.engine.execution_options(loa_write=True)
        self._writes = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._lookup_engine = self._lookups = None
        path = sqlite_file(url) if self.is_sqlite else None
        if path is not None:
            self._lookup_engine = lookup_engine = create_engine(f"sqlite:///{path}", echo=echo,
                                          connect_args={"check_same_thread": False, "timeout": LOOKUP_BUSY_TIMEOUT_S})
            _install_sqlite_hooks(lookup_engine, query_only=True)
            self._lookups = sessionmaker(lookup_engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success and rolled back on error."""
        async with self._writes() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession | InlineSession]:
        """A read for a few rows found by key, with AsyncSession's read methods.

        On a SQLite file it runs in the event loop's thread, on a connection of its own that cannot
        write (PRAGMA query_only). aiosqlite hands each call to a thread and back; for a key look-up
        that hand-off costs ten times the query (0.45 ms instead of 1.4 ms of CPU for /start's read,
        bench/webhook.py, docs/BENCHMARKS.md). Under WAL a reader never waits for a writer, so the
        loop does not stall on a lock. Queries that scan many rows would stall every other update
        while they run: they take `read()`. On PostgreSQL this is `read()`.
        """
        if self._lookups is None:
            async with self.read() as session:
                yield session
            return
        with self._lookups() as session:
            yield InlineSession(session)

    async def dispose(self) -> None:
        if self._lookup_engine is not None:
            self._lookup_engine.dispose()
        await self.engine.dispose()


class InlineSession:
    """AsyncSession's read methods over a synchronous Session (see `Database.lookup`)."""

    def __init__(self, session: Session) -> None:
        self.sync_session = session

    async def execute(self, statement, params=None, **kwargs):
        return self.sync_session.execute(statement, params, **kwargs)

    async def scalar(self, statement, params=None, **kwargs):
        return self.sync_session.scalar(statement, params, **kwargs)

    async def scalars(self, statement, params=None, **kwargs):
        return self.sync_session.scalars(statement, params, **kwargs)

    async def get(self, entity, ident, **kwargs):
        return self.sync_session.get(entity, ident, **kwargs)


def sqlite_file(url: str) -> Path | None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" and "://" not in path else None


def _install_sqlite_hooks(engine, *, query_only: bool = False) -> None:
    sync_engine = getattr(engine, "sync_engine", engine)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin), instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    if query_only:
        # Look-ups run in autocommit: each statement reads its own snapshot, and no BEGIN or
        # COMMIT is sent (they cost as much as a query).
        return

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("loa_write") else "BEGIN")
