"""The change feed on PostgreSQL: payment changes committed by any process reach this one's
audiences once per version, and a lost listener connection loses none of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import asyncpg
import pytest

from server.change_feed import APPLICATION_NAME, ChangeFeed
from server.clock import now_ms
from server.payment_events import PaymentEvents
from server.payments import NewPayment, Payment, get_payment, insert_payment
from server.postgresql import PostgresDatabase
from tests import lifecycle_events as flows
from tests.conftest import free_port
from tests.console_helpers import sign_in, start_console
from tests.seed import seed_payment
from tests.test_console_live import next_item
from tests.test_webhooks import one_event, post_event

# What another paydesk process's webhook does to a payment, as one committed UPDATE.
CHANGE = "UPDATE payments SET status = $1, version = version + 1, updated_at = $2 WHERE id = $3"


class Watcher:
    """An audience watching some payments, recording every version it is shown."""

    def __init__(self, *watched: str) -> None:
        self.watched = set(watched)
        self.shown: list[tuple[str, int, str]] = []
        self._arrived = asyncio.Event()

    def watching(self, payment_id: str) -> bool:
        return payment_id in self.watched

    def changed(self, payment: Payment) -> None:
        self.shown.append((payment.id, payment.version, payment.status))
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` versions were shown."""
        await self.wait_until(lambda: len(self.shown) >= count, timeout)

    async def wait_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._arrived.clear()
                await self._arrived.wait()


class Setup:
    """This process (its database and PaymentEvents) and another process's connection."""

    def __init__(self, db: PostgresDatabase, other: asyncpg.Connection) -> None:
        self.db = db
        self.other = other
        self.reads: list[str] = []
        self.events = PaymentEvents(self.read)

    async def read(self, payment_id: str) -> Payment | None:
        self.reads.append(payment_id)
        return await get_payment(self.db, payment_id)

    async def new_payment(self) -> str:
        new = NewPayment(
            request_key=f"key-{now_ms()}-{len(self.reads)}-{id(object())}",
            product_id="drop-in-class",
            product_name="Drop-in class",
            quantity=1,
            unit_amount=2500,
            amount=2500,
            currency="eur",
            customer_name="Ada",
            customer_email="ada@example.com",
            expires_at=now_ms() + 3_600_000,
        )
        return await self.db.write(lambda conn: insert_payment(conn, new))

    async def watched(self) -> tuple[str, Watcher]:
        """A new payment, and an audience watching it that was shown its first version."""
        payment_id = await self.new_payment()
        watcher = Watcher(payment_id)
        self.events.add_audience(watcher)
        await self.other.execute(CHANGE, "pending", now_ms(), payment_id)
        # Version 1 (the insert) may be heard before the audience came, or after.
        await watcher.wait_until(lambda: (payment_id, 2, "pending") in watcher.shown)
        watcher.shown.clear()
        return payment_id, watcher

    async def change(self, payment_id: str, status: str) -> None:
        await self.other.execute(CHANGE, status, now_ms(), payment_id)


@pytest.fixture
async def setup(backend: str, database_url: str) -> AsyncIterator[Setup]:
    db = await PostgresDatabase.connect(database_url, pool_size=4)
    other = await asyncpg.connect(database_url)
    try:
        yield Setup(db, other)
    finally:
        await other.close()
        await db.close()


@pytest.fixture
async def feed(setup: Setup) -> AsyncIterator[ChangeFeed]:
    feed = ChangeFeed(setup.db.url, setup.events, ping_every_s=0.5, ping_timeout_s=2)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def test_a_change_committed_elsewhere_reaches_the_audience_watching_it(
    setup: Setup, feed: ChangeFeed
) -> None:
    payment_id, watcher = await setup.watched()
    unwatched = await setup.new_payment()
    await setup.change(payment_id, "succeeded")
    await watcher.wait_for(1)
    assert watcher.shown == [(payment_id, 3, "succeeded")]
    # Nobody watches the other payment: its changes cost no read.
    await setup.change(unwatched, "succeeded")
    await setup.change(payment_id, "refunded")
    await watcher.wait_for(2)
    assert watcher.shown[-1] == (payment_id, 4, "refunded")
    assert unwatched not in setup.reads


async def test_a_version_this_process_showed_already_is_not_shown_again(
    setup: Setup, feed: ChangeFeed
) -> None:
    payment_id, watcher = await setup.watched()
    # This process's own writer commits and reports; the database announces the same change.
    await setup.change(payment_id, "succeeded")
    await setup.events.committed(payment_id)
    assert watcher.shown[-1] == (payment_id, 3, "succeeded")
    # A later change is the proof the announcement of version 3 arrived (and was dropped) first.
    await setup.change(payment_id, "refunded")
    await watcher.wait_for(2)
    assert [version for _, version, _ in watcher.shown] == [3, 4]


async def test_a_change_committed_while_the_listener_is_cut_off_still_arrives(
    setup: Setup, feed: ChangeFeed
) -> None:
    payment_id, watcher = await setup.watched()
    # The listener's connection is cut, and the change commits before it can listen again: the
    # announcement goes to nobody, so only reading what changed since can bring it.
    async with setup.other.transaction():
        await setup.other.execute(CHANGE, "succeeded", now_ms(), payment_id)
        cut = await setup.other.fetchval(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    assert cut == 1
    await watcher.wait_for(1)
    assert watcher.shown == [(payment_id, 3, "succeeded")]
    assert feed.reconnects >= 1
    # And it listens again.
    await setup.change(payment_id, "refunded")
    await watcher.wait_for(2)
    assert watcher.shown[-1] == (payment_id, 4, "refunded")


class SilentLink:
    """A TCP relay to PostgreSQL whose connections can be made to go quiet without closing, as
    when a NAT or a firewall forgets a connection: nothing arrives, and nothing says so."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.silenced: list[asyncio.Event] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def silence(self) -> None:
        """Every connection open now stops carrying bytes; new ones work."""
        for quiet in self.silenced:
            quiet.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        quiet = asyncio.Event()
        self.silenced.append(quiet)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    if quiet.is_set():
                        continue  # swallowed: the other side waits for ever
                    sink.write(data)
                    await sink.drain()

        pipes = [
            asyncio.ensure_future(pipe(reader, up_writer)),
            asyncio.ensure_future(pipe(up_reader, writer)),
        ]
        self._pipes += pipes
        # Either side closing ends the relay: the other side is closed too.
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for end in (writer, up_writer):
            end.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for end in self._writers:
            end.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for end in self._writers:
            with contextlib.suppress(ConnectionError):
                await end.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()


async def test_a_listener_connection_that_goes_silent_is_replaced_and_loses_nothing(
    setup: Setup,
) -> None:
    parts = urlsplit(setup.db.url)
    link = SilentLink(parts.port or 5432)
    await link.start()
    feed = ChangeFeed(
        parts._replace(netloc=f"{parts.username}@127.0.0.1:{link.port}").geturl(),
        setup.events,
        ping_every_s=0.3,
        ping_timeout_s=0.5,
        retry_first_s=0.1,
    )
    await feed.start()
    try:
        payment_id, watcher = await setup.watched()
        link.silence()
        await setup.change(payment_id, "succeeded")  # announced into the silent connection
        await watcher.wait_for(1)
        assert watcher.shown == [(payment_id, 3, "succeeded")]
        assert feed.reconnects >= 1
    finally:
        await feed.stop()
        await link.stop()


async def test_a_payload_that_is_not_a_payment_change_is_passed_over(
    setup: Setup, feed: ChangeFeed
) -> None:
    payment_id, watcher = await setup.watched()
    await setup.other.execute("SELECT pg_notify('paydesk_payments', 'nonsense')")
    await setup.change(payment_id, "succeeded")
    await watcher.wait_for(1)
    assert watcher.shown == [(payment_id, 3, "succeeded")]


async def test_start_gives_up_when_postgresql_does_not_answer() -> None:
    feed = ChangeFeed("postgresql://postgres@127.0.0.1:9/none", PaymentEvents(_nothing))
    with pytest.raises(TimeoutError):
        await feed.start(timeout_s=1)


async def _nothing(_payment_id: str) -> Payment | None:
    return None


# -- Two paydesk apps on one database ------------------------------------------------------------


async def test_the_console_feed_on_one_app_shows_what_another_applied(
    aiohttp_server,
    aiohttp_client,
    app_env: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    a = await start_console(aiohttp_server, aiohttp_client, app_env)
    b = await start_console(aiohttp_server, aiohttp_client, app_env, PORT=str(free_port()))
    await sign_in(a)
    ws = await a.ws_connect("/admin/live")
    # Written by B alone: A hears of the new payment, and of the webhook B applies, from the database.
    await seed_payment(b, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    await next_item(ws, flows.PAYMENT_ID, "pending")
    status, _ = await post_event(b, one_event())
    assert status == 200
    item = await next_item(ws, flows.PAYMENT_ID, "succeeded")
    assert item["version"] == 2
    await ws.close()
