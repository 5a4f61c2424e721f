"""The console's commands: set the password; create, list and revoke API tokens.

server/cli.py adds them to its parser with `add_commands(subparsers)` and, once the settings are
loaded and the database is known to be there, runs them with `run_command(options, config)`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from ..clock import utc_minute
from ..config import Config, ConsoleSettings
from ..database_file import migrated_database
from ..db import Database
from .api_tokens import TokenNameError, create_api_token, list_api_tokens, revoke_api_token
from .sessions import password_hasher, password_problem, set_password

COMMANDS = frozenset({"set-password", "create-token", "list-tokens", "revoke-token"})
Prompt = Callable[[str], str]
T = TypeVar("T")


def add_commands(commands: Any) -> None:
    """Add the console's subcommands to the command line's `parser.add_subparsers(...)` object."""
    commands.add_parser(
        "set-password",
        help="set the console password (asked twice; read from stdin when not a terminal)",
        description="Set the /admin password. Every signed-in browser is signed out.",
    )
    create = commands.add_parser(
        "create-token",
        help="create an API token for /api/admin (shown once)",
        description="Create a Bearer token for the admin API. It is printed once; only its hash is kept.",
    )
    create.add_argument("name", help="what the token is for, like 'bookkeeping script'")
    commands.add_parser(
        "list-tokens", help="list API tokens", description="List the admin API tokens."
    )
    revoke = commands.add_parser(
        "revoke-token", help="revoke an API token", description="Revoke an admin API token at once."
    )
    revoke.add_argument("token_id", type=int, help="the token's number, from list-tokens")


def run_command(options: argparse.Namespace, config: Config) -> int:
    """Run the console command named by `options.command`; returns the exit status."""
    if options.command == "set-password":
        return set_password_command(config, sys.stdin, sys.stdout, sys.stderr)
    if options.command == "create-token":
        return create_token_command(config, options.name, sys.stdout, sys.stderr)
    if options.command == "list-tokens":
        return list_tokens_command(config, sys.stdout)
    if options.command == "revoke-token":
        return revoke_token_command(config, options.token_id, sys.stdout, sys.stderr)
    raise ValueError(f"not a console command: {options.command!r}")


def read_new_password(stdin: TextIO, prompt: Prompt = getpass.getpass) -> tuple[str, str]:
    """Twice from the terminal without echo; from a pipe, one line (for scripts and tests)."""
    if stdin.isatty():
        return prompt("New console password: "), prompt("The same password again: ")
    line = stdin.readline().rstrip("\r\n")
    return line, line


def set_password_command(
    config: Config, stdin: TextIO, out: TextIO, err: TextIO, prompt: Prompt = getpass.getpass
) -> int:
    password, confirm = read_new_password(stdin, prompt)
    problem = password_problem(password, confirm, ConsoleSettings().min_password_length)
    if problem:
        print(f"paydesk: password not set: {problem}", file=err)
        return 2
    hasher = password_hasher(ConsoleSettings())
    _with_db(config, lambda db: set_password(db, password, hasher))
    print("Console password set. Every signed-in browser is signed out.", file=out)
    return 0


def create_token_command(config: Config, name: str, out: TextIO, err: TextIO) -> int:
    try:
        token, secret = _with_db(config, lambda db: create_api_token(db, name))
    except TokenNameError as exc:
        print(f"paydesk: {exc}", file=err)
        return 2
    print(
        f"Token {token.id} ({token.name}) created. It is shown only now:\n\n  {secret}\n", file=out
    )
    print("Send it as: Authorization: Bearer <token>", file=out)
    return 0


def list_tokens_command(config: Config, out: TextIO) -> int:
    tokens = _with_db(config, list_api_tokens)
    if not tokens:
        print("No API tokens.", file=out)
    for t in tokens:
        state = (
            f"revoked {_day(t.revoked_at)}" if t.revoked_at else f"last used {_day(t.last_used_at)}"
        )
        print(
            f"{t.id:>4}  {t.prefix}…  {t.name}  (created {_day(t.created_at)}, {state})", file=out
        )
    return 0


def revoke_token_command(config: Config, token_id: int, out: TextIO, err: TextIO) -> int:
    if not _with_db(config, lambda db: revoke_api_token(db, token_id)):
        print(
            f"paydesk: there is no live token {token_id}; the list-tokens command shows them",
            file=err,
        )
        return 1
    print(f"Token {token_id} revoked.", file=out)
    return 0


def _day(stamp_ms: int | None) -> str:
    return "never" if stamp_ms is None else utc_minute(stamp_ms)


def _with_db(config: Config, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        async with migrated_database(config.database) as db:
            return await work(db)

    return asyncio.run(run())
