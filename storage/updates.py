"""Telegram updates claimed in the database, so that several instances behind one webhook
handle each update once and each chat's updates one at a time, in order (PostgreSQL only: on
SQLite one process serves, web/webhook.py keeps the recent ids in memory).

- **Claim.** The instance a webhook reaches inserts the update's row (its id is the key) before
  it answers 200. A resend reaching any instance finds the row and is acknowledged unhandled.
- **Lease.** The row names its instance and `taken_at`; each instance renews the rows it holds
  every `RENEW_S`. A row left `LEASE_S` without renewal (its instance died, or gave it back) is
  taken over by the next resend or by `recover`, which every instance runs every `RENEW_S`: the
  payload is in the row, so an update whose instance died after answering 200 is not lost.
- **Done.** The row is marked done once the handlers returned (in batches, `UpdateClaims.done`).
  An instance that dies after the handlers' work but before that write has the update handled
  again by another (at least once, never lost), a window of one statement.
- **Taken over half done.** An instance may also die after a handler committed its step and
  before its reply went out. The taker marks such updates (`taken_over`); a handler that finds
  its step done already answers a taken-over update with the question of the step the resident
  is at now rather than as unexpected input or a stale tap (`LoaContext.resume`,
  handlers/guide.py's docstring).
- **Order.** Telegram delivers a chat's next update only after it got 200 for the previous
  one, so the claims of one chat are made in update-id order. An update is handled only when no
  earlier update of its chat is still pending at another instance (`behind`); the webhook waits
  for that before answering (web/webhook.py), and an instance's own updates of one chat run one
  after another (bot/ordering.py).
- **Retention.** Done rows are deleted after `LOA_UPDATE_CLAIM_DAYS` (complaints/retention.py,
  `purge_done`): a resend comes within minutes, so a day is plenty. A row not yet done is never
  deleted, however old: its update may still be handled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.logs import fields
from storage.db import Database, DirectConnections
from storage.models import UpdateClaim

log = logging.getLogger("loa.updates")

# A lease short enough that a button tap caught in a crash is still answered within Telegram's
# 15 s for a callback query; renewed five times within it, on a connection of its own.
LEASE_S = 10
RENEW_S = 2
RECOVER_BATCH = 100
POOL_SIZE = 3

# The two statements every update makes are sent through asyncpg itself, on connections of the
# claims' own (`DirectConnections`; $1: the update id, $2 its chat, $3 its JSON, $4 this instance):
# SQLAlchemy's pool, statement and result handling cost more CPU than the round trip
# (bench/webhook.py, docs/BENCHMARKS.md, Fifth and Sixth rounds).
_CLAIM = """
WITH taken AS (
    INSERT INTO update_claims (update_id, chat_id, payload, taken_by, taken_at)
    VALUES ($1, $2, $3, $4, now())
    ON CONFLICT (update_id) DO NOTHING
    RETURNING update_id)
SELECT EXISTS (SELECT 1 FROM taken) AS taken,
       EXISTS (SELECT 1 FROM update_claims
               WHERE chat_id = $2 AND update_id < $1 AND done_at IS NULL AND taken_by <> $4) AS behind
"""
# A resend of an update whose lease ran out: taken over (one instance wins the row's lock).
_TAKE_OVER = text("""
UPDATE update_claims SET taken_by = :me, taken_at = now()
WHERE update_id = :id AND done_at IS NULL AND taken_at < now() - make_interval(secs => :lease)
RETURNING update_id
""")
_BEHIND = text("""
SELECT EXISTS (SELECT 1 FROM update_claims
               WHERE chat_id = :chat AND update_id < :id AND done_at IS NULL AND taken_by <> :me)
""")
_DONE = "UPDATE update_claims SET done_at = now() WHERE update_id = ANY($1::bigint[])"
# Given back: nobody's, its lease already over.
_RELEASE = text("""
UPDATE update_claims SET taken_by = '', taken_at = 'epoch'
WHERE update_id = :id AND taken_by = :me AND done_at IS NULL
""")
_RENEW = text("UPDATE update_claims SET taken_at = now() WHERE taken_by = :me AND done_at IS NULL")
# The oldest claims whose lease ran out, but none whose chat has an earlier update still held.
_RECOVER = text("""
UPDATE update_claims SET taken_by = :me, taken_at = now()
WHERE update_id IN (
    SELECT s.update_id FROM update_claims s
    WHERE s.done_at IS NULL AND s.taken_at < now() - make_interval(secs => :lease)
      AND NOT EXISTS (SELECT 1 FROM update_claims e
                      WHERE e.chat_id = s.chat_id AND e.update_id < s.update_id AND e.done_at IS NULL
                        AND e.taken_at >= now() - make_interval(secs => :lease))
    ORDER BY s.update_id LIMIT :batch
    FOR UPDATE SKIP LOCKED)
RETURNING update_id, payload
""")


@dataclass(frozen=True)
class Claim:
    taken: bool  # False: another instance holds or handled it (a duplicate)
    behind: bool = False  # an earlier update of its chat is still pending at another instance


def instance_name() -> str:
    """This process among the instances: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class UpdateClaims:
    """This instance's claims, on a small pool of their own: an update's claim when it arrives
    and the lease's upkeep never queue behind the handlers' sessions (under load that queue holds
    a session for seconds; a lease renewed late is taken over while its update is still being
    handled, and an intake that waits holds Telegram's connection). Marks of done are written in
    batches, by one task: whatever was handled while the last write ran goes in the next."""

    def __init__(self, db: Database, me: str | None = None, lease_s: float = LEASE_S) -> None:
        self.me = me or instance_name()
        self.lease_s = lease_s
        self._db = Database(db.url, schema=db.schema, pool_size=POOL_SIZE)
        # The claim and the marks of done, on connections of their own (`DirectConnections`).
        self._hot = DirectConnections(db.url, db.schema, POOL_SIZE)
        # The lease's upkeep has a connection of its own: a renewal that waits behind a burst of
        # claims lets the lease run out while the update is still being handled here.
        self._upkeep = Database(db.url, schema=db.schema, pool_size=1)
        # Core connections in autocommit: no BEGIN and COMMIT round trips, no ORM session.
        self._autocommit = self._db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._done: set[int] = set()
        self._flusher: asyncio.Task | None = None
        # Updates taken over from an instance whose lease ran out, until handled here: that
        # instance may have done part of the work (committed, but not yet sent the reply), which
        # the handlers ask through `LoaContext.taken_over` and `resume`.
        self.taken_over: set[int] = set()

    async def __aenter__(self) -> UpdateClaims:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def claim(self, update_id: int, chat_id: int | None, payload: str) -> Claim:
        async with self._hot.connection() as driver:
            row = await driver.fetchrow(_CLAIM, update_id, chat_id, payload, self.me)
        if row["taken"]:
            return Claim(True, bool(row["behind"]))
        async with self._autocommit.connect() as connection:
            taken = (await connection.execute(_TAKE_OVER, {"id": update_id, "me": self.me,
                                                        "lease": self.lease_s})).first()
            if taken is None:
                return Claim(False)
            self.taken_over.add(update_id)
            behind = (await connection.execute(_BEHIND, {"id": update_id, "chat": chat_id, "me": self.me})).scalar()
            return Claim(True, bool(behind))

    async def behind(self, update_id: int, chat_id: int) -> bool:
        async with self._autocommit.connect() as connection:
            return bool((await connection.execute(_BEHIND, {"id": update_id, "chat": chat_id, "me": self.me})).scalar())

    def done(self, update_id: int) -> None:
        """Mark it handled, soon (`flush` waits for it). Until it is written the lease is renewed,
        so no other instance handles it again."""
        self._done.add(update_id)
        self.taken_over.discard(update_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="update-claims-done")

    async def flush(self) -> None:
        """Wait until every update marked done so far is written."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._done:
            ids = sorted(self._done)
            try:
                async with self._hot.connection() as driver:
                    await driver.execute(_DONE, ids)
            except Exception:
                log.exception("update_done_failed %s", fields(updates=len(ids)))
                await asyncio.sleep(RENEW_S)
                continue
            self._done.difference_update(ids)

    async def release(self, update_id: int) -> None:
        async with self._autocommit.connect() as connection:
            await connection.execute(_RELEASE, {"id": update_id, "me": self.me})

    async def renew(self) -> None:
        async with self._upkeep.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            await connection.execute(_RENEW, {"me": self.me})

    async def recover(self) -> list[tuple[int, str]]:
        """Take over the claims whose lease ran out; their (update id, payload), in id order."""
        async with self._upkeep.engine.begin() as connection:
            rows = (await connection.execute(_RECOVER, {"me": self.me, "lease": self.lease_s,
                                                     "batch": RECOVER_BATCH})).all()
        self.taken_over.update(row.update_id for row in rows)
        return sorted((row.update_id, row.payload) for row in rows)

    async def close(self) -> None:
        """Write the marks of done still waiting, and close the pool."""
        try:
            if self._done:
                await asyncio.wait_for(self.flush(), 5)
        except TimeoutError:
            log.warning("update_done_unwritten %s", fields(updates=len(self._done)))
        finally:
            await self._hot.close()
            await self._db.dispose()
            await self._upkeep.dispose()


def _done_before(before: datetime):
    return UpdateClaim.done_at.is_not(None) & (UpdateClaim.done_at < before)


async def count_done_before(session: AsyncSession, before: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(UpdateClaim)
                                  .where(_done_before(before)))).scalar_one()


async def purge_done(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` claims done before `before` (never one not yet done)."""
    keys = select(UpdateClaim.update_id).where(_done_before(before)).limit(limit)
    return (await session.execute(delete(UpdateClaim).where(
        UpdateClaim.update_id.in_(keys.scalar_subquery())))).rowcount or 0
