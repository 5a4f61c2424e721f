"""`python run.py` as the Quick start runs it: a payment end to end on the embedded defaults, and a clean stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession

from tests.conftest import PROJECT_ROOT, wait_until_ok
from tests.live import wait_for_status
from tests.pages import pay_on_hosted_page


@contextmanager
def started_paydesk(
    command: list[str], cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[str]]:
    """paydesk started by `command` in `cwd`, killed on leaving if it has not stopped by then."""
    # Nothing from the developer's own environment or .env: the embedded defaults only.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "SMTP_"))
        and k not in ("DATABASE_URL", "MAIL_DIR", "PYTHONMALLOC")
    }
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**inherited, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture
def paydesk_process(app_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with started_paydesk([sys.executable, "run.py"], PROJECT_ROOT, app_env) as process:
        yield process, f"http://127.0.0.1:{app_env['PORT']}"


async def pay_by_card_and_get_the_receipt(base: str, mail_dir: Path) -> None:
    """A card payment through the sandbox's hosted page, seen live as paid, and its receipt mailed."""
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
            await wait_for_status(ws, "succeeded", timeout=15)
    async with asyncio.timeout(15):
        while not await asyncio.to_thread(receipt_written, mail_dir):
            await asyncio.sleep(0.1)


async def stop(process: subprocess.Popen[str]) -> str:
    """Stop paydesk as Ctrl+C does; it must exit cleanly. Everything it printed."""
    process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(process.wait, 15) == 0
    assert process.stdout is not None
    output = process.stdout.read()
    assert "Traceback" not in output
    return output


async def test_run_py_takes_a_payment_pushes_it_mails_the_receipt_and_stops_cleanly(
    paydesk_process: tuple[subprocess.Popen[str], str], app_env: dict[str, str]
) -> None:
    process, base = paydesk_process
    await pay_by_card_and_get_the_receipt(base, Path(app_env["MAIL_DIR"]))
    assert f"paydesk is running at {base}" in await stop(process)


def receipt_written(folder: Path) -> bool:
    return any("Your receipt" in path.read_text() for path in folder.glob("*.eml"))


# -- Commands work on the server's database, and say which -----------------------------------

NO_DATABASE = (
    "paydesk: no database at {path}: start paydesk once or run `python run.py migrate`,"
    " or set DATABASE_URL"
)


def run_py(
    *args: str, env: dict[str, str], cwd: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "SMTP_")) and k != "DATABASE_URL"
    }
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        cwd=cwd,
        env={**inherited, **env},
        input="a long and memorable passphrase\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["outbox"],
        ["resend", "pay_AbCdEfGhIjKlMnOp"],
        ["set-password"],
        ["create-token", "bookkeeping"],
        ["list-tokens"],
        ["revoke-token", "1"],
    ],
    ids=lambda command: command[0],
)
def test_a_command_refuses_a_database_that_is_not_there(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "elsewhere" / "paydesk.db"
    result = run_py(*command, env={"DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"paydesk: database {missing}",
        NO_DATABASE.format(path=missing),
    ]
    assert not missing.exists() and not missing.parent.exists()  # nothing was created


def test_commands_read_the_env_file_as_the_server_does_and_only_migrate_creates(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "paydesk.db"
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{database}\n")
    # Started from the folder with the .env, as the server is; nothing in the environment says it.
    env: dict[str, str] = {}
    migrated = run_py("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stderr.splitlines()[0] == f"paydesk: database {database}"
    assert database.is_file()
    created = run_py("create-token", "bookkeeping", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stderr.splitlines() == [f"paydesk: database {database}"]
    listed = run_py("list-tokens", env=env, cwd=tmp_path)
    assert listed.stderr.splitlines() == [f"paydesk: database {database}"]
    assert "bookkeeping" in listed.stdout


# -- The log shows what an operator acts on --------------------------------------------------

SETUP_LINK = re.compile(r"Open this one-time link .* (http://\S+/admin/setup/(\S+)) ")


class LoggedPaydesk:
    """`python run.py` with its log going to a file, started by the `logged_paydesk` fixture."""

    def __init__(self, app_env: dict[str, str], log: Path, env: dict[str, str]) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
        self.log = log
        self.base = f"http://127.0.0.1:{app_env['PORT']}"
        self._out = log.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=PROJECT_ROOT,
            env={**inherited, **app_env, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> str:
        """Stop it (so every line is written) and return its whole log."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._out.close()
        return self.log.read_text()


@pytest.fixture
def logged_paydesk(
    app_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., LoggedPaydesk]]:
    started: list[LoggedPaydesk] = []

    def start(**env: str) -> LoggedPaydesk:
        started.append(LoggedPaydesk(app_env, tmp_path / "paydesk.log", env))
        return started[-1]

    yield start
    for paydesk in started:
        paydesk.stop()


async def visit_setup_link_and_health(paydesk: LoggedPaydesk) -> str:
    """Open the setup link the log printed and the health check, then stop; the whole log."""
    await wait_until_ok(paydesk.base + "/healthz")
    link = SETUP_LINK.search(await asyncio.to_thread(paydesk.log.read_text))
    assert link
    async with ClientSession() as session:
        async with session.get(link.group(1)) as page:
            assert page.status == 200
        async with session.get(paydesk.base + "/healthz") as health:
            assert health.status == 200
    return await asyncio.to_thread(paydesk.stop)


async def test_the_access_log_is_off_by_default(
    logged_paydesk: Callable[..., LoggedPaydesk],
) -> None:
    output = await visit_setup_link_and_health(logged_paydesk())
    assert SETUP_LINK.search(output)
    assert "aiohttp.access" not in output
    assert '"GET /healthz' not in output


async def test_with_access_log_on_no_line_but_the_setup_link_shows_the_token(
    logged_paydesk: Callable[..., LoggedPaydesk],
) -> None:
    output = await visit_setup_link_and_health(logged_paydesk(ACCESS_LOG="1"))
    link = SETUP_LINK.search(output)
    assert link
    token = link.group(2)
    access = [line for line in output.splitlines() if "aiohttp.access" in line]
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in access)
    assert any('"GET /admin/setup/… HTTP/1.1" 200' in line for line in access)
    [only] = [line for line in output.splitlines() if token in line]
    assert "No console password is set" in only
