"""Checks on this machine: the database file (there, writable, migrated) and the disk under it."""

from __future__ import annotations

import os
import shutil

from ..config import Config
from ..db import Database, DatabaseError, migration_files
from ..package_data import migrations_folder
from ..storage import open_database
from .report import Finding, fail, ok, warn

# Below this, SQLite cannot be trusted to finish a write; the DISK_WARNING_MB warning comes first.
FAIL_BELOW_MB = 50


async def check_database(config: Config, program: str) -> list[Finding]:
    if config.postgresql_url:
        return await _check_postgresql(config, program)
    path = config.database_path
    if not path.is_file():
        return [
            fail(
                "database",
                f"no database at {path}: run `{program} migrate` (or start paydesk once), "
                "or set DATABASE_URL to the server's database",
            )
        ]
    not_writable = [p for p in (path, path.parent) if not os.access(p, os.W_OK)]
    if not_writable:
        # SQLite writes its -wal and -shm files beside the database, so the folder counts too.
        return [
            fail(
                "database",
                f"{', '.join(map(str, not_writable))} is not writable by this user: give the "
                "user paydesk runs as write access to the database file and its folder",
            )
        ]
    return await _check_open(await Database.open(path), str(path), program, "is writable")


async def _check_postgresql(config: Config, program: str) -> list[Finding]:
    where = config.database_label
    try:
        db = await open_database(config.database)
    except DatabaseError as exc:
        return [fail("database", f"{where}: {exc}; check DATABASE_URL and that PostgreSQL runs")]
    return await _check_open(db, where, program, "answers, takes writes")


async def _check_open(db: Database, where: str, program: str, good: str) -> list[Finding]:
    """A test write and the migrations, on a database the check opened (and closes)."""
    try:
        write = await db.check_writes()
        pending = await _pending_migrations(db)
    finally:
        await db.close()
    if not write.writable:
        return [fail("database", f"{where}: a test write failed ({write.problem})")]
    if pending:
        return [
            warn(
                "database",
                f"{where}: {len(pending)} migration(s) not applied yet ({', '.join(pending)}): "
                f"run `{program} migrate` (the server also applies them when it starts)",
            )
        ]
    return [ok("database", f"{where} {good} and is migrated")]


async def _pending_migrations(db: Database) -> list[str]:
    try:
        rows = await db.fetch_all("SELECT version FROM schema_migrations")
    except DatabaseError:  # no such table: no migration was ever applied
        rows = []
    applied = {row[0] for row in rows}
    return [p.name for version, p in migration_files(migrations_folder()) if version not in applied]


def check_disk(config: Config) -> list[Finding]:
    if config.postgresql_url:
        return [ok("disk", "the data is in PostgreSQL: watch its server's disk there")]
    folder = config.database_path.parent
    if not folder.is_dir():
        return []  # the database check already says the database is missing
    free_mb = shutil.disk_usage(folder).free // (1024 * 1024)
    where = f"{free_mb} MB free in {folder}"
    if free_mb < FAIL_BELOW_MB:
        return [fail("disk", f"{where}: free space there; paydesk cannot record payments safely")]
    if config.disk_warning_mb and free_mb < config.disk_warning_mb:
        return [
            warn("disk", f"{where}, below DISK_WARNING_MB={config.disk_warning_mb}: free space")
        ]
    return [ok("disk", where)]
