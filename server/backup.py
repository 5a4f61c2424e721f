"""`paydesk backup PATH`: a checked copy of the live database, into a file or a folder of dated copies."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from .config import Config
from .database_file import migrated_database

# Dated names sort in time order, so the oldest copies are the first names.
STAMP_FORMAT = "%Y%m%d-%H%M%S-%f"
DATED_COPY = re.compile(r"^paydesk-\d{8}-\d{6}-\d{6}\.db$")
PARTIAL_SUFFIX = ".partial"


class BackupRefused(ValueError):
    """The target or the options make no backup possible; the message says what to change."""


class BackupDamaged(RuntimeError):
    """The copy failed SQLite's integrity check; it was removed, the database was not touched."""


def plan_target(path: Path, keep: int | None, now: datetime) -> Path:
    """The file to write: a new dated file in `path` when it is a folder, else `path` itself."""
    if keep is not None and keep < 1:
        raise BackupRefused("--keep must be 1 or more: it is how many dated copies stay")
    if path.is_dir():
        return path / f"paydesk-{now.astimezone(UTC).strftime(STAMP_FORMAT)}.db"
    if keep is not None:
        raise BackupRefused(
            f"--keep needs PATH to be an existing folder, and {path} is not one; create it first"
        )
    if path.exists():
        raise BackupRefused(f"{path} already exists; give a new file name or a folder")
    if not path.parent.is_dir():
        raise BackupRefused(f"the folder {path.parent} does not exist; create it first")
    return path


def dated_copies(folder: Path) -> list[Path]:
    """The dated copies in `folder`, oldest first; other files there are not ours to remove."""
    return sorted(p for p in folder.iterdir() if DATED_COPY.match(p.name) and p.is_file())


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove the oldest dated copies beyond `keep`; the files removed."""
    copies = dated_copies(folder)
    removed = copies[: max(len(copies) - keep, 0)]
    for old in removed:
        old.unlink()
    return removed


async def back_up(config: Config, path: Path, keep: int | None = None) -> Path:
    """Copy the database to `path` (a new file, or a folder of dated copies), checked; the copy's path.

    The copy is written under a `.partial` name and takes its own name only once SQLite's
    integrity check passed, so a file with the final name is always a sound copy.
    """
    if config.postgresql_url:
        raise BackupRefused(
            "paydesk backup copies SQLite's file; this paydesk stores its data in PostgreSQL. "
            "Back that up with PostgreSQL's own tool, e.g. "
            'pg_dump --format=custom --file=paydesk.dump "$DATABASE_URL" (docs/operations.md)'
        )
    target = plan_target(path, keep, datetime.now(UTC))
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)  # left by a backup that was killed mid-way
    try:
        async with migrated_database(config.database_path) as db:
            problems = await db.backup_to(partial)
        if problems:
            raise BackupDamaged(
                f"the copy failed the integrity check and was removed: {'; '.join(problems[:5])}"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    if keep is not None:
        prune(target.parent, keep)
    return target


async def run_backup(config: Config, path: Path, keep: int | None) -> int:
    """The command: back up, say where to, and exit 0; a refusal or a damaged copy exits 1."""
    try:
        target = await back_up(config, path, keep)
    except (BackupRefused, BackupDamaged) as exc:
        print(f"paydesk: backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {target} ({target.stat().st_size} bytes, integrity check ok)")
    return 0
