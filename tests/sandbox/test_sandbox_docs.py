"""docs/sandbox.md describes every setting, flag, control route and test number there is."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from server.sandbox import SandboxSettings, create_sandbox_app
from server.sandbox.cli import build_parser
from server.sandbox.instruments import PAYMENT_METHOD_TOKENS, TEST_CARDS, TEST_IBANS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text()


def test_every_setting_is_documented(docs: str) -> None:
    missing = [f.name for f in fields(SandboxSettings) if f"| `{f.name}` |" not in docs]
    assert not missing, f"docs/sandbox.md does not describe the settings {missing}"


def test_every_flag_is_documented(docs: str) -> None:
    flags = [
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]
    missing = [flag for flag in flags if f"`{flag}`" not in docs]
    assert not missing, f"docs/sandbox.md does not describe the flags {missing}"


def test_every_control_route_is_documented(docs: str) -> None:
    app = create_sandbox_app(SandboxSettings())
    routes = {
        f"`{route.method} {route.resource.canonical}`"
        for route in app.router.routes()
        if route.name
        and route.name.startswith("control.")
        and route.resource is not None
        and route.method != "HEAD"
    }
    missing = sorted(route for route in routes if route.replace("{event_id}", "{id}") not in docs)
    assert not missing, f"docs/sandbox.md does not describe {missing}"


def test_every_test_number_and_token_is_documented(docs: str) -> None:
    numbers = [*TEST_CARDS, *TEST_IBANS, *PAYMENT_METHOD_TOKENS]
    missing = [number for number in numbers if f"`{number}`" not in docs]
    assert not missing, f"docs/sandbox.md does not list {missing}"
