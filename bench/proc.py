"""Starting paydesk, the standalone sandbox and the reference handler as processes, and reading /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The paydesk checkout to measure: this one, or another (say a worktree of the commit before a
# change) for before/after figures from the same load tools.
PAYDESK_ROOT = Path(os.environ.get("BENCH_PAYDESK_ROOT", ROOT)).resolve()
RUN_PY = PAYDESK_ROOT / "run.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
WEBHOOK_SECRET = "whsec_bench_0123456789abcdef0123456789abcdef"  # noqa: S105 - a local test secret
STRIPE_TEST_KEY = "sk_test_bench"


def raise_open_files() -> int:
    """Raise this process's soft open-files limit to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One server process started for a benchmark; stopped with SIGTERM (then SIGKILL)."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start(name: str, argv: list[str], env: Mapping[str, str], port: int, workdir: Path) -> Process:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        # cwd is the scratch folder, so a developer's .env in the repo is not read.
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            argv, cwd=workdir, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    return Process(name, port, popen, log_path)


async def wait_until_up(proc: Process, path: str, within: float = 30.0) -> None:
    """Wait until `path` answers on the process's port (any HTTP answer counts)."""
    deadline = time.monotonic() + within
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
            )
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(request)
        status = await reader.readline()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        if status.startswith(b"HTTP/1.1 "):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(
        f"{proc.name} did not answer {path} within {within:.0f}s:\n{proc.log_tail()}"
    )


def paydesk_env(
    db_path: Path, port: int, workdir: Path, *, database_url: str = "", **extra: str
) -> dict[str, str]:
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": database_url or f"sqlite:///{db_path}",
        "LOG_LEVEL": "WARNING",
        # The highest value config accepts; a run stays under its burst.
        "CHECKOUT_RATE_LIMIT": "10000",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MAIL_DIR": str(workdir / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


async def start_paydesk(
    db_path: Path,
    workdir: Path,
    *,
    database_url: str = "",
    args: tuple[str, ...] = (),
    name: str = "paydesk",
    **extra: str,
) -> Process:
    """paydesk on `db_path` (or at `database_url`), started as `python run.py ARGS`."""
    port = free_port()
    env = paydesk_env(db_path, port, workdir, database_url=database_url, **extra)
    proc = _start(name, [sys.executable, str(RUN_PY), *args], env, port, workdir)
    await wait_until_up(proc, "/healthz")
    return proc


async def start_sandbox(workdir: Path, *flags: str) -> Process:
    port = free_port()
    argv = [sys.executable, str(RUN_PY), "sandbox", "--port", str(port)]
    argv += ["--secret-key", STRIPE_TEST_KEY, *flags]  # the sandbox takes only its own key
    proc = _start("sandbox", argv, {"PYTHONUNBUFFERED": "1"}, port, workdir)
    await wait_until_up(proc, "/")
    return proc


async def start_reference(db_path: Path, workdir: Path) -> Process:
    port = free_port()
    argv = [sys.executable, "-m", "bench.reference", "--port", str(port), "--db", str(db_path)]
    env = {"PYTHONPATH": str(ROOT), "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    proc = _start("reference", argv, env, port, workdir)
    await wait_until_up(proc, "/healthz")
    return proc


def migrate(db_path: Path, workdir: Path) -> None:
    """Create the schema with paydesk's own migrations (`python run.py migrate`)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "LOG_LEVEL": "WARNING"}
    subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(RUN_PY), "migrate"],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary folder for one benchmark's databases and logs; kept when BENCH_KEEP is set."""
    path = Path(tempfile.mkdtemp(prefix=f"paydesk-bench-{name}-"))
    try:
        yield path
    finally:
        if not os.environ.get("BENCH_KEEP"):
            for child in sorted(path.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir()
                else:
                    child.unlink()
            path.rmdir()


@dataclass
class Processes:
    """Every process a benchmark started, stopped together however it ends."""

    started: list[Process] = field(default_factory=list)

    def add(self, proc: Process) -> Process:
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()


# -- /proc ------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """VmRSS of a process, in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (`serve --workers N`: the parent and its workers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            queue += [
                int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()
            ]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its descendants alive now, in seconds."""
    total = 0.0
    for member in tree_pids(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


def _busy_jiffies() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


class OtherLoad:
    """CPU used on this machine by everything except the given processes and this one, in cores:
    other work sharing the 2 cores makes a run's figures worse, so each run records it."""

    def __init__(self, *pids: int) -> None:
        self.pids = (os.getpid(), *pids)
        self.busy0 = _busy_jiffies()
        self.ours0 = sum(tree_cpu_seconds(p) for p in self.pids)
        self.t0 = time.monotonic()

    def cores(self) -> float:
        busy = (_busy_jiffies() - self.busy0) / CLOCK_TICKS
        ours = sum(tree_cpu_seconds(p) for p in self.pids) - self.ours0
        return max(busy - ours, 0.0) / max(time.monotonic() - self.t0, 1e-9)


class CpuMeter:
    """CPU share of a process over a window: 1.0 is one core busy the whole time."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu0 = tree_cpu_seconds(pid)  # with its workers, if it has any
        self.t0 = time.monotonic()

    def share(self) -> float:
        return (tree_cpu_seconds(self.pid) - self.cpu0) / max(time.monotonic() - self.t0, 1e-9)


def fsync_ms(folder: Path, rounds: int = 300) -> float:
    """Mean time of a 4 KiB write + fsync in `folder`: the floor under one durable commit."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(rounds):
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        return (time.perf_counter() - start) / rounds * 1000
    finally:
        os.close(fd)
        path.unlink()


def machine() -> dict[str, object]:
    """The machine the figures are for, read from /proc and the interpreter."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    import aiohttp
    import aiosqlite
    import stripe

    with tempfile.TemporaryDirectory() as folder:
        fsync = fsync_ms(Path(folder))
    return {
        "cores": len(models) or os.cpu_count(),
        "cpu": models[0] if models else platform.processor(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "aiosqlite": aiosqlite.__version__,
        "stripe": stripe.VERSION,
        "sqlite": __import__("sqlite3").sqlite_version,
        "fsync_4k_ms": round(fsync, 3),
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        **code_version(),
    }


def code_version() -> dict[str, object]:
    """Which paydesk was measured: its folder, commit, and files changed since that commit."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - read-only git queries
                ["git", "-C", str(PAYDESK_ROOT), *args],  # noqa: S607 - git from PATH
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip()

    changed = [
        line for line in git("status", "--porcelain", "--", "server", "run.py").splitlines() if line
    ]
    return {"paydesk_root": str(PAYDESK_ROOT), "commit": git("rev-parse", "--short", "HEAD") or None,
            "changed_since_commit": changed}  # fmt: skip
