"""API tokens for the operator's scripts: created once, stored hashed, sent as a Bearer token."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ..clock import now_ms
from ..db import Connection, Database, Row
from .sessions import TOUCH_EVERY_MS, digest, well_formed

TOKEN_PREFIX = "pdk_"  # noqa: S105 - a marker, not a secret
SHOWN_PREFIX = 8  # characters of the token kept in clear, so a list can say which one is which
NAME = re.compile(r"^[\w .@:/-]{1,60}$")


class TokenNameError(ValueError):
    """The name given for a new token is empty, too long or has odd characters."""


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    created_at: int  # unix milliseconds
    last_used_at: int | None
    revoked_at: int | None

    @classmethod
    def from_row(cls, row: Row) -> ApiToken:
        return cls(
            row["id"],
            row["name"],
            row["prefix"],
            row["created_at"],
            row["last_used_at"],
            row["revoked_at"],
        )


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise TokenNameError(
            "Give the token a name of 1 to 60 letters, digits, spaces or . @ : / - _, like 'bookkeeping script'."
        )
    return name


async def create_api_token(db: Database, name: str) -> tuple[ApiToken, str]:
    """A new token; the secret is returned here once and never again."""
    name = check_name(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    stamp = now_ms()

    def work(conn: Connection) -> int:
        cursor = conn.execute(
            "INSERT INTO console_api_tokens (name, prefix, token_hash, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (name, secret[:SHOWN_PREFIX], digest(secret), stamp),
        )
        return int(cursor.fetchone()[0])

    token_id = await db.write(work)
    return ApiToken(token_id, name, secret[:SHOWN_PREFIX], stamp, None, None), secret


async def list_api_tokens(db: Database) -> list[ApiToken]:
    rows = await db.fetch_all(
        "SELECT * FROM console_api_tokens ORDER BY revoked_at IS NOT NULL, id DESC"
    )
    return [ApiToken.from_row(row) for row in rows]


async def revoke_api_token(db: Database, token_id: int) -> bool:
    """Revoke a token at once; False when there is no such live token."""

    def work(conn: Connection) -> bool:
        cursor = conn.execute(
            "UPDATE console_api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now_ms(), token_id),
        )
        return cursor.rowcount == 1

    return await db.write(work)


async def find_api_token(db: Database, secret: str) -> ApiToken | None:
    """The live token for a Bearer secret, or None."""
    if not secret.startswith(TOKEN_PREFIX) or not well_formed(secret):
        return None
    row = await db.fetch_one(
        "SELECT * FROM console_api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (digest(secret),),
    )
    if row is None:
        return None
    token = ApiToken.from_row(row)
    stamp = now_ms()
    if token.last_used_at is None or stamp - token.last_used_at > TOUCH_EVERY_MS:

        def touch(conn: Connection) -> None:
            conn.execute(
                "UPDATE console_api_tokens SET last_used_at = ? WHERE id = ?", (stamp, token.id)
            )

        await db.write(touch)
    return token
