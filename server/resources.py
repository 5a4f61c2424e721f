"""Everything with a lifetime, one cleanup context each: started in order, stopped in reverse.

Each context builds its resource from the config and the resources before it, hands it what it
needs as arguments, and publishes it under its key for the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from .balance import CATCH_UP_EVERY_S, BalanceRecorder
from .change_feed import ChangeFeed
from .checkout import Checkout, CheckoutUrls, in_process
from .confirm import Confirmer
from .gc_schedule import full_passes_when_quiet
from .mail.compose import Composer, from_address
from .mail.messages import Links
from .mail.retry import RetryPolicy
from .mail.sender import DEFAULT_BATCH, DEFAULT_IDLE, MailSender
from .mail.transport import transport_for
from .my_payments import MyPayments, SignInMailer, sign_in_limits
from .notify.worker import running_notifier
from .pacing import BackgroundPacer
from .package_data import migrations_folder
from .rate_limit import RateLimiter
from .reconcile.startup import catch_up_after_start
from .shared_limits import SharedRateLimiter
from .status_view import payment_snapshot
from .storage import open_database
from .stripe_gateway import open_stripe, open_stripe_client
from .web.fanout import Hub
from .web.keys import (
    catalog_key,
    checkout_key,
    config_key,
    confirmer_key,
    db_key,
    events_key,
    foreground_key,
    mail_sender_key,
    mail_transport_key,
    my_payments_key,
    status_pages_key,
    stripe_key,
    webhook_stats_key,
    webhooks_key,
)
from .web.live import StatusPages
from .webhooks import WebhookProcessor

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    db = await open_database(config.database, wal_limit_bytes=config.wal_limit_mb * 1024 * 1024)
    try:
        await db.migrate(migrations_folder())
        app[db_key] = db
        yield
    finally:
        await db.close()


async def stripe_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_stripe(app[config_key]) as gateway:
        app[stripe_key] = gateway
        yield


async def status_pages_ctx(app: web.Application) -> AsyncIterator[None]:
    """Customer status sockets: one hub, its heartbeat task, and a place among PaymentEvents."""
    config, catalog = app[config_key], app[catalog_key]
    hub = Hub(max_total=config.live_max_connections, max_per_topic=config.live_max_per_payment)
    shop_url = config.public_url + "/"
    pages = StatusPages(hub, lambda payment: payment_snapshot(payment, catalog, shop_url=shop_url))
    app[status_pages_key] = pages
    stop_showing = app[events_key].add_audience(pages)
    heartbeats = asyncio.get_running_loop().create_task(hub.send_heartbeats())
    try:
        yield
    finally:
        stop_showing()
        heartbeats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeats


async def change_feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """On PostgreSQL: changes committed by any paydesk process, shown on this one's pages too."""
    url = app[config_key].postgresql_url
    if not url:
        yield  # one process on SQLite: its own writers tell PaymentEvents of every change
        return
    feed = ChangeFeed(url, app[events_key])
    await feed.start()
    try:
        yield
    finally:
        await feed.stop()


async def close_status_pages(app: web.Application) -> None:
    """on_shutdown: sockets must close before the server waits for open handlers to finish,
    and cleanup contexts only end after that wait."""
    if status_pages_key in app:
        await app[status_pages_key].hub.close(reason=b"server shutting down")


async def mail_transport_ctx(app: web.Application) -> AsyncIterator[None]:
    """The one mail transport of the process (its choice logged once), for every sender of mail."""
    config = app[config_key]
    app[mail_transport_key] = transport_for(config, from_address(config, app[catalog_key].shop))
    yield


def mail_sender_context(
    *,
    policy: RetryPolicy | None = None,
    idle: float = DEFAULT_IDLE,
    batch_size: int = DEFAULT_BATCH,
) -> CleanupContext:
    """A cleanup context running one MailSender; tests pass a fast retry policy."""

    async def mail_sender(app: web.Application) -> AsyncIterator[None]:
        config, catalog = app[config_key], app[catalog_key]
        sender = MailSender(
            app[db_key],
            Composer(config, catalog, mail_links(app)),
            app[mail_transport_key],
            policy=policy,
            idle=idle,
            batch_size=batch_size,
            pacer=BackgroundPacer(app[foreground_key]),
        )
        app[mail_sender_key] = sender
        # Every commit may have queued mail: it goes out now, not at the next poll.
        stop_waking = app[events_key].on_commit(sender.wake)
        await sender.start()
        try:
            yield
        finally:
            stop_waking()
            await sender.stop()

    return mail_sender


mail_sender_ctx = mail_sender_context()


async def my_payments_ctx(app: web.Application) -> AsyncIterator[None]:
    """'My payments': the sign-in limits, and the task that mails sign-in links."""
    config, shop = app[config_key], app[catalog_key].shop
    mailer = SignInMailer(app[mail_transport_key], from_address(config, shop), shop.name)
    async with mailer.running():
        app[my_payments_key] = MyPayments(sign_in_limits(app[db_key]), mailer)
        yield


async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    """Signed notifications to the operator's systems (server/notify): one sender, woken by commits."""
    config = app[config_key]
    async with running_notifier(app[db_key], config.notify, app[catalog_key]) as notifier:
        stop_waking = app[events_key].on_commit(notifier.wake)
        try:
            yield
        finally:
            stop_waking()


def mail_links(app: web.Application) -> Links:
    """The absolute URLs mail links to, built from the app's named routes."""
    base = app[config_key].public_url

    def status(payment_id: str) -> str:
        return base + str(app.router["payment_status"].url_for(payment_id=payment_id))

    def console(payment_id: str) -> str:
        return base + str(app.router["admin.payment"].url_for(payment_id=payment_id))

    return Links(
        status=status,
        console=console,
        shop=base + str(app.router["index"].url_for()),
        my_payments=base + str(app.router["my_payments"].url_for()),
    )


async def checkout_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]

    def absolute(name: str, payment_id: str) -> str:
        return config.public_url + str(app.router[name].url_for(payment_id=payment_id))

    urls = CheckoutUrls(
        # Stripe fills in {CHECKOUT_SESSION_ID}; it must reach Stripe unescaped.
        success=lambda pid: absolute("payment_status", pid) + "?session_id={CHECKOUT_SESSION_ID}",
        cancel=lambda pid: absolute("payment_cancelled", pid),
    )
    app[checkout_key] = Checkout(
        app[db_key],
        app[stripe_key],
        urls,
        config.checkout_expiry_minutes,
        app[events_key],
        # Counted in Checkout, not a middleware: only attempts that reach Stripe count, so a
        # typo costs the customer nothing. With several processes (PostgreSQL), in the database.
        SharedRateLimiter(app[db_key], "checkout", config.checkout_rate_limit).acquire
        if config.postgresql_url
        else in_process(RateLimiter(config.checkout_rate_limit)),
    )
    yield


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Applying Stripe's events, and the background fetch of the fees they name (balance.py)."""
    gateway = app[stripe_key]
    balances = BalanceRecorder(app[db_key], gateway.balance_transaction, app[events_key])
    app[webhooks_key] = WebhookProcessor(
        app[db_key], gateway.payment_id_for_intent, app[events_key], balances.wanted
    )
    async with _running(balances.serve(), balances.catch_up_every(CATCH_UP_EVERY_S)):
        yield


async def confirmer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Lookups at Stripe for customers back from checkout, the sweep for the rest, and the
    catch-up on Stripe's events after a start when the last one is old (reconcile/startup.py)."""
    confirmer = Confirmer(
        app[db_key],
        app[stripe_key].checkout_session_as_seen,
        app[webhooks_key],
        alert_after_s=app[config_key].webhook_alert_after,
        stats=app[webhook_stats_key],
    )
    app[confirmer_key] = confirmer
    work = [confirmer.serve_returns()]
    config = app[config_key]
    if config.reconcile_interval:
        work.append(confirmer.sweep_every(config.reconcile_interval))
        work.append(
            catch_up_after_start(app[db_key], app[webhooks_key], lambda: open_stripe_client(config))
        )
    async with _running(*work):
        yield


def gc_schedule_context(**timing: float) -> CleanupContext:
    """Full garbage collections at quiet moments while the app runs (gc_schedule.py)."""

    async def gc_schedule(app: web.Application) -> AsyncIterator[None]:
        async with full_passes_when_quiet(app[foreground_key], **timing):
            yield

    return gc_schedule


gc_schedule_ctx = gc_schedule_context()


@contextlib.asynccontextmanager
async def _running(*work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Background tasks for as long as the block runs; cancelled and awaited when it ends."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(coroutine) for coroutine in work]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
