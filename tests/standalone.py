"""A standalone sandbox process on loopback, started as `paydesk sandbox` starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import PROJECT_ROOT, free_port


@contextmanager
def standalone_sandbox(*flags: str) -> Iterator[str]:
    """The sandbox's base URL while it runs with `flags`; stopped on leaving. It may still be
    starting: wait for it (tests/conftest.py wait_until_ok) before the first call."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "run.py", "sandbox", "--port", str(port), *flags],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
