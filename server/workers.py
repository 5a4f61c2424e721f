"""`serve --workers N`: one parent starts N server processes that share the port, restarts one
that dies, and stops them all when asked."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
# A worker that served this long was healthy: if it dies, its restarts start over from the
# shortest wait, and its earlier failures are forgiven.
HEALTHY_AFTER_S = 30.0
# A worker that dies this many times in a row before it was healthy will not come up (a port
# taken by another program, a database that refuses us): the parent stops and says so.
GIVE_UP_AFTER = 5
STOP_TIMEOUT_S = 30.0  # after SIGTERM, a worker finishing its requests; then it is killed
TICK_S = 0.2  # how often the parent looks at its workers, and at whether it was asked to stop
PR_SET_PDEATHSIG = 1


@dataclass
class Worker:
    number: int  # 1..N, as logs and messages name it
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # deaths in a row before it was healthy
    restart_at: float | None = None


class Supervisor:
    """Starts `count` workers with `command(number)`, keeps them running, stops them on SIGTERM or
    SIGINT (forwarded to each), and returns the exit status for the parent."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        count: int,
        *,
        say: Callable[[str], None],
        restart_first_s: float = RESTART_FIRST_S,
    ) -> None:
        self._command = command
        self._workers = [Worker(number) for number in range(1, count + 1)]
        self._say = say
        self._restart_first_s = restart_first_s
        self._stop_signal: int | None = None

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for worker in self._workers:
                self._start(worker)
            while self._stop_signal is None:
                # A plain sleep: this parent runs no event loop and serves nothing (its workers
                # do). A signal's handler only notes it; this loop acts on it.
                time.sleep(TICK_S)
                failing = self._tend()
                if failing is not None:
                    self._say(
                        f"paydesk: worker {failing.number} failed {GIVE_UP_AFTER} times in a row"
                        " before it could serve; stopping (its messages are above)"
                    )
                    self._stop_all(signal.SIGTERM)
                    return 1
            return self._stop_all(self._stop_signal)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _start(self, worker: Worker) -> None:
        worker.process = subprocess.Popen(  # noqa: S603 - our own interpreter and package
            self._command(worker.number),
            # Its own process group: Ctrl+C reaches the parent alone, which passes it on once.
            process_group=0,
            # The parent runs no threads, so a function before exec is safe here.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        worker.started_at = time.monotonic()
        worker.restart_at = None
        self._say(f"paydesk: worker {worker.number} started (pid {worker.process.pid})")

    def _tend(self) -> Worker | None:
        """Restart workers that died, after their wait; the one that keeps failing, if any."""
        now = time.monotonic()
        for worker in self._workers:
            if worker.process is not None and worker.process.poll() is not None:
                code = worker.process.returncode
                worker.process = None
                if now - worker.started_at >= HEALTHY_AFTER_S:
                    worker.failures = 0
                worker.failures += 1
                if worker.failures >= GIVE_UP_AFTER:
                    return worker
                wait = min(self._restart_first_s * 2 ** (worker.failures - 1), RESTART_MAX_S)
                worker.restart_at = now + wait
                self._say(
                    f"paydesk: worker {worker.number} exited ({_exit_reason(code)});"
                    f" restarting it in {wait:g} s"
                )
            if (
                worker.process is None
                and worker.restart_at is not None
                and now >= worker.restart_at
            ):
                self._start(worker)
        return None

    def _stop_all(self, signum: int) -> int:
        """Pass `signum` to every worker, wait for them, kill any that outstays STOP_TIMEOUT_S."""
        running = [w.process for w in self._workers if w.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signum)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        clean = True
        for process in running:
            try:
                code = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            # Killed by the very signal passed on: it was still starting, with nothing to finish.
            clean = clean and code in (0, -signum)
        return 0 if clean else 1


# A worker runs the very paydesk package its parent runs, found first on its path, whatever the
# directory and however the parent was started (`paydesk`, `python -m server`, `python run.py`).
WORKER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from server.cli import main;"
    " sys.exit(main(['serve', '--worker', sys.argv[2]]))"
)


def worker_command(number: int, count: int) -> list[str]:
    """How the parent starts worker `number` of `count`."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    return [sys.executable, "-c", WORKER_BOOT, package_parent, f"{number}/{count}"]


def _die_with_parent() -> None:
    # Runs in the child before paydesk starts: if the parent is killed outright (no chance to
    # stop its workers), the kernel sends the worker SIGTERM, and it stops as it would anyway.
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
