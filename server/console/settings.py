"""The console's own settings: session lifetimes, login throttling, setup links, page sizes."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher


@dataclass(frozen=True)
class ConsoleSettings:
    """Defaults suit a small business; `setup_console(app, settings)` takes others (tests do)."""

    session_idle_seconds: int = 30 * 60  # signed out after this long without a request
    session_max_seconds: int = (
        12 * 60 * 60
    )  # signed out this long after signing in, whatever happens
    login_failures: int = 5  # wrong passwords per client within the window before 429
    login_window_seconds: int = 15 * 60
    setup_link_seconds: int = 60 * 60  # how long the one-time setup link printed at start works
    page_size: int = 50  # payments per page of the list
    min_password_length: int = 12
    # argon2id cost of hashing a new password (argon2-cffi's defaults, RFC 9106's low-memory
    # profile); a stored hash keeps the costs it was made with, so verifying needs no setting.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4

    def __post_init__(self) -> None:
        for name in ("session_idle_seconds", "session_max_seconds", "login_failures", "page_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConsoleSettings.{name}: must be at least 1")
        if self.session_idle_seconds > self.session_max_seconds:
            raise ValueError(
                "ConsoleSettings.session_idle_seconds: must not exceed session_max_seconds"
            )

    def password_hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.argon2_time_cost,
            memory_cost=self.argon2_memory_kib,
            parallelism=self.argon2_parallelism,
        )
