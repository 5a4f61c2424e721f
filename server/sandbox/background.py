"""Run one long-lived coroutine for the duration of a cleanup context, and stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# How long shutdown waits for a cancelled task to finish its cleanup.
STOP_TIMEOUT = 5.0


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Stripe sandbox: %s stopped", task.get_name(), exc_info=task.exception())


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Start `work` as a task; on exit cancel it, and raise if it had died of an error."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_log_failure)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"{name} failed while the sandbox ran") from task.exception()
