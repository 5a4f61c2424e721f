"""The `paydesk` command's entry point: the server on glibc's malloc (allocator.py), then the command."""

from __future__ import annotations

import sys

from .allocator import run_server_on_malloc, serves


def main() -> int:
    # Before the command line's modules are imported: a new interpreter would import them again.
    if serves(sys.argv[1:]):
        run_server_on_malloc()
    from .cli import main as run_command_line

    return run_command_line()
