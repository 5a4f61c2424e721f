"""The sandbox's state in one place: settings, stored objects, timers and the webhook outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from .outbox import Outbox
from .settings import SandboxSettings
from .store import Store
from .timers import Timers


@dataclass
class Sandbox:
    settings: SandboxSettings
    store: Store = field(default_factory=Store)
    timers: Timers = field(default_factory=Timers)
    outbox: Outbox = field(default_factory=Outbox)
