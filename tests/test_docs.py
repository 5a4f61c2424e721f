"""The configuration reference describes every setting paydesk reads, and nothing it does not."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT

SETTING_READ = re.compile(r'(?:text|number|items)\(\s*"([A-Z][A-Z0-9_]+)"')
SETTING_DOCUMENTED = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


def settings_read() -> set[str]:
    return set(SETTING_READ.findall((PROJECT_ROOT / "server" / "config.py").read_text()))


def settings_documented() -> set[str]:
    return set(SETTING_DOCUMENTED.findall((PROJECT_ROOT / "docs" / "configuration.md").read_text()))


def test_every_setting_is_documented() -> None:
    read = settings_read()
    assert len(read) > 20  # the pattern still finds what config.py reads
    assert read - settings_documented() == set()


def test_no_documented_setting_is_made_up() -> None:
    assert settings_documented() - settings_read() == set()


def test_the_quick_start_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:sh|bash|shell)?\n(.*?)\n```", section, re.DOTALL)
    assert len(commands) == 2, commands
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.splitlines()
