"""The parent of `serve --workers N` on its own (restarts with a growing wait, gives up on a worker
that never comes up, passes a stop on to every worker), and what `--workers` refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from server.workers import GIVE_UP_AFTER, Supervisor
from tests.conftest import PROJECT_ROOT


def test_a_worker_that_keeps_failing_is_restarted_with_a_growing_wait_then_given_up() -> None:
    said: list[str] = []
    supervisor = Supervisor(
        lambda n: [sys.executable, "-c", "import sys; sys.exit(3)"],
        1,
        say=said.append,
        restart_first_s=0.01,
    )
    assert supervisor.run() == 1
    waits = [line.rpartition(" in ")[2] for line in said if "restarting" in line]
    assert waits == ["0.01 s", "0.02 s", "0.04 s", "0.08 s"][: GIVE_UP_AFTER - 1]
    assert said[-1] == (
        f"paydesk: worker 1 failed {GIVE_UP_AFTER} times in a row before it could serve;"
        " stopping (its messages are above)"
    )
    assert "exited (exit status 3)" in said[1]


# The parent in a process of its own (it installs signal handlers), with workers that wait for
# SIGTERM and report it.
PARENT = textwrap.dedent(
    """
    import sys
    from server.workers import Supervisor
    WORKER = (
        "import signal, sys, time\\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\\n"
        "print('worker', sys.argv[1], 'up', flush=True)\\n"
        "time.sleep(60)\\n"
    )
    supervisor = Supervisor(lambda n: [sys.executable, "-c", WORKER, str(n)], 3, say=print)
    sys.exit(supervisor.run())
    """
)


def test_a_stop_is_passed_on_to_every_worker_and_the_parent_exits_cleanly() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    assert parent.stdout is not None
    up = set()
    while len(up) < 3:
        line = parent.stdout.readline()
        assert line, "the parent ended before its workers were up"
        if line.startswith("worker "):
            up.add(line.split()[1])
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=30) == 0
    parent.stdout.close()


# -- What `serve --workers N` refuses ---------------------------------------------------------


def run_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "run.py", "serve", *args],
        cwd=PROJECT_ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_workers_are_refused_on_sqlite_and_say_why(tmp_path: Path) -> None:
    database = tmp_path / "paydesk.db"
    result = run_serve({"DATABASE_URL": f"sqlite:///{database}"}, "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 needs PostgreSQL (DATABASE_URL=postgresql://...)" in result.stderr
    assert "live status only to the pages connected to it" in result.stderr
    assert not database.exists()


def test_workers_are_refused_with_the_built_in_sandbox() -> None:
    # Refused before the database is opened: the address need not answer.
    result = run_serve(
        {"DATABASE_URL": "postgresql://paydesk@127.0.0.1:9/paydesk"}, "--workers", "2"
    )
    assert result.returncode == 2
    assert "cannot use the built-in Stripe sandbox" in result.stderr


@pytest.mark.parametrize("count", ["0", "two", "65"])
def test_a_number_of_workers_outside_1_to_64_is_refused(count: str) -> None:
    result = run_serve({}, "--workers", count)
    assert result.returncode == 2
    assert "expected a number of processes from 1 to 64" in result.stderr
