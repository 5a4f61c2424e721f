"""Rate limits shared by every paydesk process on one PostgreSQL database: a token bucket per client."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .clock import now_ms
from .db import Connection, Database

SWEEP_ONE_IN = 500  # about one attempt in this many also removes the buckets that are full again


class SharedRateLimiter:
    """`limit` attempts per client per `period_s` (a minute unless told) across all processes,
    refilled continuously, bursting up to `limit`.

    The same bucket as rate_limit.RateLimiter, kept in the table `shared_limits` (created by
    migrations/postgresql/shared_limits.sql) instead of one process's memory; a refusal takes
    nothing. Each attempt is one small transaction.
    """

    def __init__(self, db: Database, name: str, limit: int, *, period_s: float = 60.0) -> None:
        self._db = db
        self.name = name
        self._capacity = float(limit)
        self._refill_per_ms = limit / (period_s * 1000)

    async def acquire(self, client: str) -> float:
        """Take one token; 0 when allowed, else the seconds until the next token."""
        now = now_ms()
        sweep = random.randrange(SWEEP_ONE_IN) == 0  # noqa: S311 - housekeeping, not a secret
        return await self._db.write(lambda conn: self._take(conn, client, now, sweep))

    async def wait_s(self, client: str) -> float:
        """The seconds until the client has a token (0: it has one now); nothing is taken."""
        row = await self._db.fetch_one(
            "SELECT tokens, updated_at FROM shared_limits WHERE name = ? AND client = ?",
            (self.name, client),
        )
        return self.wait_at(self.level(row, now_ms()))

    async def forgive(self, client: str) -> None:
        """The client's bucket is full again (a sign-in that succeeded)."""
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM shared_limits WHERE name = ? AND client = ?", (self.name, client)
            )
        )

    def level(self, row: object, now: int) -> float:
        """Tokens in a bucket as stored (None: no row, a full bucket), refilled up to `now`."""
        if row is None:
            return self._capacity
        tokens, updated_at = row[0], row[1]  # type: ignore[index]
        return min(self._capacity, float(tokens) + (now - int(updated_at)) * self._refill_per_ms)

    def wait_at(self, level: float) -> float:
        """The seconds until a bucket holding `level` tokens has one."""
        return 0.0 if level >= 1 else (1 - level) / self._refill_per_ms / 1000

    def _take(self, conn: Connection, client: str, now: int, sweep: bool) -> float:
        refilled = "least(?, b.tokens + (? - b.updated_at) * ?)"
        args = (self._capacity, now, self._refill_per_ms)
        taken = conn.execute(
            "INSERT INTO shared_limits AS b (name, client, tokens, updated_at) VALUES (?, ?, ?, ?)"  # noqa: S608 - fixed text
            f" ON CONFLICT (name, client) DO UPDATE SET tokens = {refilled} - 1, updated_at = ?"
            f" WHERE {refilled} >= 1 RETURNING tokens",
            (self.name, client, self._capacity - 1, now, *args, now, *args),
        ).fetchone()
        if sweep:
            full_after_ms = self._capacity / self._refill_per_ms
            conn.execute(
                "DELETE FROM shared_limits WHERE name = ? AND updated_at < ?",
                (self.name, now - int(full_after_ms)),
            )
        if taken is not None:
            return 0.0
        row = conn.execute(
            f"SELECT {refilled} FROM shared_limits AS b WHERE name = ? AND client = ?",  # noqa: S608 - fixed text
            (*args, self.name, client),
        ).fetchone()
        return (1 - float(row[0])) / self._refill_per_ms / 1000

    def take_at(self, conn: Connection, client: str, level: float, now: int) -> None:
        """Store the bucket as holding `level` tokens at `now`, less the one taken."""
        conn.execute(
            "INSERT INTO shared_limits (name, client, tokens, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, client) DO UPDATE SET tokens = excluded.tokens,"
            " updated_at = excluded.updated_at",
            (self.name, client, level - 1, now),
        )


async def acquire_all(db: Database, claims: Sequence[tuple[SharedRateLimiter, str]]) -> float:
    """One token from each (limiter, client) bucket, all or none, in one transaction.

    0 when taken; else the seconds until every bucket has one, and nothing is taken: an attempt
    one limit refuses does not count against the others. Writes run one at a time across
    processes (the writer's lock), so two attempts never take the same token.
    """
    now = now_ms()

    def work(conn: Connection) -> float:
        levels = []
        for limiter, client in claims:
            row = conn.execute(
                "SELECT tokens, updated_at FROM shared_limits WHERE name = ? AND client = ?",
                (limiter.name, client),
            ).fetchone()
            levels.append(limiter.level(row, now))
        wait = max(
            (lim.wait_at(level) for (lim, _), level in zip(claims, levels, strict=True)),
            default=0.0,
        )
        if wait > 0:
            return wait
        for (limiter, client), level in zip(claims, levels, strict=True):
            limiter.take_at(conn, client, level, now)
        return 0.0

    return await db.write(work)
