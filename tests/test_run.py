"""`python run.py` as the Quick start runs it: a payment end to end on the embedded defaults, and a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, WSMsgType

from tests.conftest import PROJECT_ROOT, wait_until_ok
from tests.pages import pay_on_hosted_page


@pytest.fixture
def paydesk_process(app_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    # Nothing from the developer's own environment or .env: the embedded defaults only.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
    process = subprocess.Popen(
        [sys.executable, "run.py"],
        cwd=PROJECT_ROOT,
        env={**inherited, **app_env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, f"http://127.0.0.1:{app_env['PORT']}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


async def test_run_py_takes_a_payment_pushes_it_mails_the_receipt_and_stops_cleanly(
    paydesk_process: tuple[subprocess.Popen[str], str], app_env: dict[str, str]
) -> None:
    process, base = paydesk_process
    await wait_until_ok(base + "/healthz")
    async with ClientSession() as session:
        answer = await session.post(
            base + "/api/checkout",
            json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
        )
        assert answer.status == 201, await answer.text()
        checkout = await answer.json()
        async with session.ws_connect(f"{base}/payments/{checkout['payment_id']}/live") as ws:
            assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
            async with asyncio.timeout(15):
                async for message in ws:
                    assert message.type is WSMsgType.TEXT, message
                    if message.json()["payment"]["status"] == "succeeded":
                        break
    async with asyncio.timeout(15):
        while not await asyncio.to_thread(receipt_written, Path(app_env["MAIL_DIR"])):
            await asyncio.sleep(0.1)

    process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(process.wait, 15) == 0
    assert process.stdout is not None
    output = process.stdout.read()
    assert f"paydesk is running at {base}" in output
    assert "Traceback" not in output


def receipt_written(folder: Path) -> bool:
    return any("Your receipt" in path.read_text() for path in folder.glob("*.eml"))
