"""PostgreSQL for the benchmarks: a scratch database per target, payments seeded into it, and the
CPU its server spends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from . import proc
from .events import Seeded, seeded


def _on(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path="/" + name).geturl()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, workdir: Path) -> AsyncIterator[str]:
    """A new database on the server at `server_url`, migrated by `python run.py migrate`; its URL.
    Dropped on leaving."""
    name = "paydesk_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(server_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = _on(server_url, name)
        try:
            env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
            migrate = await asyncio.create_subprocess_exec(
                sys.executable, str(proc.RUN_PY), "migrate",
                cwd=workdir, env=env, stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            if await migrate.wait() != 0:
                raise RuntimeError(f"python run.py migrate failed on {name}")
            yield url
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def seed_payments(url: str, count: int, *, start: int = 0) -> list[Seeded]:
    """What bench.events.seed_payments writes into SQLite, written into PostgreSQL."""
    rows = [seeded(i) for i in range(start, start + count)]
    now_ms = int(time.time() * 1000)
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount,"
            " amount, currency, customer_name, customer_email, status, checkout_session_id,"
            " checkout_url, payment_intent_id, expires_at, created_at, updated_at)"
            " VALUES ($1, $2, 'drop-in-class', 'Drop-in class', 1, 1500, 1500, 'eur', 'Ada Lovelace',"
            " 'ada@example.com', 'pending', $3, $4, $5, $6, $7, $7)",
            [
                (s.payment_id, f"bench:{s.payment_id}", s.session_id,
                 f"http://127.0.0.1/_sandbox/pay/{s.session_id}", s.intent_id, now_ms + 3_600_000, now_ms)
                for s in rows
            ],
        )  # fmt: skip
    finally:
        await conn.close()
    return rows


async def count_rows(url: str, table: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - our table names
    finally:
        await conn.close()


def server_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (postmaster and backends), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


class ServerCpu:
    """CPU the PostgreSQL server spends over a window, in cores (backends come and go: a backend
    that ends inside the window is not counted, so this is a floor)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = self._by_pid()

    @staticmethod
    def _by_pid() -> dict[int, float]:
        spent = {}
        for pid in server_pids():
            with contextlib.suppress(OSError):
                spent[pid] = proc.cpu_seconds(pid)
        return spent

    def cores(self) -> float:
        now = self._by_pid()
        used = sum(cpu - self.cpu0.get(pid, 0.0) for pid, cpu in now.items())
        return used / max(time.monotonic() - self.t0, 1e-9)
