"""Where paydesk's own files are once installed: templates, static files, migrations, the example catalog."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "server"


def templates_folder() -> Path:
    return _installed("templates")


def static_folder() -> Path:
    return _installed("static")


def migrations_folder() -> Path:
    return _installed("migrations")


def example_catalog() -> Path:
    return _installed("catalog.example.toml")


def _installed(name: str) -> Path:
    # Jinja's loader, aiohttp's static route and the migration runner read real files, and the
    # package is installed as files (a wheel, an editable install or a checkout), never as a zip.
    # In a checkout the folders are symlinks to the top-level ones; a wheel holds copies.
    resource = files(PACKAGE) / name
    if not isinstance(resource, Path) or not resource.exists():
        raise FileNotFoundError(
            f"paydesk's {name} is missing from the installed package ({resource}); "
            "reinstall paydesk with `python -m pip install .`"
        )
    return resource
