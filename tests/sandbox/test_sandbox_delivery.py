"""Delivery like Stripe's: out of order and sometimes twice, seeded to replay; retries over days."""

from __future__ import annotations

import logging

import pytest
from sandbox_helpers import VISA, Harness, Receiver, StartSandbox, eventually

from server.sandbox import SandboxSettings
from server.sandbox.cli import banner, build_parser, settings_from

CARD_SUCCESS = [
    "payment_intent.created",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
]


async def _pay(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303


async def test_stripe_like_delivery_reorders_a_burst_the_same_way_for_the_same_seed(
    start_sandbox: StartSandbox, aiohttp_server: object
) -> None:
    orders = []
    for _ in range(2):
        receiver = Receiver()
        server = await aiohttp_server(receiver.app())  # type: ignore[operator]
        receiver.url = str(server.make_url("/webhooks/stripe"))
        # Seed 11 spreads this burst's first attempts over 0.5 s in this order.
        sandbox = await start_sandbox(
            webhook_url=receiver.url, delivery_seed=11, duplicate_rate=0.0
        )
        await _pay(sandbox)
        await receiver.wait_for_types(*CARD_SUCCESS)
        orders.append(receiver.accepted_types)
    assert orders[0] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "payment_intent.created",
        "checkout.session.completed",
    ]
    assert orders[1] == orders[0]  # replayed by the seed


async def test_duplicates_come_with_the_same_event_id(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url, duplicate_rate=1.0)
    await _pay(sandbox)
    await eventually(lambda: len(receiver.accepted) == 8, what="8 deliveries")
    ids = [event["id"] for event in receiver.accepted]
    assert len(set(ids)) == 4
    assert all(ids.count(i) == 2 for i in ids)
    states = (await sandbox.control("GET", "/_control/deliveries"))["deliveries"]
    assert all(s["duplicates_sent"] == 1 and s["attempts"] == 1 for s in states)


async def test_exact_delivery_keeps_creation_order_and_sends_each_event_once(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url, delivery="exact", duplicate_rate=1.0)
    for _ in range(3):
        await _pay(sandbox)
    created = await sandbox.event_types()
    await eventually(lambda: len(receiver.accepted) == len(created), what="every event")
    await sandbox.run_timers()  # charge.updated for each charge, in order too
    created = await sandbox.event_types()
    await eventually(lambda: len(receiver.accepted) == len(created), what="charge.updated")
    assert receiver.accepted_types == created
    assert len({event["id"] for event in receiver.accepted}) == len(created)


async def test_a_failed_delivery_is_retried_on_the_scaled_clock(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    # Stripe's first retry comes a minute later: 0.06 s at this scale.
    sandbox = await start_sandbox(webhook_url=receiver.url, delivery="exact", time_scale=0.001)
    receiver.answers = [500]
    session = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(session.id)
    await receiver.wait_for_types("checkout.session.expired")
    assert [item.status for item in receiver.received] == [500, 200]


def test_retries_follow_stripes_three_day_schedule() -> None:
    settings = SandboxSettings()
    waits = [settings.retry_delay(n) for n in range(1, settings.max_attempts)]
    minutes = [wait / 60 for wait in waits]
    assert minutes[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert minutes[10:] == [720] * 4  # then every 12 hours
    assert 2.5 * 86400 < sum(waits) < 3 * 86400  # Stripe: up to three days
    scaled = SandboxSettings(time_scale=0.001)
    assert scaled.retry_delay(1) == pytest.approx(0.06)
    assert sum(scaled.retry_delay(n) for n in range(1, 15)) == pytest.approx(sum(waits) / 1000)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"delivery": "random"}, "delivery: 'random' is not one of stripe, exact"),
        ({"time_scale": 0}, "time_scale: must be more than 0"),
        ({"delivery_window": -1}, "delivery_window: must not be negative"),
        ({"refund_settle_delay": -1}, "refund_settle_delay: must not be negative"),
    ],
)
def test_delivery_settings_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxSettings(**overrides)  # type: ignore[arg-type]


async def test_the_seed_is_chosen_at_start_logged_and_shown(
    start_sandbox: StartSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.sandbox")
    sandbox = await start_sandbox()
    seed = sandbox.settings.delivery_seed
    assert isinstance(seed, int)
    assert f"seed {seed} (replay: --delivery-seed {seed})" in caplog.text
    page = await sandbox.get_page(sandbox.base_url + "/")
    assert f"--delivery-seed {seed}" in page.text


def test_the_command_line_prints_the_seed_and_takes_one() -> None:
    parser = build_parser()
    chosen = settings_from(parser.parse_args([]), ("whsec_0123456789",))
    assert f"--delivery-seed {chosen.delivery_seed}" in banner(chosen, generated_secret=False)
    args = parser.parse_args(
        ["--delivery-seed", "42", "--delivery", "exact", "--time-scale", "0.01"]
    )
    replayed = settings_from(args, ("whsec_0123456789",))
    assert (replayed.delivery_seed, replayed.delivery, replayed.time_scale) == (42, "exact", 0.01)
    assert "exact: in the order events were made" in banner(replayed, generated_secret=False)
