"""Who may use the console: the operator password, one-time setup links, server-side sessions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..clock import now_ms
from ..config import ConsoleSettings
from ..db import Connection, Database, Row

log = logging.getLogger(__name__)
DEFAULT_HASHER = PasswordHasher()  # argon2id with the library's vetted defaults
TOUCH_EVERY_MS = 60_000  # last_seen_at is written at most once a minute per session
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_LENGTH = 100  # every token paydesk issues is far shorter
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def well_formed(token: str) -> bool:
    """Shaped like a token paydesk issues (URL-safe base64, short): only such text is looked up.

    Anything else (non-ASCII, control characters, megabytes) is simply no token, never an error.
    """
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii() and bool(_TOKEN.fullmatch(token))


def digest(token: str) -> str:
    """What is stored for a high-entropy token: its SHA-256, so a database leak opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(password: str, confirm: str, min_length: int) -> str | None:
    """Why this new password cannot be used, or None."""
    if len(password) < min_length:
        return f"Use at least {min_length} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if password != confirm:
        return "The two passwords are not the same."
    return None


async def hash_password(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def has_password(db: Database) -> bool:
    return await db.fetch_one("SELECT 1 FROM console_credentials WHERE id = 1") is not None


async def check_password(db: Database, password: str) -> bool:
    row = await db.fetch_one("SELECT password_hash FROM console_credentials WHERE id = 1")
    if row is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        # Any PasswordHasher verifies any argon2 hash: the costs are read from the hash.
        return await asyncio.to_thread(DEFAULT_HASHER.verify, row[0], password)
    except InvalidHashError:
        log.error("the stored console password hash is unreadable; run: paydesk set-password")
        return False
    except VerificationError:
        return False


def store_password(conn: Connection, password_hash: str) -> None:
    """Set the password inside a transaction; every session ends, every setup link dies."""
    stamp = now_ms()
    conn.execute(
        "INSERT INTO console_credentials (id, password_hash, changed_at) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash,"
        " changed_at = excluded.changed_at",
        (password_hash, stamp),
    )
    conn.execute("DELETE FROM console_sessions")
    conn.execute("DELETE FROM console_setup_tokens WHERE used_at IS NULL")


async def set_password(
    db: Database, password: str, hasher: PasswordHasher = DEFAULT_HASHER
) -> None:
    password_hash = await hash_password(password, hasher)
    await db.write(lambda conn: store_password(conn, password_hash))


async def create_setup_token(db: Database, lifetime_seconds: int) -> str:
    """A new one-time setup link token; earlier unused ones stop working."""
    token = new_token()
    stamp = now_ms()

    def work(conn: Connection) -> None:
        conn.execute("DELETE FROM console_setup_tokens WHERE used_at IS NULL")
        conn.execute(
            "INSERT INTO console_setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (digest(token), stamp, stamp + lifetime_seconds * 1000),
        )

    await db.write(work)
    return token


async def setup_token_usable(db: Database, token: str) -> bool:
    if not well_formed(token):
        return False
    row = await db.fetch_one(
        "SELECT 1 FROM console_setup_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"
        " AND NOT EXISTS (SELECT 1 FROM console_credentials)",
        (digest(token), now_ms()),
    )
    return row is not None


async def use_setup_token(
    db: Database, token: str, password: str, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """Set the first password with a setup link; False when the link is used, expired or moot."""
    if not well_formed(token):
        return False
    password_hash = await hash_password(password, hasher)

    def work(conn: Connection) -> bool:
        cursor = conn.execute(
            "UPDATE console_setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
            " AND expires_at > ? AND NOT EXISTS (SELECT 1 FROM console_credentials)",
            (now_ms(), digest(token), now_ms()),
        )
        if cursor.rowcount != 1:
            return False
        store_password(conn, password_hash)
        return True

    return await db.write(work)


@dataclass(frozen=True)
class Session:
    token_hash: str
    created_at: int  # unix milliseconds
    last_seen_at: int
    client: str


async def open_session(db: Database, client: str) -> str:
    """Sign a browser in; returns the token for its cookie (only the hash is stored)."""
    token = new_token()
    stamp = now_ms()

    def work(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO console_sessions (token_hash, created_at, last_seen_at, client) VALUES (?, ?, ?, ?)",
            (digest(token), stamp, stamp, client[:300]),
        )

    await db.write(work)
    return token


async def find_session(
    db: Database, token: str, *, idle_seconds: int, max_seconds: int
) -> Session | None:
    """The live session for a cookie's token; an expired one is deleted and gives None."""
    if not well_formed(token):
        return None
    row = await db.fetch_one(
        "SELECT * FROM console_sessions WHERE token_hash = ?", (digest(token),)
    )
    if row is None:
        return None
    session = Session(row["token_hash"], row["created_at"], row["last_seen_at"], row["client"])
    stamp = now_ms()
    if (
        stamp - session.last_seen_at > idle_seconds * 1000
        or stamp - session.created_at > max_seconds * 1000
    ):
        await close_session(db, session.token_hash)
        return None
    if stamp - session.last_seen_at > TOUCH_EVERY_MS:
        await _update(
            db,
            "UPDATE console_sessions SET last_seen_at = ? WHERE token_hash = ?",
            (stamp, session.token_hash),
        )
    return session


async def prune_sessions(db: Database, *, idle_seconds: int, max_seconds: int) -> None:
    """Delete sessions that can no longer be used (a browser that never came back leaves one)."""
    stamp = now_ms()
    await _update(
        db,
        "DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?",
        (stamp - idle_seconds * 1000, stamp - max_seconds * 1000),
    )


async def list_sessions(db: Database) -> list[Row]:
    """Every open console session, the most recently used first."""
    return await db.fetch_all("SELECT * FROM console_sessions ORDER BY last_seen_at DESC")


async def close_session(db: Database, token_hash: str) -> None:
    await _update(db, "DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,))


async def close_other_sessions(db: Database, keep_hash: str) -> None:
    await _update(db, "DELETE FROM console_sessions WHERE token_hash != ?", (keep_hash,))


async def _update(db: Database, sql: str, params: tuple[object, ...]) -> None:
    def work(conn: Connection) -> None:
        conn.execute(sql, params)

    await db.write(work)


def password_hasher(settings: ConsoleSettings) -> PasswordHasher:
    """argon2id at the settings' cost; a stored hash keeps the costs it was made with."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
