"""Numbered SQL migrations: applied in order, recorded, each all or nothing; `run.py migrate`."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server.db import Database, migration_files
from server.package_data import migrations_folder
from tests.conftest import PROJECT_ROOT


async def test_all_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "p.db")
    try:
        applied = await db.migrate(migrations_folder())
        assert applied == [path.name for _, path in migration_files(migrations_folder())]
        assert applied[0] == "0001_initial.sql"
        assert await db.migrate(migrations_folder()) == []
        rows = await db.fetch_all("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [row["name"] for row in rows] == applied
        assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    finally:
        await db.close()


async def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_broken.sql").write_text(
        "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    db = await Database.open(tmp_path / "p.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
            await db.migrate(folder)
        names = [
            row[0]
            for row in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert "a" in names and "b" not in names
        assert [row[0] for row in await db.fetch_all("SELECT version FROM schema_migrations")] == [
            1
        ]
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["1_initial.sql"], "named like 0001_initial.sql"),
        (["0001_a.sql", "0001_b.sql"], "also used by"),
    ],
)
def test_misnamed_or_duplicate_migrations_are_errors(
    tmp_path: Path, names: list[str], problem: str
) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(ValueError, match=problem):
        migration_files(tmp_path)


def test_run_py_migrate(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    first = subprocess.run(
        [sys.executable, "run.py", "migrate"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert first.stdout.startswith("applied ")
    assert "0001_initial.sql" in first.stdout
    second = subprocess.run(
        [sys.executable, "run.py", "migrate"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert second.stdout.strip() == "applied 0 migration(s): none pending"


def test_run_py_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "run.py", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for command in ("serve", "migrate", "sandbox"):
        assert command in result.stdout
