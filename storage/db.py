"""Engine and sessions: SQLite (WAL) by default, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import create_engine, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A WAL reader is refused only in rare moments (another connection recovering the WAL): wait
# briefly, since the wait would hold up the event loop.
LOOKUP_BUSY_TIMEOUT_S = 0.5
DEFAULT_POOL_SIZE = 10
# Connections beyond the pool size, for what holds one outside the sessions: the sender's
# leadership lock, /healthz, migrations.
SPARE_CONNECTIONS = 5
# As long as SQLAlchemy's pool waits for a connection before giving up.
SESSION_WAIT_S = 30
# A PostgreSQL connection that sat in the pool longer than this is checked (one round trip)
# before use; under load none sits that long, and a server restart under load costs each
# connection in use one failed statement, after which SQLAlchemy replaces the whole pool.
PING_AFTER_IDLE_S = 10

# Whether this task already holds a session: one opened inside it skips the queue (it would
# otherwise wait for a place its own task holds). A task started inside a session inherits it and
# skips the queue too, taking one of the spare connections.
_holding: ContextVar[bool] = ContextVar("loa_db_holding", default=False)


class Database:
    """One engine and three ways in: `transaction()` for work that writes, `read()` for queries
    that may scan, and `lookup()` for a few rows found by key, which is what most updates need.

    On SQLite a writing transaction starts with BEGIN IMMEDIATE. A deferred one starts as a
    reader and fails with SQLITE_BUSY at its first write when another writer got there first
    (the busy timeout cannot help there), so two handlers writing at once would fail;
    IMMEDIATE makes the second one wait for the lock instead.
    """

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None,
                 pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        self.pool_size = pool_size
        kwargs: dict = {"echo": echo}
        if self.is_sqlite:
            path = sqlite_file(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        pooled = not self.is_sqlite or sqlite_file(url) is not None  # in-memory SQLite has one connection
        if pooled:
            kwargs.update(pool_size=pool_size, max_overflow=SPARE_CONNECTIONS)
        if not self.is_sqlite and schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        else:
            _install_idle_ping(self.engine)
        # Sessions wait for a connection here, first come first served, and never in SQLAlchemy's
        # pool, where a newcomer can take a connection just returned while a waiter was being woken.
        self._queue = asyncio.Semaphore(pool_size) if pooled else None
        self._write_engine = self.engine.execution_options(loa_write=True)
        self._writes = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL look-ups in autocommit: no BEGIN and COMMIT round trips around them.
        self._autocommit_reads = async_sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                                    expire_on_commit=False)
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
        async with self._turn(), self._writes() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._turn(), self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Wait for one of `pool_size` places, in the order asked (asyncio.Semaphore is FIFO)."""
        if self._queue is None or _holding.get():
            yield
            return
        try:
            async with asyncio.timeout(SESSION_WAIT_S):
                await self._queue.acquire()
        except TimeoutError:
            raise exc.TimeoutError(f"no database connection free for {SESSION_WAIT_S} s "
                                   f"(LOA_DB_POOL_SIZE={self.pool_size})") from None
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._queue.release()

    @property
    def waiting(self) -> int:
        """Sessions waiting for their turn now (for /metrics)."""
        return len(self._queue._waiters or ()) if self._queue is not None else 0

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession | InlineSession]:
        """A read for a few rows found by key, with AsyncSession's read methods.

        On a SQLite file it runs in the event loop's thread, on a connection of its own that cannot
        write (PRAGMA query_only). aiosqlite hands each call to a thread and back; for a key look-up
        that hand-off costs ten times the query (0.45 ms instead of 1.4 ms of CPU for /start's read,
        bench/webhook.py, docs/BENCHMARKS.md). Under WAL a reader never waits for a writer, so the
        loop does not stall on a lock. Queries that scan many rows would stall every other update
        while they run: they take `read()`.

        On PostgreSQL it runs in autocommit, as on SQLite: each statement reads its own snapshot,
        and the BEGIN and COMMIT that `read()` sends, a round trip each, are saved.
        """
        if self._lookups is None:
            maker = self._reads if self.is_sqlite else self._autocommit_reads
            async with self._turn(), maker() as session:
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


def _install_idle_ping(engine: AsyncEngine) -> None:
    """SQLAlchemy's pre-ping, but only for a connection that sat idle PING_AFTER_IDLE_S: asyncpg's
    ping is BEGIN, an empty statement and ROLLBACK, three round trips before every session."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["loa_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _taken(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.pop("loa_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise exc.DisconnectionError(f"connection lost while idle: {error}") from error


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
