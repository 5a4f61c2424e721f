"""A long-running background task: started once, its crash logged, stopped with a deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # a task still running after this is left to the loop's shutdown


class WorkerTask:
    """One named task; `crashed` says, in an operator's words, what a crash leaves undone."""

    def __init__(self, name: str, crashed: str) -> None:
        self._name = name
        self._crashed = crashed
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(work, name=self._name)
        self._task.add_done_callback(self._report_crash)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel the task and wait for it, at most `timeout_s`."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=timeout_s)
        if not done:
            log.warning("%s did not stop within %s s", self._name, timeout_s)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped: %s", self._name, self._crashed, exc_info=task.exception())
