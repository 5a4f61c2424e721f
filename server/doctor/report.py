"""One check's verdict (OK, WARN or FAIL) with what it found and what to do, and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    OK = "OK"
    WARN = "WARN"  # works, but not as it should for taking real money
    FAIL = "FAIL"  # payments will not work until this is fixed


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    subject: str  # what was checked, e.g. "database" or "webhook endpoint"
    detail: str  # what was found, and for WARN and FAIL what to do about it

    def line(self) -> str:
        return f"{self.verdict.value:<4}  {self.subject}: {self.detail}"


def ok(subject: str, detail: str) -> Finding:
    return Finding(Verdict.OK, subject, detail)


def warn(subject: str, detail: str) -> Finding:
    return Finding(Verdict.WARN, subject, detail)


def fail(subject: str, detail: str) -> Finding:
    return Finding(Verdict.FAIL, subject, detail)


def exit_status(findings: list[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0
