"""`paydesk backup`: a checked copy taken while webhooks pour in, dated copies kept N deep, restore."""

from __future__ import annotations

import asyncio
import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.backup import back_up, dated_copies
from server.cli import main
from server.db import Database
from server.web.keys import config_key, db_key
from tests import lifecycle_events as flows
from tests.conftest import MakeClient
from tests.seed import seed_payment
from tests.stripe_signing import event_body, sign

STORM = 120  # payments, each paid by one webhook, all posted at once


def paid_event(number: int) -> dict[str, Any]:
    """checkout.session.completed (paid) for the seeded payment `pay_storm_<number>`."""
    event = copy.deepcopy(flows.card_success(flows.Stripe("hand-built"))[-1])
    session = event["data"]["object"]
    payment_id = f"pay_storm_{number}"
    event["id"] = f"evt_storm_{number}"
    session.update(
        id=f"cs_storm_{number}",
        client_reference_id=payment_id,
        payment_intent=f"pi_storm_{number}",
        metadata={**session["metadata"], "payment_id": payment_id},
    )
    return event


async def seed_storm(client: TestClient) -> list[dict[str, Any]]:
    for number in range(STORM):
        await seed_payment(
            client, f"pay_storm_{number}", session_id=f"cs_storm_{number}", amount=flows.AMOUNT
        )
    return [paid_event(number) for number in range(STORM)]


async def post(client: TestClient, event: dict[str, Any]) -> int:
    body = event_body(event)
    secret = client.server.app[config_key].webhook_secrets[0]
    response = await client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"},
    )
    await response.read()
    return response.status


def partial_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.suffix == ".partial"]


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await db.fetch_all(sql)]


PAYMENTS = "SELECT id, status, version, facts FROM payments ORDER BY id"
EVENTS = "SELECT id, payment_id, outcome, payload FROM stripe_events ORDER BY id"


async def test_a_backup_during_a_webhook_storm_is_sound_and_holds_whole_transactions(
    client: TestClient, tmp_path: Path
) -> None:
    events = await seed_storm(client)
    answered = 0
    some_answered = asyncio.Event()

    async def deliver(event: dict[str, Any]) -> int:
        nonlocal answered
        status = await post(client, event)
        answered += 1
        if answered >= STORM // 10:
            some_answered.set()
        return status

    storm = asyncio.gather(*(deliver(event) for event in events))
    async with asyncio.timeout(30):
        await some_answered.wait()
    answered_when_started = answered
    target = await back_up(client.server.app[config_key], tmp_path / "copy.db")
    statuses = await storm

    assert answered_when_started < STORM, "the backup must start while webhooks are still coming"
    assert statuses == [200] * STORM
    assert target == tmp_path / "copy.db"
    assert partial_files(tmp_path) == []
    copy_db = await Database.open(target)
    try:
        assert await rows(copy_db, "PRAGMA integrity_check") == [("ok",)]
        payments = dict(await rows(copy_db, "SELECT id, status FROM payments"))
        stored = {row[1] for row in await rows(copy_db, "SELECT id, payment_id FROM stripe_events")}
    finally:
        await copy_db.close()
    assert len(payments) == STORM
    # A payment is paid in the copy exactly when the event that paid it is there: the event and
    # its effect were committed together, and the copy holds no half of a transaction.
    paid = {pid for pid, status in payments.items() if status == "succeeded"}
    assert paid == stored
    assert set(payments.values()) <= {"pending", "succeeded"}


async def test_restoring_a_backup_brings_back_every_payment_and_event(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client()
    events = await seed_storm(client)
    assert await asyncio.gather(*(post(client, e) for e in events[:-1])) == [200] * (STORM - 1)
    db = client.server.app[db_key]
    payments_at_backup, events_at_backup = await rows(db, PAYMENTS), await rows(db, EVENTS)
    config = client.server.app[config_key]
    backup = await back_up(config, tmp_path / "before-the-last.db")
    assert await post(client, events[-1]) == 200  # after the backup: the restore undoes it

    # Stop, put the copy in place of the database (its WAL and shared-memory files go), start.
    await client.close()
    database = config.database_path
    for leftover in (
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(backup, database)
    restored = await make_client()

    db = restored.server.app[db_key]
    assert await rows(db, PAYMENTS) == payments_at_backup
    assert await rows(db, EVENTS) == events_at_backup
    answer = await (await restored.get("/api/payments/pay_storm_0")).json()
    assert answer["status"] == "succeeded"
    last = await (await restored.get(f"/api/payments/pay_storm_{STORM - 1}")).json()
    assert last["status"] == "pending"
    # Stripe's retry of the event that came after the backup applies again on the restored database.
    assert await post(restored, events[-1]) == 200
    last = await (await restored.get(f"/api/payments/pay_storm_{STORM - 1}")).json()
    assert last["status"] == "succeeded"


@pytest.fixture
def command_line(app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line's settings for this test's database, which `migrate` creates."""
    monkeypatch.chdir(tmp_path)
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 0
    return tmp_path


def test_a_folder_gets_dated_copies_and_keep_removes_the_oldest(
    command_line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = command_line / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup")
    made = []
    for _ in range(3):
        assert main(["backup", str(folder), "--keep", "2"]) == 0
        made.append(dated_copies(folder)[-1])
    assert "integrity check ok" in capsys.readouterr().out
    assert dated_copies(folder) == made[1:]
    assert (folder / "notes.txt").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["existing.db"], "existing.db already exists; give a new file name or a folder"),
        (["new.db", "--keep", "3"], "--keep needs PATH to be an existing folder"),
        (["backups", "--keep", "0"], "--keep must be 1 or more"),
        (["missing/new.db"], "does not exist; create it first"),
    ],
)
def test_a_target_that_cannot_work_is_refused_and_nothing_is_written(
    command_line: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    (command_line / "existing.db").write_text("keep me")
    (command_line / "backups").mkdir()
    assert main(["backup", *arguments]) == 1
    assert message in capsys.readouterr().err
    assert (command_line / "existing.db").read_text() == "keep me"
    assert not (command_line / "new.db").exists()
    assert list((command_line / "backups").iterdir()) == []


def test_backup_needs_the_database(
    command_line: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{command_line / 'elsewhere.db'}")
    assert main(["backup", str(command_line / "copy.db")]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not (command_line / "copy.db").exists()
