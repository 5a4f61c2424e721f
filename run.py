"""paydesk's command line: serve (the default), migrate, sandbox."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from server.app import MIGRATIONS_FOLDER, SERVER_OPTIONS, create_app
from server.catalog import CatalogError, load_catalog
from server.config import Config, ConfigError, load_config
from server.console.commands import COMMANDS as CONSOLE_COMMANDS
from server.console.commands import add_commands as add_console_commands
from server.console.commands import run_command as run_console_command
from server.db import Database
from server.logs import setup_logging
from server.mail.commands import no_database, resend_receipt, show_outbox


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "sandbox":
        # The standalone sandbox has its own flags and reads no paydesk settings.
        from server.sandbox.cli import main as sandbox_main

        return sandbox_main(args[1:])
    parser = argparse.ArgumentParser(
        prog="python run.py",
        description="paydesk: a self-hosted payment desk. Settings come from the environment and .env "
        "(see docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve", help="run the web server (the default)", description="Run the paydesk web server."
    )
    commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description="Apply pending database migrations.",
    )
    commands.add_parser(
        "outbox",
        help="list mail not delivered yet (pending and failed)",
        description="List pending and failed mail: attempts, next attempt and the last error.",
    )
    resend = commands.add_parser(
        "resend",
        help="send a paid payment's receipt again",
        description="Queue another copy of a paid payment's receipt; a running paydesk sends it.",
    )
    resend.add_argument("payment_id", metavar="PAYMENT_ID")
    commands.add_parser(
        "sandbox",
        help="run the Stripe sandbox on its own (python run.py sandbox --help)",
        add_help=False,
    )
    add_console_commands(commands)
    options = parser.parse_args(args)
    try:
        config = load_config()
        # Fail fast with the product and field named.
        load_catalog(config.catalog_path, config.locale)
    except (ConfigError, CatalogError) as exc:
        print(f"paydesk: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level)
    if options.command not in (None, "serve"):
        # Settings and .env are read as the server reads them; saying which database a
        # command works on shows at once when that is not the server's.
        print(f"paydesk: database {config.database_path}", file=sys.stderr)
        if options.command != "migrate" and not config.database_path.is_file():
            print(f"paydesk: {no_database(config.database_path)}", file=sys.stderr)
            return 1
    if options.command == "migrate":
        return asyncio.run(_migrate(config))
    if options.command in CONSOLE_COMMANDS:
        return run_console_command(options, config)
    if options.command == "outbox":
        return asyncio.run(show_outbox(config))
    if options.command == "resend":
        return asyncio.run(resend_receipt(config, options.payment_id))
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        print=_announce(config),
        loop=_event_loop(),
        # One line per request drowns what an operator acts on (the setup link, errors), so
        # it is only there when asked for. logs.py keeps ids and setup tokens out of it.
        access_log=logging.getLogger("aiohttp.access") if config.access_log else None,
        **SERVER_OPTIONS,
    )
    return 0


async def _migrate(config: Config) -> int:
    db = await Database.open(config.database_path)
    try:
        applied = await db.migrate(MIGRATIONS_FOLDER)
    finally:
        await db.close()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    # uvloop runs the same asyncio code with its loop, sockets and timers in C: about a tenth
    # less CPU per webhook and shorter tails (docs/PERFORMANCE.md). It is not built for Windows.
    if sys.platform == "win32":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


def _announce(config: Config):  # type: ignore[no-untyped-def]
    def announce(_: str) -> None:
        print(
            f"paydesk is running at {config.public_url} (database {config.database_path}; Ctrl+C stops it)"
        )

    return announce


if __name__ == "__main__":
    sys.exit(main())
