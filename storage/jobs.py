"""A job that must run in one instance at a time, when several share a PostgreSQL database: the
one way Loa's timed jobs are kept from running twice at once (the progress messages of alerts,
handlers/broadcasting.py; retention, handlers/retention_job.py).

Why an advisory lock, and not a row whose "next run" the first instance moves forward (the
retention job's first way): the lock says exactly "not while another runs it". It is let go the
moment its holder's block ends or its connection dies (a row's claim stays until its time runs
out, so a crashed instance held the job for a whole period), it cannot let two runs overlap when
one lasts longer than the claimed period (the progress job's tick of three seconds can: a second
instance posting an alert's first progress message twice), and it writes nothing (a row was
updated at every tick by every instance). What it does not do is space the runs: each instance
runs the job at its own timer when no other is running it. Both jobs are made for that: a
progress tick edits only what changed, and a retention run finds nothing to delete right after
another (a few empty deletes).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from storage.db import Database


def lock_key(db: Database, name: str) -> int:
    """The advisory lock's key for a job of this installation (one per schema, as the sender's
    in broadcasts/leadership.py): 64 bits of a SHA-256."""
    digest = hashlib.sha256(f"loa-job:{db.schema or ''}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def alone(db: Database, name: str) -> AsyncIterator[bool]:
    """Whether this instance runs the job `name` now: on PostgreSQL, True to the one that takes
    the advisory lock named for it (held until the block ends, or until its connection does, so a
    process that dies lets it go), False to the others, which skip this run. The lock is taken on
    a connection of its own, past the sessions' queue, in autocommit. On SQLite one process
    serves: always True."""
    if db.is_sqlite:
        yield True
        return
    key = lock_key(db, name)
    async with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        taken = bool((await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar())
        try:
            yield taken
        finally:
            if taken:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
