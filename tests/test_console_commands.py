"""The console's commands: set-password (terminal or stdin) and API tokens, against a real database."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest

from server.config import Config
from server.console.api_tokens import find_api_token
from server.console.commands import (
    create_token_command,
    list_tokens_command,
    revoke_token_command,
    set_password_command,
)
from server.console.sessions import check_password, open_session
from server.database_file import apply_migrations
from server.db import Database

PASSWORD = "a long and memorable passphrase"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def query(config: Config, work):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        db = await Database.open(config.database_path)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A migrated database, as `migrate` or a first start leaves it: the commands create none."""
    asyncio.run(apply_migrations(tmp_path / "paydesk.db"))
    return Config(database_path=tmp_path / "paydesk.db")


def test_set_password_reads_a_pipe_and_signs_everyone_out(config: Config) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert set_password_command(config, io.StringIO(PASSWORD + "\n"), out, err) == 0
    assert "Console password set" in out.getvalue()
    assert query(config, lambda db: check_password(db, PASSWORD)) is True
    query(config, lambda db: open_session(db, "laptop"))
    assert set_password_command(config, io.StringIO("another long passphrase\n"), out, err) == 0
    assert query(config, lambda db: db.fetch_all("SELECT * FROM console_sessions")) == []
    stored = query(config, lambda db: db.fetch_one("SELECT password_hash FROM console_credentials"))
    assert stored[0].startswith("$argon2id$")
    assert "another long passphrase" not in stored[0]


def test_set_password_asks_twice_on_a_terminal(config: Config) -> None:
    answers = iter([PASSWORD, PASSWORD + "!"])
    err = io.StringIO()
    status = set_password_command(
        config, Terminal(), io.StringIO(), err, prompt=lambda _: next(answers)
    )
    assert status == 2
    assert "The two passwords are not the same." in err.getvalue()
    answers = iter([PASSWORD, PASSWORD])
    assert (
        set_password_command(config, Terminal(), io.StringIO(), err, prompt=lambda _: next(answers))
        == 0
    )


def test_a_short_password_is_refused(config: Config) -> None:
    err = io.StringIO()
    assert set_password_command(config, io.StringIO("short\n"), io.StringIO(), err) == 2
    assert "at least 12 characters" in err.getvalue()


def test_tokens_are_created_listed_and_revoked(config: Config) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert create_token_command(config, "bookkeeping", out, err) == 0
    secret = re.search(r"(pdk_\S+)", out.getvalue())
    assert secret
    token = query(config, lambda db: find_api_token(db, secret.group(1)))
    assert token is not None
    listing = io.StringIO()
    list_tokens_command(config, listing)
    assert "bookkeeping" in listing.getvalue()
    assert secret.group(1) not in listing.getvalue()
    assert revoke_token_command(config, token.id, io.StringIO(), err) == 0
    assert query(config, lambda db: find_api_token(db, secret.group(1))) is None
    assert revoke_token_command(config, token.id, io.StringIO(), err) == 1
    assert create_token_command(config, "", io.StringIO(), err) == 2
