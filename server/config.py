"""The one place paydesk reads its settings: environment and `.env`, validated into a frozen Config."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from dotenv import dotenv_values

from .notify.settings import NotifySettings, NotifySettingsError, notify_settings
from .package_data import example_catalog

EXAMPLE_CATALOG = example_catalog()
STRIPE_API = "https://api.stripe.com"
# The key the app presents to the built-in sandbox, which is given it as its own secret key.
SANDBOX_SECRET_KEY = "sk_test_paydesk_sandbox"  # noqa: S105 - a public test-mode placeholder
# The proxy on this machine: only its forwarded headers say who the client is.
LOOPBACK_PROXIES = (ip_network("127.0.0.1/32"), ip_network("::1/128"))

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # no encryption: only for a relay on this machine or a trusted network


DEFAULT_SMTP_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


class StripeMode(StrEnum):
    SANDBOX = "sandbox"  # the built-in sandbox, mounted in this process under /_sandbox
    STRIPE = "stripe"  # Stripe itself
    CUSTOM = "custom"  # another Stripe-compatible API, e.g. a standalone sandbox


@dataclass(frozen=True)
class ConsoleSettings:
    """The console's own settings: session lifetimes, login throttling, setup links, page sizes.

    Code defaults that suit a small business; tests choose a cheap password hash.
    """

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


@dataclass(frozen=True)
class Config:
    """Every setting paydesk has. Built by `load_config`; tests build their own."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    # Relative paths are relative to the directory paydesk is started in, as `.env` is.
    database_path: Path = Path("var") / "paydesk.db"  # SQLite's file, unless postgresql_url is set
    # DATABASE_URL=postgresql://...: PostgreSQL instead of the SQLite file (may hold a password).
    postgresql_url: str = field(default="", repr=False)
    wal_limit_mb: int = 64  # the writer checkpoints and truncates the WAL when it grows past this
    disk_warning_mb: int = 500  # less free space than this beside the database is a health warning
    catalog_path: Path = EXAMPLE_CATALOG
    stripe_mode: StripeMode = StripeMode.SANDBOX
    stripe_api_base: str = "http://127.0.0.1:8080/_sandbox"
    stripe_secret_key: str = field(default=SANDBOX_SECRET_KEY, repr=False)
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_tolerance: int = 300
    stripe_timeout: float = 20.0
    stripe_max_network_retries: int = 2
    checkout_expiry_minutes: int = 60
    # Seconds between sweeps that look up unconfirmed payments at Stripe (0: never).
    reconcile_interval: int = 300
    # A payment confirmed through Stripe's API with no verified webhook this long after is an alarm.
    webhook_alert_after: int = 600
    checkout_rate_limit: int = 10
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = LOOPBACK_PROXIES
    live_max_connections: int = 20_000
    live_max_per_payment: int = 20
    # Slow clients and floods (web/limits.py, web/body_limit.py): seconds, bytes, counts.
    keepalive_timeout_s: float = 15.0  # without a complete request: idle, or headers trickling in
    body_idle_timeout_s: float = 10.0  # a request body that sends nothing for this long is cut
    body_min_bytes_per_s: int = 4096  # ...and one slower than this on average, after that grace
    max_requests: int = 1000  # in progress at once, in all (not webhooks, health, live sockets)
    max_requests_per_client: int = 50
    max_webhook_requests: int = 200  # Stripe's own pool, which the others cannot use up
    smtp_host: str = ""  # empty: mail is written as .eml files to mail_dir
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_timeout: float = 10.0
    mail_from: str = ""  # empty: the catalog's [shop] contact_email, with the shop's name
    admin_emails: tuple[str, ...] = ()  # empty: the catalog's [shop] contact_email
    mail_dir: Path = Path("var") / "mail"
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    access_log: bool = False
    locale: str = ""  # empty: the usual locale of the catalog's currency (money.default_locale)
    notify: NotifySettings = field(default_factory=NotifySettings)  # docs/notifications.md
    save_payment_methods: bool = False  # Stripe Checkout offers returning customers to save a card

    @property
    def database(self) -> Path | str:
        """Where the data lives: the PostgreSQL URL when one is set, else SQLite's file."""
        return self.postgresql_url or self.database_path

    @property
    def database_label(self) -> str:
        """The database as messages name it: SQLite's path, or the URL with its password hidden."""
        return redact_url(self.postgresql_url) if self.postgresql_url else str(self.database_path)

    @property
    def is_test_mode(self) -> bool:
        """True unless real money can move: only a live key against Stripe itself is live."""
        return not self.stripe_secret_key.startswith(("sk_live_", "rk_live_"))

    @property
    def internal_url(self) -> str:
        """How this process reaches itself: the in-process sandbox and its webhook calls use it."""
        host = self.host
        if host in ("0.0.0.0", "", "*"):  # noqa: S104 - comparing, not binding
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def sandbox_public_url(self) -> str:
        return f"{self.public_url}/_sandbox"

    @property
    def webhook_url(self) -> str:
        return f"{self.internal_url}/webhooks/stripe"


def load_config(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    *,
    fallbacks: Mapping[str, str] | None = None,
) -> Config:
    """Read settings from `environ` (default: the process environment) over an optional `.env` file.

    `fallbacks` fill settings neither gives (the doctor stands in for a webhook secret not made yet).
    """
    values: dict[str, str] = dict(fallbacks or {})
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return _build(_Settings(values))


class _Settings:
    """Typed access to raw string settings; every error names the variable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str, default: str = "") -> str:
        return self._values.get(name, "").strip() or default

    def number(self, name: str, default: T, low: float, high: float, kind: Callable[[str], T]) -> T:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # type: ignore[operator]
            raise ConfigError(f"{name}: expected a number from {low:g} to {high:g}, got {raw!r}")
        return value

    def items(self, name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.text(name).split(",") if item.strip())


def _build(settings: _Settings) -> Config:
    host = settings.text("HOST", "127.0.0.1")
    port = settings.number("PORT", 8080, 1, 65535, int)
    base = Config(host=host, port=port)
    public_url = _public_url(settings.text("PUBLIC_URL"), base.internal_url)
    mode, api_base, secret_key = _stripe_target(settings, base)
    webhook_secrets = _webhook_secrets(settings.items("STRIPE_WEBHOOK_SECRET"), mode)
    return Config(
        host=host,
        port=port,
        public_url=public_url,
        **_database(settings.text("DATABASE_URL", "sqlite:///var/paydesk.db")),
        wal_limit_mb=settings.number("WAL_LIMIT_MB", 64, 1, 4096, int),
        disk_warning_mb=settings.number("DISK_WARNING_MB", 500, 0, 10_000_000, int),
        catalog_path=_catalog_path(settings.text("CATALOG")),
        stripe_mode=mode,
        stripe_api_base=api_base,
        stripe_secret_key=secret_key,
        webhook_secrets=webhook_secrets,
        webhook_tolerance=settings.number("WEBHOOK_TOLERANCE", 300, 10, 3600, int),
        stripe_timeout=settings.number("STRIPE_TIMEOUT", 20.0, 1, 120, float),
        stripe_max_network_retries=settings.number("STRIPE_MAX_NETWORK_RETRIES", 2, 0, 5, int),
        checkout_expiry_minutes=settings.number("CHECKOUT_EXPIRY_MINUTES", 60, 30, 1440, int),
        reconcile_interval=settings.number("RECONCILE_INTERVAL", 300, 0, 86_400, int),
        webhook_alert_after=settings.number("WEBHOOK_ALERT_AFTER", 600, 1, 86_400, int),
        checkout_rate_limit=settings.number("CHECKOUT_RATE_LIMIT", 10, 1, 10_000, int),
        cors_origins=tuple(_cors_origin(o) for o in settings.items("CORS_ORIGINS")),
        trusted_proxies=_trusted_proxies(settings.items("TRUSTED_PROXIES")),
        live_max_connections=settings.number("LIVE_MAX_CONNECTIONS", 20_000, 1, 1_000_000, int),
        live_max_per_payment=settings.number("LIVE_MAX_PER_PAYMENT", 20, 1, 1000, int),
        **_request_limits(settings),
        **_mail_settings(settings),
        log_level=_log_level(settings.text("LOG_LEVEL", "INFO")),
        log_format=_log_format(settings.text("LOG_FORMAT", "text")),
        access_log=_flag(settings.text("ACCESS_LOG", "0"), "ACCESS_LOG"),
        locale=_locale(settings.text("LOCALE")),
        notify=_notify(settings),
        save_payment_methods=_flag(
            settings.text("SAVE_PAYMENT_METHODS", "0"), "SAVE_PAYMENT_METHODS"
        ),
    )


def _public_url(raw: str, default: str) -> str:
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"PUBLIC_URL: expected the address customers use, like https://pay.example.com, got {raw!r}"
        )
    return raw.rstrip("/")


def _database(raw: str) -> dict[str, Any]:
    if raw.startswith(("postgresql://", "postgres://")):
        return {"postgresql_url": _postgresql_url(raw)}
    return {"database_path": _database_path(raw)}


def _database_path(raw: str) -> Path:
    prefix = "sqlite:///"
    if not raw.startswith(prefix) or raw == prefix:
        raise ConfigError(
            "DATABASE_URL: expected sqlite:///relative/path.db, sqlite:////absolute/path.db or "
            f"postgresql://user@host/database, got {raw!r}"
        )
    path = Path(raw[len(prefix) :])
    # Made absolute once, so the path every command prints is the one it opens.
    return path if path.is_absolute() else Path.cwd() / path


def _postgresql_url(raw: str) -> str:
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    no_host = not parts.hostname and "host=" not in parts.query
    if no_host or parts.path in ("", "/") or parts.fragment:
        raise ConfigError(
            "DATABASE_URL: expected postgresql://user:password@host:5432/database "
            f"(a host and a database name), got {redact_url(raw)!r}"
        )
    return raw


def redact_url(url: str) -> str:
    """A database URL fit for logs and messages: its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _catalog_path(raw: str) -> Path:
    if not raw:
        return EXAMPLE_CATALOG
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise ConfigError(f"CATALOG: no file at {path}; point it at your catalog TOML file")
    return path


def _stripe_target(settings: _Settings, base: Config) -> tuple[StripeMode, str, str]:
    key = settings.text("STRIPE_SECRET_KEY")
    api_base = settings.text("STRIPE_API_BASE").rstrip("/")
    if key and not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise ConfigError(
            "STRIPE_SECRET_KEY: expected a secret key starting with sk_test_ or sk_live_ "
            "(Stripe dashboard → Developers → API keys)"
        )
    live = key.startswith(("sk_live_", "rk_live_"))
    if api_base:
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"STRIPE_API_BASE: expected a URL like http://127.0.0.1:12111, got {api_base!r}"
            )
        mode = StripeMode.STRIPE if api_base == STRIPE_API else StripeMode.CUSTOM
        if live and mode is not StripeMode.STRIPE:
            raise ConfigError(
                "STRIPE_SECRET_KEY: a live key (sk_live_) is only used with Stripe itself; "
                "unset STRIPE_API_BASE or use an sk_test_ key"
            )
        return mode, api_base, key or SANDBOX_SECRET_KEY
    if key:
        return StripeMode.STRIPE, STRIPE_API, key
    return StripeMode.SANDBOX, f"{base.internal_url}/_sandbox", SANDBOX_SECRET_KEY


def _webhook_secrets(secrets_given: tuple[str, ...], mode: StripeMode) -> tuple[str, ...]:
    for secret in secrets_given:
        if not secret.startswith("whsec_"):
            raise ConfigError(
                "STRIPE_WEBHOOK_SECRET: expected signing secrets starting with whsec_, "
                "comma-separated during rotation"
            )
    if secrets_given:
        return secrets_given
    if mode is StripeMode.SANDBOX:
        # The in-process sandbox signs with whatever we give it, so a fresh secret per run is enough.
        return (f"whsec_{secrets.token_urlsafe(24)}",)
    raise ConfigError(
        "STRIPE_WEBHOOK_SECRET: required when paydesk talks to Stripe; copy the endpoint's "
        "signing secret (whsec_...) from the Stripe dashboard → Developers → Webhooks"
    )


def _trusted_proxies(items: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    if not items:
        return LOOPBACK_PROXIES
    if items == ("none",):
        return ()
    networks = []
    for item in items:
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                "TRUSTED_PROXIES: expected comma-separated addresses or ranges of the proxies in "
                f"front of paydesk, like 127.0.0.1,::1 or 10.0.0.0/8 (or none), got {item!r}"
            ) from None
    return tuple(networks)


def _request_limits(settings: _Settings) -> dict[str, Any]:
    max_requests = settings.number("MAX_REQUESTS", 1000, 1, 100_000, int)
    per_client = settings.number("MAX_REQUESTS_PER_CLIENT", 50, 1, 100_000, int)
    if per_client > max_requests:
        raise ConfigError(
            f"MAX_REQUESTS_PER_CLIENT: must not exceed MAX_REQUESTS ({max_requests}), got {per_client}"
        )
    return {
        "keepalive_timeout_s": settings.number("KEEPALIVE_TIMEOUT", 15.0, 1, 3600, float),
        "body_idle_timeout_s": settings.number("BODY_IDLE_TIMEOUT", 10.0, 1, 300, float),
        "body_min_bytes_per_s": settings.number("BODY_MIN_RATE", 4096, 16, 100_000_000, int),
        "max_requests": max_requests,
        "max_requests_per_client": per_client,
        "max_webhook_requests": settings.number("MAX_WEBHOOK_REQUESTS", 200, 1, 100_000, int),
    }


def origin_of(url: str) -> str:
    """'https://pay.example.com/x?y' → 'https://pay.example.com': what browsers send as Origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cors_origin(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise ConfigError(
            f"CORS_ORIGINS: expected origins like https://shop.example.com (no path), got {raw!r}"
        )
    return origin_of(raw)


def _mail_settings(settings: _Settings) -> dict[str, Any]:
    raw_security = settings.text("SMTP_SECURITY", "starttls").lower()
    try:
        security = SmtpSecurity(raw_security)
    except ValueError:
        raise ConfigError(
            f"SMTP_SECURITY: expected starttls, tls or none, got {raw_security!r}"
        ) from None
    host = settings.text("SMTP_HOST")
    username = settings.text("SMTP_USERNAME")
    password = settings.text("SMTP_PASSWORD")
    if password and not username:
        raise ConfigError("SMTP_PASSWORD: set SMTP_USERNAME too, or remove the password")
    # Unset, mail comes from the catalog's [shop] contact_email, with the shop's name.
    mail_from = settings.text("MAIL_FROM")
    local, at, domain = parseaddr(mail_from)[1].partition("@")
    if mail_from and not (local and at and domain and "@" not in domain):
        raise ConfigError(
            f"MAIL_FROM: expected an address like 'Shop <pay@example.com>', got {mail_from!r}"
        )
    for address in settings.items("ADMIN_EMAIL"):
        if "@" not in address:
            raise ConfigError(
                f"ADMIN_EMAIL: expected email addresses separated by commas, got {address!r}"
            )
    mail_dir = Path(settings.text("MAIL_DIR", "var/mail")).expanduser()
    return {
        "smtp_host": host,
        "smtp_port": settings.number("SMTP_PORT", DEFAULT_SMTP_PORTS[security], 1, 65535, int),
        "smtp_username": username,
        "smtp_password": password,
        "smtp_security": security,
        "smtp_timeout": settings.number("SMTP_TIMEOUT", 10.0, 1, 120, float),
        "mail_from": mail_from,
        "admin_emails": settings.items("ADMIN_EMAIL"),
        "mail_dir": mail_dir if mail_dir.is_absolute() else Path.cwd() / mail_dir,
    }


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _log_format(raw: str) -> str:
    log_format = raw.strip().lower()
    if log_format not in ("text", "json"):
        raise ConfigError(
            f"LOG_FORMAT: expected text (one readable line per event) or json "
            f"(one JSON object per line), got {raw!r}"
        )
    return log_format


def _flag(raw: str, name: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected 1 or 0 (on or off), got {raw!r}")


def _locale(raw: str) -> str:
    """A locale Babel knows, like de_DE or en_IE; '' lets the catalog's currency decide."""
    if not raw:
        return ""
    try:
        return str(Locale.parse(raw.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ConfigError(
            f"LOCALE: expected a locale like de_DE, fr_FR or en_US, got {raw!r}"
        ) from None


def _notify(settings: _Settings) -> NotifySettings:
    """Signed notifications to the operator's systems (server/notify/settings.py checks them)."""
    try:
        return notify_settings(
            settings.items("NOTIFY_URLS"),
            settings.text("NOTIFY_SECRET"),
            settings.number("NOTIFY_RETRY_BASE", 10.0, 0.1, 3600, float),
        )
    except NotifySettingsError as exc:
        raise ConfigError(str(exc)) from None
