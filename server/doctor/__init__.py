"""`paydesk doctor`: whether this paydesk is ready to take money, one check per line with the fix."""

from __future__ import annotations

from .command import add_doctor_command, run_doctor

__all__ = ["add_doctor_command", "run_doctor"]
