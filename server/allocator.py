"""The memory allocator paydesk's server runs on, and glibc's view of its heap (in use, trimmed)."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Python's own small-object allocator (pymalloc) keeps each 1 MiB arena for as long as one object
# in it lives. After thousands of live sockets close, a few long-lived objects made meanwhile
# (timers, futures, cache entries) pin arena after arena, so the memory of the busiest moment is
# never given back, and each wave pins a few more (docs/PERFORMANCE.md, "Dropped sockets"). On
# glibc's malloc the same objects pin nothing bigger than themselves, and malloc_trim returns
# the rest to the system within seconds of the wave. So the server runs on it, unless the
# operator names an allocator (PYTHONMALLOC=pymalloc keeps Python's own).
ALLOCATOR_VARIABLE = "PYTHONMALLOC"
SERVER_ALLOCATOR = "malloc"


class _MallInfo2(ctypes.Structure):
    # glibc >= 2.33: the same fields as mallinfo, as size_t instead of int (which wraps at 2 GiB).
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


@dataclass(frozen=True)
class Glibc:
    """glibc's malloc_trim and what its heap has in use (None where mallinfo2 is missing)."""

    trim: Callable[[int], int]
    in_use: Callable[[], int] | None


def _find_glibc() -> Glibc | None:
    """glibc's heap functions, or None where the C library is another (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is None:
        return Glibc(trim, None)
    mallinfo2.argtypes = []
    mallinfo2.restype = _MallInfo2

    def in_use() -> int:
        """Bytes glibc has handed out and not had back: heap blocks and mmapped ones."""
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)

    return Glibc(trim, in_use)


GLIBC = _find_glibc()


def serves(args: list[str]) -> bool:
    """Whether the command line `args` (without the program) runs the web server."""
    return not args or args[0] == "serve"


def server_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to run the server in on glibc's malloc; None to run as it is: another
    allocator is named, or the C library is not glibc (there is no trim to give memory back)."""
    if environ.get(ALLOCATOR_VARIABLE) or GLIBC is None:
        return None
    return {**environ, ALLOCATOR_VARIABLE: SERVER_ALLOCATOR}


def run_server_on_malloc(environ: Mapping[str, str] = os.environ) -> None:
    """Start this process again, same arguments, on glibc's malloc; returns only where it stays.

    PYTHONMALLOC is read once, when the interpreter starts, so it takes a new one. exec keeps
    the process id, its open files and its parent (systemd, a shell, `serve --workers`), and it
    runs before paydesk has read a setting or opened anything.
    """
    env = server_environment(environ)
    if env is None or not sys.executable or not sys.orig_argv:
        return  # embedded, or an interpreter that cannot say how it was started: run as it is
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)  # noqa: S606 - ourselves again
