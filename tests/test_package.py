"""paydesk as an operator installs it: a built wheel in a fresh virtualenv, run from any directory."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.allocator import GLIBC
from tests.conftest import PROJECT_ROOT, free_port
from tests.test_memory_after_waves import environment_of
from tests.test_run import pay_by_card_and_get_the_receipt, started_paydesk, stop

BUILD_TIMEOUT = 240


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` in `cwd`; it must succeed, and what it said is shown when it does not."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def copy_of_the_checkout(to: Path) -> Path:
    """The files git would see (committed or new, not ignored), symlinks kept as symlinks.

    setuptools writes build/ and paydesk.egg-info/ beside the sources it builds; a copy keeps
    them out of the checkout.
    """
    listed = run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=PROJECT_ROOT
    )
    for name in filter(None, listed.stdout.split("\0")):
        source, target = PROJECT_ROOT / name, to / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return to


def names_in(folder: Path) -> list[str]:
    """What paydesk left in `folder`, without SQLite's -wal and -shm companions."""
    return sorted(
        path.name for path in folder.iterdir() if not path.name.endswith(("-wal", "-shm"))
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv outside the checkout with paydesk's wheel installed; its bin folder."""
    work = tmp_path_factory.mktemp("package")
    source = copy_of_the_checkout(work / "source")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        source,
        "-w",
        work / "dist",
        cwd=work,
    )
    [wheel] = (work / "dist").glob("paydesk-*.whl")
    # The dependencies come from this interpreter's site-packages: nothing is downloaded.
    run(sys.executable, "-m", "venv", "--system-site-packages", work / "venv", cwd=work)
    bin_folder = work / "venv" / "bin"
    run(
        bin_folder / "python",
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "--force-reinstall",
        wheel,
        cwd=work,
    )
    return bin_folder


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory that is not the checkout and has no templates, static files or migrations."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
def test_the_installed_package_is_the_wheel_not_the_checkout(venv: Path, elsewhere: Path) -> None:
    found = run(venv / "python", "-c", "import server; print(server.__file__)", cwd=elsewhere)
    assert Path(found.stdout.strip()).is_relative_to(venv.parent)
    assert not (PROJECT_ROOT / "build").exists()


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
async def test_paydesk_from_the_wheel_takes_a_card_payment_in_any_directory(
    venv: Path, elsewhere: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # No DATABASE_URL or MAIL_DIR: the defaults are var/ in the directory paydesk starts in.
    env = {"HOST": "127.0.0.1", "PORT": str(port), "CHECKOUT_RATE_LIMIT": "10000"}
    with started_paydesk([str(venv / "paydesk")], elsewhere, env) as process:
        await pay_by_card_and_get_the_receipt(base, elsewhere / "var" / "mail")
        if GLIBC is not None:  # the installed command serves on glibc's malloc too (allocator.py)
            assert environment_of(process.pid)["PYTHONMALLOC"] == "malloc"
        output = await stop(process)
    assert f"paydesk is running at {base} (database {elsewhere / 'var' / 'paydesk.db'};" in output
    assert await asyncio.to_thread(names_in, elsewhere / "var") == ["mail", "paydesk.db"]
    assert await asyncio.to_thread(names_in, elsewhere) == ["var"]


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
@pytest.mark.parametrize(
    ("command", "program"),
    [(["paydesk"], "paydesk"), (["python", "-m", "server"], "python -m server")],
    ids=["paydesk", "python -m server"],
)
def test_help_names_the_program_as_it_was_started(
    venv: Path, elsewhere: Path, command: list[str], program: str
) -> None:
    result = run(venv / command[0], *command[1:], "--help", cwd=elsewhere)
    assert result.stdout.startswith(f"usage: {program} [-h] COMMAND")
    for name in ("serve", "migrate", "outbox", "resend", "set-password", "sandbox"):
        assert name in result.stdout


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
def test_a_command_names_the_installed_program_when_there_is_no_database(
    venv: Path, elsewhere: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [venv / "paydesk", "list-tokens"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    database = elsewhere / "var" / "paydesk.db"
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"paydesk: database {database}",
        f"paydesk: no database at {database}: start paydesk once or run `paydesk migrate`,"
        " or set DATABASE_URL",
    ]
    assert not database.parent.exists()
