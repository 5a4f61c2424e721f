"""A built-in Stripe sandbox: Stripe's API (the part paydesk uses), hosted checkout and webhooks."""

from __future__ import annotations

from .app import create_sandbox_app
from .settings import SandboxSettings

__all__ = ["SandboxSettings", "create_sandbox_app"]
