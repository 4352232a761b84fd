"""Engine and sessions: SQLite (WAL) by default, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import asyncpg
from sqlalchemy import Select, create_engine, event, exc, make_url
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
# Statements `Database.rows` keeps compiled (there are a handful; more means some are built per call).
MAX_COMPILED = 200

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
        self._compiled: dict[Select, _Compiled] = {}
        # `rows()`' own connections on PostgreSQL; used within the places of `_turn`, so that
        # sessions and rows together use at most `pool_size` connections at a time.
        self._direct = None if self.is_sqlite else DirectConnections(url, schema, pool_size)

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
            if self._queue.locked():  # a place free is taken at once: no timer to arm and cancel
                async with asyncio.timeout(SESSION_WAIT_S):
                    await self._queue.acquire()
            else:
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

    async def rows(self, statement: Select, params: dict) -> list[tuple]:
        """The rows of a SELECT of columns (not of ORM entities) that reads a few rows by key, as
        `lookup()` would read them, for the look-ups every update makes.

        On PostgreSQL the statement, compiled once, goes straight to asyncpg on a connection of
        its own (`DirectConnections`, within the same places as the sessions): no session, no
        result object, no SQLAlchemy pool checkout and no greenlet switch, a fraction of the CPU
        of the same read through `lookup()` (docs/BENCHMARKS.md, fourth and seventh rounds). A
        connection found closed (the server restarted while it sat idle) is replaced and the read
        sent again, once. asyncpg prepares the statement once per connection (its statement
        cache). On SQLite it runs on `lookup()`'s connection in the event loop's thread.

        Build the statement once (at module level) and pass values in `params`: compiled forms
        are kept per statement object. Errors are asyncpg's own on PostgreSQL, not SQLAlchemy's.
        """
        if self._lookup_engine is not None:
            with self._lookup_engine.connect() as connection:
                return [tuple(row) for row in connection.execute(statement, params)]
        if self.is_sqlite:  # in-memory
            async with self._turn(), self.engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(statement, params)]
        compiled = self._compiled.get(statement)
        if compiled is None:
            if len(self._compiled) >= MAX_COMPILED:  # statements built per call: keep memory bounded
                self._compiled.clear()
            compiled = self._compiled[statement] = _Compiled(statement, self.engine.dialect)
        arguments = compiled.arguments(params)
        async with self._turn():
            for attempt in range(2):
                lost = False
                try:
                    async with self._direct.connection() as connection:
                        try:
                            if not compiled.described:
                                compiled.describe((await connection.prepare(compiled.sql)).get_attributes())
                            records = await connection.fetch(compiled.sql, *arguments)
                        except Exception:
                            lost = connection.is_closed()
                            raise
                    break
                except Exception:
                    # A connection the server closed while it sat idle (a restart, an idle timeout):
                    # a read is safe to send again, once, on a new one.
                    if attempt or not lost:
                        raise
        return compiled.converted(records)

    async def dispose(self) -> None:
        if self._lookup_engine is not None:
            self._lookup_engine.dispose()
        if self._direct is not None:
            await self._direct.close()
        await self.engine.dispose()


class DirectConnections:
    """A few asyncpg connections of their own, lent one at a time, for the statements every update
    makes (`Database.rows`, the update claims of storage/updates.py): no SQLAlchemy pool checkout
    (its greenlet switches and events) and no reset on return, which cost more CPU than the
    statement itself (docs/BENCHMARKS.md, "Sixth" and "Seventh round"). A connection whose
    statement failed or was cancelled is closed, not lent again: its state is unknown."""

    def __init__(self, url: str, schema: str | None, size: int) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._settings = {"search_path": schema} if schema else None
        self._places = asyncio.Semaphore(size)
        self._idle: list[asyncpg.Connection] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._places:
            connection = None
            while self._idle and connection is None:
                connection = self._idle.pop()
                if connection.is_closed():
                    connection = None
            if connection is None:
                connection = await asyncpg.connect(self._dsn, server_settings=self._settings)
            try:
                yield connection
            except BaseException:
                connection.terminate()
                raise
            self._idle.append(connection)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.close(), 5)
            except Exception:
                connection.terminate()


class _Compiled:
    """A statement compiled for asyncpg: its SQL, its parameters in order and the conversions
    SQLAlchemy would apply to its parameters and columns (e.g. aware UTC datetimes). The column
    conversions depend on the types PostgreSQL reports, as SQLAlchemy's own result takes them from
    the cursor: they are set from the statement prepared once (`describe`)."""

    def __init__(self, statement: Select, dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError("Database.rows() takes no IN (...) of a list: its SQL is compiled once")
        self._dialect = dialect
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self._names = tuple(compiled.positiontup or ())
        self._binds = {name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                       for name in self._names}
        self._defaults = {name: compiled.binds[name].value for name in self._names}
        self._processors: list[tuple[int, Callable]] = []
        self.described = False

    def describe(self, attributes) -> None:
        """The column conversions, from asyncpg's attributes of the prepared statement."""
        processors = [type_.result_processor(self._dialect, attribute.type.oid)
                      for type_, attribute in zip(self._types, attributes, strict=True)]
        self._processors = [(i, process) for i, process in enumerate(processors) if process is not None]
        self.described = True

    def arguments(self, params: dict) -> list:
        values = []
        for name in self._names:
            value = params[name] if name in params else self._defaults[name]
            process = self._binds[name]
            values.append(process(value) if process is not None else value)
        return values

    def converted(self, records) -> list[tuple]:
        if not self._processors:
            return [tuple(record) for record in records]
        rows = []
        for record in records:
            row = list(record)
            for i, process in self._processors:
                if row[i] is not None:
                    row[i] = process(row[i])
            rows.append(tuple(row))
        return rows


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
