"""Where notifications go and how they are signed and retried: NOTIFY_URLS, NOTIFY_SECRET, NOTIFY_RETRY_BASE."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlsplit

DEFAULT_RETRY_BASE_S = 10.0
RETRY_FOR_S = 24 * 60 * 60  # retries double from the base for a day, then the delivery gives up
TIMEOUT_S = 10.0  # one attempt: connect, send, and the receiver's answer
MIN_SECRET_LENGTH = 16
MAX_URL_LENGTH = 2000


class NotifySettingsError(ValueError):
    """A notification setting is wrong; the message names the variable and the fix."""


@dataclass(frozen=True)
class NotifySettings:
    """The notification settings; without a secret nothing is sent."""

    urls: tuple[str, ...] = ()  # every product's notifications, unless it names its own notify_url
    secret: str = field(default="", repr=False)
    retry_base_s: float = (
        DEFAULT_RETRY_BASE_S  # the first retry; each later one waits twice as long
    )
    retry_for_s: float = RETRY_FOR_S
    timeout_s: float = TIMEOUT_S

    @property
    def enabled(self) -> bool:
        return bool(self.secret)


def notify_settings(urls: tuple[str, ...], secret: str, retry_base_s: float) -> NotifySettings:
    """The settings read from the environment, checked; NotifySettingsError names what is wrong."""
    for url in urls:
        problem = url_problem(url)
        if problem:
            raise NotifySettingsError(f"NOTIFY_URLS: {problem}")
    if urls and not secret:
        raise NotifySettingsError(
            "NOTIFY_SECRET: required when NOTIFY_URLS is set; choose a random value of at least"
            f" {MIN_SECRET_LENGTH} characters and give the same one to the receiving systems"
        )
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise NotifySettingsError(
            f"NOTIFY_SECRET: use at least {MIN_SECRET_LENGTH} random characters"
            " (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return NotifySettings(urls=urls, secret=secret, retry_base_s=retry_base_s)


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive notifications, or None: https, or http to this machine only."""
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"expected an https:// URL like https://orders.example.com/paydesk, got {url[:100]!r}"
        )
    if parts.username or parts.password or parts.fragment:
        return f"a notification URL carries no user, password or #fragment: {url[:100]!r}"
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return (
            f"{url[:100]!r} is plain http: notifications carry customers' names and emails,"
            " so they go over https (http only to this machine: 127.0.0.1, ::1 or localhost)"
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
