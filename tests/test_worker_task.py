"""The background task behind the mail and notification senders: crashes are told, stops end."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.worker_task import WorkerTask


async def test_a_crash_is_logged_with_what_it_leaves_undone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = WorkerTask("mail sender", "mail waits until paydesk restarts")

    async def crash() -> None:
        raise RuntimeError("disk on fire")

    task.start(crash())
    async with asyncio.timeout(5):
        while not caplog.records:
            await asyncio.sleep(0.01)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "mail sender stopped: mail waits until paydesk restarts"
    assert record.exc_info is not None and "disk on fire" in str(record.exc_info[1])
    await task.stop()  # a crashed task stops at once


async def test_stop_cancels_and_waits_at_most_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled = asyncio.Event()
    task = WorkerTask("notification sender", "notifications wait")

    async def runs_until_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task.start(runs_until_cancelled())
    await asyncio.sleep(0)
    await task.stop()
    assert cancelled.is_set()
    assert not caplog.records  # a clean stop says nothing

    stubborn = WorkerTask("stubborn", "nothing")
    release = asyncio.Event()

    async def ignores_cancel() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    stubborn.start(ignores_cancel())
    await asyncio.sleep(0)
    await stubborn.stop(timeout_s=0.05)
    assert [r.getMessage() for r in caplog.records] == ["stubborn did not stop within 0.05 s"]
    release.set()
