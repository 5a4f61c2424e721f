"""The systemd units in docs/deploy.md, checked by systemd-analyze without a running systemd."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy_helpers import DEPLOY, install

SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
PAYDESK = "/opt/paydesk/bin/paydesk"
ENV_FILE = "/etc/paydesk/paydesk.env"
# Each unit on the page follows the path it is installed at.
UNIT = re.compile(r"`/etc/systemd/system/([\w.-]+)`:\n\n```ini\n(.*?)```", re.S)


def documented_units() -> dict[str, str]:
    units = dict(UNIT.findall(DEPLOY.read_text()))
    assert set(units) == {"paydesk.service", "paydesk-backup.service", "paydesk-backup.timer"}
    return units


@pytest.fixture
def unit_files(tmp_path: Path) -> list[Path]:
    """The documented units in a temp folder, their paydesk and settings file made real there."""
    install(SYSTEMD_ANALYZE, "systemd")
    paydesk = tmp_path / "bin" / "paydesk"
    paydesk.parent.mkdir()
    paydesk.write_text("#!/bin/sh\nexit 0\n")
    paydesk.chmod(0o755)
    env_file = tmp_path / "paydesk.env"
    env_file.write_text("HOST=127.0.0.1\n")
    paths = []
    for name, text in documented_units().items():
        path = tmp_path / "units" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text.replace(PAYDESK, str(paydesk)).replace(ENV_FILE, str(env_file)))
        paths.append(path)
    return paths


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SYSTEMD_ANALYZE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_units_have_no_errors_or_unknown_settings(unit_files: list[Path]) -> None:
    # systemd-analyze answers 0 for unknown keys and unparsable values (it ignores them, as
    # systemd would), so anything it says at all is a failure.
    result = analyze("verify", "--man=no", "--generators=no", *map(str, unit_files))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_missing_paydesk_is_reported(unit_files: list[Path], tmp_path: Path) -> None:
    """The check above looks at ExecStart's program, so it would catch a wrong install path."""
    (tmp_path / "bin" / "paydesk").unlink()
    result = analyze("verify", "--man=no", "--generators=no", *map(str, unit_files))
    assert result.returncode != 0
    assert "is not executable" in result.stderr


def test_the_timer_starts_the_documented_backup_service() -> None:
    # A timer starts the service of its own name; systemd-analyze does not check it exists.
    units = documented_units()
    assert "Unit=" not in units["paydesk-backup.timer"]
    assert "Type=oneshot" in units["paydesk-backup.service"]
    assert f"ExecStart={PAYDESK} backup " in units["paydesk-backup.service"]


def test_the_service_is_sandboxed(unit_files: list[Path]) -> None:
    # systemd rates a unit's exposure from 0 (locked down) to 10 (unsafe); --threshold is in
    # tenths. The documented hardening rates 3.2 on Debian 12's systemd; dropping ProtectSystem,
    # ProtectHome and PrivateDevices alone takes it to 3.8.
    service = next(path for path in unit_files if path.name == "paydesk.service")
    result = analyze("security", "--offline=yes", "--man=no", "--threshold=35", str(service))
    assert result.returncode == 0, result.stdout + result.stderr
