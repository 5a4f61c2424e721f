"""A standalone sandbox process on loopback, started as `paydesk sandbox` starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import PROJECT_ROOT, free_port

# The key the sandbox takes unless a test names its own; it answers any other with 401.
SECRET_KEY = "sk_test_standalone_sandbox"
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


@contextmanager
def standalone_sandbox(*flags: str, secret_key: str = SECRET_KEY) -> Iterator[str]:
    """The sandbox's base URL while it runs with `flags` and takes `secret_key`; stopped on
    leaving. It may still be starting: wait for it (tests/conftest.py wait_until_ok) before the
    first call."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "run.py", "sandbox", "--port", str(port)),
            *("--secret-key", secret_key, *flags),
        ],
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
