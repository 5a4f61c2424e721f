"""The reference webhook handler paydesk is compared with: verify, one insert, commit, answer.

`python -m bench.reference --port N --db PATH` (STRIPE_WEBHOOK_SECRET in the environment). It is
what the smallest correct handler looks like: `stripe.Webhook.construct_event` on the raw body, one
aiosqlite INSERT and a commit per event, the answer only after the commit, on the same SQLite
settings as paydesk (WAL, synchronous=FULL, busy_timeout). No payment lookup, no state machine.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import stripe
from aiohttp import web

db_key = web.AppKey("db", aiosqlite.Connection)
secret_key = web.AppKey("secret", str)


async def webhook(request: web.Request) -> web.Response:
    payload = await request.read()
    try:
        event = stripe.Webhook.construct_event(
            payload.decode("utf-8"),
            request.headers.get("Stripe-Signature", ""),
            request.app[secret_key],
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        return web.json_response({"error": {"message": str(exc)}}, status=400)
    db = request.app[db_key]
    await db.execute(
        "INSERT OR IGNORE INTO events (id, type, created, payload) VALUES (?, ?, ?, ?)",
        (event.id, event.type, event.created, payload.decode("utf-8")),
    )
    await db.commit()
    return web.json_response({"received": True})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(db_path: Path, secret: str) -> web.Application:
    app = web.Application()
    app[secret_key] = secret

    async def database(app: web.Application) -> AsyncIterator[None]:
        db = await aiosqlite.connect(db_path)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000"):
            await db.execute_fetchall(f"PRAGMA {pragma}")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, type TEXT NOT NULL,"
            " created INTEGER NOT NULL, payload TEXT NOT NULL)"
        )
        await db.commit()
        app[db_key] = db
        yield
        await db.close()

    app.cleanup_ctx.append(database)
    app.router.add_post("/webhooks/stripe", webhook)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    secret = os.environ["STRIPE_WEBHOOK_SECRET"]
    web.run_app(
        create_app(args.db, secret), host="127.0.0.1", port=args.port, print=None, access_log=None
    )


if __name__ == "__main__":
    main()
