"""paydesk's command line: serve (the default), migrate, the mail and console commands, and sandbox."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from .app import create_app, server_options
from .backup import run_backup
from .catalog import CatalogError, load_catalog
from .config import Config, ConfigError, StripeMode, load_config
from .console.commands import COMMANDS as CONSOLE_COMMANDS
from .console.commands import add_commands as add_console_commands
from .console.commands import run_command as run_console_command
from .console.startup import setup_link_ctx
from .database_file import NoDatabase, apply_migrations, require_database
from .db import DatabaseError
from .doctor import add_doctor_command, run_doctor
from .logs import setup_logging
from .mail.commands import resend_mail, show_outbox
from .notify.commands import show_notifications
from .reconcile import parse_duration
from .reconcile.commands import run_reconcile
from .web.access_log import access_logger_class
from .workers import Supervisor, worker_command

MAX_WORKERS = 64


def main(argv: list[str] | None = None) -> int:
    """Run the command `argv` names (default: the process's arguments); the exit status."""
    args = sys.argv[1:] if argv is None else argv
    program = program_name()
    if args and args[0] == "sandbox":
        # The standalone sandbox has its own flags and reads no paydesk settings.
        from .sandbox.cli import main as sandbox_main

        return sandbox_main(args[1:])
    options = build_parser(program).parse_args(args)
    if options.command == "doctor":
        # The doctor reports broken settings as a failed check instead of stopping at them.
        return run_doctor(options, program)
    try:
        config = load_config()
        # Fail fast with the product and field named.
        load_catalog(config.catalog_path, config.locale)
    except (ConfigError, CatalogError) as exc:
        print(f"paydesk: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    if options.command in (None, "serve"):
        workers = getattr(options, "workers", 1)
        if workers > 1:
            return serve_workers(config, workers)
        return serve(config, worker=getattr(options, "worker", None))
    # Settings and .env are read as the server reads them; saying which database a command
    # works on shows at once when that is not the server's.
    print(f"paydesk: database {config.database_label}", file=sys.stderr)
    try:
        return run_command(options, config)
    except NoDatabase as exc:
        print(
            f"paydesk: {exc}: start paydesk once or run `{program} migrate`, or set DATABASE_URL",
            file=sys.stderr,
        )
        return 1


def program_name() -> str:
    """paydesk as it was started, for help and hints: `paydesk`, `python -m server`, `python run.py`."""
    started = Path(sys.argv[0]).name
    if started == "__main__.py":
        return "python -m server"
    if started.endswith(".py"):
        return f"python {started}"
    return started or "paydesk"


def build_parser(program: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program,
        description="paydesk: a self-hosted payment desk. Settings come from the environment and "
        "from .env in the directory it is started in (see docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_command = commands.add_parser(
        "serve", help="run the web server (the default)", description="Run the paydesk web server."
    )
    serve_command.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="run N server processes sharing the port (needs DATABASE_URL=postgresql://...;"
        " see docs/deploy.md)",
    )
    # Set by the parent of `--workers N` on each process it starts: which one it is ("2/4").
    serve_command.add_argument("--worker", type=_worker_name, help=argparse.SUPPRESS)
    commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description="Create the database if it is not there and apply pending migrations.",
    )
    commands.add_parser(
        "outbox",
        help="list mail not delivered yet (pending and failed)",
        description="List pending and failed mail: attempts, next attempt and the last error.",
    )
    notifications = commands.add_parser(
        "notifications",
        help="list notifications to your systems that are failing (see docs/notifications.md)",
        description="List deliveries to NOTIFY_URLS or a product's notify_url that are being"
        " retried after a failed attempt or were given up on, with the last answer.",
    )
    notifications.add_argument(
        "--redeliver",
        metavar="WHICH",
        help="send again: 'given-up' for every delivery given up on, or one notification id",
    )
    resend = commands.add_parser(
        "resend",
        help="send a payment's receipt, or another of its mails, again",
        description="Queue another copy of a mail queued for this payment before (the receipt"
        " unless --kind says otherwise); a running paydesk sends it.",
    )
    resend.add_argument("payment_id", metavar="PAYMENT_ID")
    resend.add_argument(
        "--kind",
        default="receipt",
        metavar="KIND",
        help="receipt, operator_new_payment, processing_notice, async_failed_customer,"
        " async_failed_operator, refund_confirmation, dispute_alert, dispute_closed or"
        " webhook_alarm",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the database while paydesk runs, checked (see docs/operations.md)",
        description="Write a consistent copy of the database, safe while paydesk serves, and "
        "check it with SQLite's integrity check. PATH is a new file, or an existing folder "
        "that gets a copy named for the time (UTC).",
    )
    backup.add_argument("path", metavar="PATH", type=Path)
    backup.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="with a folder: keep the newest N dated copies there and remove older ones",
    )
    reconcile = commands.add_parser(
        "reconcile",
        help="apply Stripe events that never arrived as webhooks (see docs/webhooks-and-live-status.md)",
        description="Ask Stripe for the events of the last days and apply those paydesk has not"
        " seen, exactly as a webhook would; safe to run any time, and again.",
    )
    reconcile.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="how far back, e.g. 90m, 12h or 3d (default: since the last verified webhook;"
        " at most the 30 days Stripe keeps)",
    )
    commands.add_parser(
        "sandbox",
        help=f"run the Stripe sandbox on its own ({program} sandbox --help)",
        add_help=False,
    )
    add_console_commands(commands)
    add_doctor_command(commands)
    return parser


def run_command(options: argparse.Namespace, config: Config) -> int:
    """Run a command other than serve; raises NoDatabase when it needs a database that is not there."""
    if options.command == "migrate":
        applied = asyncio.run(apply_migrations(config.database))
        print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
        return 0
    # Checked before any command starts, so set-password refuses before asking for a password.
    require_database(config.database)
    if options.command in CONSOLE_COMMANDS:
        return run_console_command(options, config)
    if options.command == "outbox":
        return asyncio.run(show_outbox(config))
    if options.command == "notifications":
        return asyncio.run(show_notifications(config, options.redeliver))
    if options.command == "resend":
        return asyncio.run(resend_mail(config, options.payment_id, options.kind))
    if options.command == "backup":
        return asyncio.run(run_backup(config, options.path, options.keep))
    if options.command == "reconcile":
        return asyncio.run(run_reconcile(config, options.since))
    raise ValueError(f"not a paydesk command: {options.command!r}")


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def serve(config: Config, *, worker: str | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; `worker` ("2/4") when started by serve_workers."""
    web.run_app(
        _app_for(config, worker),
        host=config.host,
        port=config.port,
        # Workers each open a socket on the one port; the kernel spreads connections among them.
        reuse_port=worker is not None,
        print=_announce(config, worker),
        loop=_event_loop(),
        # One line per request drowns what an operator acts on (the setup link, errors), so
        # it is only there when asked for. logs.py keeps ids and setup tokens out of it.
        access_log=logging.getLogger("aiohttp.access") if config.access_log else None,
        # Behind a trusted proxy each line names the client, as the limiters do, not the proxy.
        access_log_class=access_logger_class(config.trusted_proxies),
        **server_options(config),
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    # uvloop runs the same asyncio code with its loop, sockets and timers in C: about a tenth
    # less CPU per webhook and shorter tails (docs/PERFORMANCE.md). It is not built for Windows.
    if sys.platform == "win32":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


async def _app_for(config: Config, worker: str | None) -> web.Application:
    app = await create_app(config)
    if worker is not None and not worker.startswith("1/"):
        # Each new console setup link replaces the one before: only the first worker offers one,
        # so the one link printed is the one that works.
        app.cleanup_ctx.remove(setup_link_ctx)
    return app


def serve_workers(config: Config, count: int) -> int:
    """`serve --workers N`: N processes on the one port, kept running by this one (workers.py)."""
    if not config.postgresql_url:
        print(
            f"paydesk: --workers {count} needs PostgreSQL (DATABASE_URL=postgresql://...). On"
            " SQLite each process would show live status only to the pages connected to it and"
            " would send mail as if it were alone, and SQLite takes one writer at a time anyway:"
            " run one process, or see docs/deploy.md",
            file=sys.stderr,
        )
        return 2
    if config.stripe_mode is StripeMode.SANDBOX:
        print(
            f"paydesk: --workers {count} cannot use the built-in Stripe sandbox: each worker"
            " would hold a sandbox of its own, and a customer's next request may reach another"
            f" worker. Run the standalone one (`{program_name()} sandbox`) and set STRIPE_API_BASE"
            " to its URL, or set STRIPE_SECRET_KEY",
            file=sys.stderr,
        )
        return 2
    if not hasattr(socket, "SO_REUSEPORT"):
        print(f"paydesk: --workers needs SO_REUSEPORT, which {sys.platform} lacks", file=sys.stderr)
        return 2
    # Migrated once here, so the workers start on a schema that is already in place.
    try:
        applied = asyncio.run(apply_migrations(config.database))
    except DatabaseError as exc:
        print(f"paydesk: database {config.database_label}: {exc}", file=sys.stderr)
        return 1
    if applied:
        print(f"paydesk: applied {len(applied)} migration(s): {', '.join(applied)}")
    print(
        f"paydesk is running at {config.public_url} with {count} workers"
        f" (database {config.database_label}; Ctrl+C stops it)",
        flush=True,
    )
    supervisor = Supervisor(lambda n: worker_command(n, count), count, say=_say)
    return supervisor.run()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _worker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to {MAX_WORKERS}")
    return int(text)


def _worker_name(text: str) -> str:
    number, _, count = text.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise argparse.ArgumentTypeError("expected N/COUNT")
    return text


def _announce(config: Config, worker: str | None) -> Callable[[str], None]:
    def announce(_: str) -> None:
        if worker is not None:
            print(f"paydesk: worker {worker} is serving at {config.public_url}", flush=True)
            return
        print(
            f"paydesk is running at {config.public_url} (database {config.database_label};"
            " Ctrl+C stops it)"
        )

    return announce
