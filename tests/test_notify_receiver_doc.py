"""The receiver in docs/notifications.md, run as written: it takes paydesk's notifications once each
and refuses forged and stale ones."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.notify.signing import signature
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.conftest import PROJECT_ROOT
from tests.test_notify import SECRET, paid_flow

DOC = PROJECT_ROOT / "docs" / "notifications.md"


def receiver_code() -> str:
    text = DOC.read_text()
    section = text.split("## A receiver in Python", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)\n```", section, re.DOTALL)[:1]
    return code


@pytest.fixture
def documented(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("NOTIFY_SECRET", SECRET)
    namespace: dict[str, Any] = {"__name__": "documented_receiver"}
    exec(compile(receiver_code(), str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


def test_the_documented_receiver_is_about_twenty_lines() -> None:
    lines = [line for line in receiver_code().splitlines() if line.strip()]
    assert len(lines) <= 30


async def test_it_takes_paydesks_notifications_once_each(
    documented: dict[str, Any], aiohttp_server: Any, make_client: Any, capsys: Any
) -> None:
    server = await aiohttp_server(documented["app"], host="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/paydesk"
    client = await make_client(NOTIFY_URLS=url, NOTIFY_SECRET=SECRET, NOTIFY_RETRY_BASE="0.2")
    await paid_flow(client, flows.partial_then_full_refund)
    db = client.server.app[db_key]
    query = "SELECT count(*) FROM notification_deliveries WHERE status = 'delivered'"
    async with asyncio.timeout(20):
        while (await db.fetch_one(query))[0] < 3:
            await asyncio.sleep(0.05)
    assert len(documented["seen"]) == 3
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "payment.succeeded ada@example.com",
        "payment.refunded ada@example.com",
        "payment.refunded ada@example.com",
    ]


@pytest.fixture
async def receiver_client(documented: dict[str, Any], aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(documented["app"])


def notification(notification_id: str = "ntf_doc_test") -> bytes:
    body = {
        "id": notification_id,
        "type": "payment.succeeded",
        "created": int(time.time()),
        "payment": {"id": "pay_x", "email": "ada@example.com"},
    }
    return json.dumps(body).encode()


async def post(client: TestClient, body: bytes, header: str) -> int:
    response = await client.post("/paydesk", data=body, headers={"Paydesk-Signature": header})
    return response.status


async def test_a_good_one_is_taken_and_a_repeat_is_not_acted_on_again(
    receiver_client: TestClient, documented: dict[str, Any], capsys: Any
) -> None:
    body = notification()
    assert await post(receiver_client, body, signature(SECRET, int(time.time()), body)) == 200
    assert await post(receiver_client, body, signature(SECRET, int(time.time()), body)) == 200
    assert documented["seen"] == {"ntf_doc_test"}
    assert capsys.readouterr().out.count("payment.succeeded") == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, now: signature("another-secret-entirely!", now, body),
        lambda body, now: signature(SECRET, now, body + b" "),  # the body was changed
        lambda body, now: signature(SECRET, now - 301, body),  # stale: a replay
        lambda body, now: signature(SECRET, now + 301, body),
        lambda body, now: signature(SECRET, now, body).split(",")[0],  # no v1
        lambda body, now: "",
        lambda body, now: "t=abc,v1=00",
    ],
    ids=["wrong secret", "body changed", "stale", "future", "no v1", "no header", "bad t"],
)
async def test_forged_and_stale_ones_are_refused(
    receiver_client: TestClient, documented: dict[str, Any], forge: Any
) -> None:
    body = notification()
    assert await post(receiver_client, body, forge(body, int(time.time()))) == 400
    assert documented["seen"] == set()
