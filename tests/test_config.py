"""Settings: defaults, Stripe mode selection, and a one-line error naming the variable for bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.config import EXAMPLE_CATALOG, ConfigError, StripeMode, load_config
from tests.conftest import PROJECT_ROOT as ROOT

LIVE = "sk_live_" + "x" * 24
TEST = "sk_test_" + "x" * 24
WHSEC = "whsec_" + "y" * 24


def test_defaults_run_on_the_built_in_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config({}, env_file=None)
    assert (config.host, config.port, config.public_url) == (
        "127.0.0.1",
        8080,
        "http://127.0.0.1:8080",
    )
    # var/ is in the directory paydesk is started in, as .env is: an installed paydesk has no
    # project folder, and one started elsewhere must not write into the package.
    assert config.database_path == tmp_path / "var" / "paydesk.db"
    assert config.mail_dir == tmp_path / "var" / "mail"
    assert config.catalog_path == EXAMPLE_CATALOG
    assert EXAMPLE_CATALOG.is_file()
    assert config.stripe_mode is StripeMode.SANDBOX
    assert config.stripe_api_base == "http://127.0.0.1:8080/_sandbox"
    assert config.is_test_mode
    assert config.webhook_secrets[0].startswith("whsec_")


@pytest.mark.parametrize(
    ("env", "mode", "api_base"),
    [
        (
            {"STRIPE_SECRET_KEY": TEST, "STRIPE_WEBHOOK_SECRET": WHSEC},
            StripeMode.STRIPE,
            "https://api.stripe.com",
        ),
        (
            {"STRIPE_SECRET_KEY": LIVE, "STRIPE_WEBHOOK_SECRET": WHSEC},
            StripeMode.STRIPE,
            "https://api.stripe.com",
        ),
        (
            {"STRIPE_API_BASE": "http://127.0.0.1:12111/", "STRIPE_WEBHOOK_SECRET": WHSEC},
            StripeMode.CUSTOM,
            "http://127.0.0.1:12111",
        ),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, StripeMode.SANDBOX, "http://127.0.0.1:9000/_sandbox"),  # noqa: S104
    ],
)
def test_stripe_mode_follows_the_key_and_api_base(
    env: dict[str, str], mode: StripeMode, api_base: str
) -> None:
    config = load_config(env, env_file=None)
    assert config.stripe_mode is mode
    assert config.stripe_api_base == api_base


def test_live_key_is_live_mode() -> None:
    config = load_config({"STRIPE_SECRET_KEY": LIVE, "STRIPE_WEBHOOK_SECRET": WHSEC}, env_file=None)
    assert not config.is_test_mode


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"PORT": "eighty"}, "PORT", "number from 1 to 65535"),
        ({"PORT": "70000"}, "PORT", "number from 1 to 65535"),
        ({"PUBLIC_URL": "pay.example.com"}, "PUBLIC_URL", "https://pay.example.com"),
        ({"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL", "sqlite:///"),
        ({"CATALOG": "/nonexistent/catalog.toml"}, "CATALOG", "no file"),
        ({"STRIPE_SECRET_KEY": "pk_test_abc"}, "STRIPE_SECRET_KEY", "sk_test_"),
        ({"STRIPE_SECRET_KEY": TEST}, "STRIPE_WEBHOOK_SECRET", "whsec_"),
        (
            {"STRIPE_SECRET_KEY": TEST, "STRIPE_WEBHOOK_SECRET": "secret"},
            "STRIPE_WEBHOOK_SECRET",
            "whsec_",
        ),
        (
            {
                "STRIPE_SECRET_KEY": LIVE,
                "STRIPE_API_BASE": "http://127.0.0.1:12111",
                "STRIPE_WEBHOOK_SECRET": WHSEC,
            },
            "STRIPE_SECRET_KEY",
            "live key",
        ),
        ({"STRIPE_API_BASE": "ftp://x"}, "STRIPE_API_BASE", "URL"),
        ({"CHECKOUT_EXPIRY_MINUTES": "5"}, "CHECKOUT_EXPIRY_MINUTES", "30 to 1440"),
        ({"CORS_ORIGINS": "https://shop.example.com/path"}, "CORS_ORIGINS", "no path"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "DEBUG"),
        ({"WEBHOOK_TOLERANCE": "-1"}, "WEBHOOK_TOLERANCE", "10 to 3600"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(
    env: dict[str, str], variable: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env, env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert hint in message
    assert "\n" not in message


def test_secrets_never_appear_in_the_config_repr() -> None:
    config = load_config({"STRIPE_SECRET_KEY": TEST, "STRIPE_WEBHOOK_SECRET": WHSEC}, env_file=None)
    assert TEST not in repr(config)
    assert WHSEC not in repr(config)


def test_webhook_secrets_rotate_as_a_comma_separated_list() -> None:
    other = "whsec_" + "z" * 24
    config = load_config(
        {"STRIPE_SECRET_KEY": TEST, "STRIPE_WEBHOOK_SECRET": f"{WHSEC}, {other}"}, env_file=None
    )
    assert config.webhook_secrets == (WHSEC, other)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('PORT=9100\nPUBLIC_URL="https://pay.example.com/"\n')
    config = load_config({"PORT": "9200"}, env_file=env_file)
    assert config.port == 9200
    assert config.public_url == "https://pay.example.com"


def test_a_bad_setting_stops_start_up_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORT": "nope"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "paydesk: PORT: expected a number from 1 to 65535, got 'nope'"
    ]


def test_mail_from_is_optional_with_an_smtp_host() -> None:
    """Unset, mail comes from the catalog's shop (docs/mail.md): nothing to refuse at start-up."""
    config = load_config({"SMTP_HOST": "mail.example"}, env_file=None)
    assert (config.smtp_host, config.mail_from) == ("mail.example", "")


@pytest.mark.parametrize("value", ["pay@", "Shop <shop>", "x@y@z"])
def test_a_mail_from_without_a_whole_address_is_refused(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"MAIL_FROM": value}, env_file=None)
    assert str(caught.value).startswith("MAIL_FROM: expected an address like")


def test_relative_paths_are_made_absolute_from_the_start_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(
        {"DATABASE_URL": "sqlite:///data/shop.db", "MAIL_DIR": "outgoing"}, env_file=None
    )
    assert config.database_path == tmp_path / "data" / "shop.db"
    assert config.mail_dir == tmp_path / "outgoing"
