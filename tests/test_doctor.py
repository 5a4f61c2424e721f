"""`paydesk doctor`: a standalone sandbox over HTTP and a real SMTP server, checked as an operator would."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe

from server.database_file import apply_migrations
from server.lifecycle import HANDLED_TYPES
from tests.conftest import PROJECT_ROOT, free_port, wait_until_ok
from tests.smtp_server import SmtpServer
from tests.standalone import standalone_sandbox

KEY = "sk_test_doctor_account_key"
API_VERSION = stripe.api_version
EVERY_EVENT = sorted(HANDLED_TYPES)


@dataclass
class Doctor:
    returncode: int
    output: str

    def line(self, subject: str) -> str:
        """The first line about `subject`, e.g. "FAIL  webhook endpoint: ..."."""
        for line in self.output.splitlines():
            if line[6:].startswith(subject + ":"):
                return line
        raise AssertionError(f"no line about {subject!r} in:\n{self.output}")

    def verdicts(self) -> list[str]:
        return [line.split()[0] for line in self.output.splitlines() if line[:4] in _VERDICTS]


_VERDICTS = ("OK  ", "WARN", "FAIL")


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """A standalone sandbox that knows one key, as a Stripe account does; no endpoint yet."""
    with standalone_sandbox(secret_key=KEY) as url:
        yield url


@pytest.fixture
async def stripe_client(sandbox_url: str) -> AsyncIterator[stripe.StripeClient]:
    await wait_until_ok(sandbox_url + "/v1/webhook_endpoints", {"Authorization": f"Bearer {KEY}"})
    http_client = stripe.AIOHTTPClient()
    yield stripe.StripeClient(KEY, base_addresses={"api": sandbox_url}, http_client=http_client)
    await http_client.close_async()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def settings(
    tmp_path: Path, sandbox_url: str, smtp: SmtpServer, app_env: dict[str, str]
) -> dict[str, str]:
    """A paydesk set up for real money in all but the key: migrated database, SMTP, Stripe."""
    await apply_migrations(tmp_path / "paydesk.db")
    return {
        **app_env,
        "PUBLIC_URL": f"http://127.0.0.1:{app_env['PORT']}",
        "STRIPE_API_BASE": sandbox_url,
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_WEBHOOK_SECRET": "whsec_set_by_the_operator_0123",
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_USERNAME": "desk",
        "SMTP_PASSWORD": "mail-password",
        "MAIL_FROM": "Shop <shop@example.com>",
        "DISK_WARNING_MB": "0",
    }


async def doctor(settings: dict[str, str], *args: str, cwd: Path) -> Doctor:
    """Run `python -m server doctor` as an operator would, in a folder without a .env."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "doctor",
        *args,
        cwd=cwd,
        env={**environment, **settings, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return Doctor(process.returncode, output.decode())


async def create_endpoint(
    client: stripe.StripeClient, settings: dict[str, str], **overrides: Any
) -> stripe.WebhookEndpoint:
    params: dict[str, Any] = {
        "url": settings["PUBLIC_URL"] + "/webhooks/stripe",
        "enabled_events": EVERY_EVENT,
        "api_version": API_VERSION,
        **overrides,
    }
    return await client.v1.webhook_endpoints.create_async(params)  # type: ignore[arg-type]


async def test_a_healthy_setup_is_all_ok(
    stripe_client: stripe.StripeClient,
    settings: dict[str, str],
    smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    await create_endpoint(stripe_client, settings)
    result = await doctor(settings, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert set(result.verdicts()) == {"OK"}, result.output
    for subject in ("settings", "mode", "database", "disk", "stripe key", "webhook endpoint"):
        assert result.line(subject).startswith("OK")
    assert "webhook API version" in result.output
    assert "logged in as desk" in result.line("mail")
    assert smtp.logins == [("desk", "mail-password")]
    assert smtp.accepted == []  # no mail unless asked for


async def test_a_test_mail_is_sent_only_when_asked(
    stripe_client: stripe.StripeClient,
    settings: dict[str, str],
    smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    await create_endpoint(stripe_client, settings)
    result = await doctor(settings, "--send-test-mail", "ada@example.com", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert result.line("test mail").startswith("OK")
    [message] = await smtp.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "paydesk test message"


async def test_a_bad_test_mail_address_is_refused_before_anything_runs(
    settings: dict[str, str], smtp: SmtpServer, tmp_path: Path
) -> None:
    result = await doctor(settings, "--send-test-mail", "not-an-address", cwd=tmp_path)
    assert result.returncode == 2
    assert "'not-an-address' is not an email address" in result.output
    assert smtp.connections == 0


async def test_no_endpoint_fails_and_names_the_command_that_creates_it(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    await create_endpoint(stripe_client, settings, url="https://elsewhere.example/hook")
    result = await doctor(settings, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("webhook endpoint")
    assert line.startswith("FAIL")
    assert f"no endpoint sends events to {settings['PUBLIC_URL']}/webhooks/stripe" in line
    assert "https://elsewhere.example/hook" in line
    assert "--create-webhook-endpoint" in line


async def test_a_missing_event_type_fails_and_names_it(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    events = [t for t in EVERY_EVENT if t not in ("refund.failed", "charge.dispute.created")]
    endpoint = await create_endpoint(stripe_client, settings, enabled_events=events)
    result = await doctor(settings, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("webhook events")
    assert line.startswith("FAIL")
    assert f"{endpoint.id} does not send charge.dispute.created, refund.failed" in line


async def test_a_disabled_endpoint_fails(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    endpoint = await create_endpoint(stripe_client, settings)
    await stripe_client.v1.webhook_endpoints.update_async(endpoint.id, {"disabled": True})
    result = await doctor(settings, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("webhook endpoint")
    assert line.startswith("FAIL")
    assert f"{endpoint.id} for {settings['PUBLIC_URL']}/webhooks/stripe is disabled" in line
    assert "enable it" in line


async def test_an_api_version_paydesk_does_not_read_fails(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    await create_endpoint(stripe_client, settings, api_version="2020-08-27")
    result = await doctor(settings, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("webhook API version")
    assert line.startswith("FAIL")
    assert f"API version 2020-08-27; paydesk reads {API_VERSION}" in line


async def test_a_wrong_key_fails_and_says_where_the_right_one_is(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    await create_endpoint(stripe_client, settings)
    result = await doctor(
        {**settings, "STRIPE_SECRET_KEY": "sk_test_another_account"}, cwd=tmp_path
    )
    assert result.returncode == 1
    line = result.line("stripe key")
    assert line.startswith("FAIL")
    assert "Stripe refused STRIPE_SECRET_KEY" in line
    assert "Developers → API keys" in line
    assert "sk_test_another_account" not in result.output  # the key itself is never printed


async def test_smtp_down_fails_and_names_the_settings(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    await create_endpoint(stripe_client, settings)
    result = await doctor({**settings, "SMTP_PORT": str(free_port())}, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("mail")
    assert line.startswith("FAIL")
    assert "cannot connect to 127.0.0.1" in line
    assert "SMTP_HOST, SMTP_PORT" in line


async def test_a_missing_database_fails_with_the_command_that_makes_it(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    await create_endpoint(stripe_client, settings)
    missing = tmp_path / "elsewhere" / "paydesk.db"
    result = await doctor({**settings, "DATABASE_URL": f"sqlite:///{missing}"}, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("database")
    assert line.startswith("FAIL")
    assert f"no database at {missing}: run `python -m server migrate`" in line
    assert not missing.exists()  # the doctor creates nothing


async def test_a_live_key_needs_an_https_public_url(
    settings: dict[str, str], tmp_path: Path
) -> None:
    live = {**settings, "STRIPE_SECRET_KEY": "sk_live_doctor"}
    del live["STRIPE_API_BASE"]  # a live key is only used with Stripe itself
    live["STRIPE_TIMEOUT"] = "1"
    result = await doctor(live, cwd=tmp_path)
    assert result.returncode == 1
    line = result.line("mode")
    assert line.startswith("FAIL")
    assert "live payments need an https:// PUBLIC_URL" in line


async def test_create_endpoint_prints_the_secret_once_and_then_doctor_is_ok(
    stripe_client: stripe.StripeClient, settings: dict[str, str], tmp_path: Path
) -> None:
    without_secret = {k: v for k, v in settings.items() if k != "STRIPE_WEBHOOK_SECRET"}
    before = await doctor(without_secret, cwd=tmp_path)
    assert before.returncode == 1
    assert "FAIL  settings: STRIPE_WEBHOOK_SECRET is not set" in before.output
    assert before.line("webhook endpoint").startswith("FAIL")

    created = await doctor(without_secret, "--create-webhook-endpoint", cwd=tmp_path)
    assert created.returncode == 0, created.output
    [secret_line] = [
        line.strip() for line in created.output.splitlines() if "STRIPE_WEBHOOK_SECRET=" in line
    ]
    secret = secret_line.removeprefix("STRIPE_WEBHOOK_SECRET=")
    assert secret.startswith("whsec_")
    assert "shown this once" in created.output

    [endpoint] = (await stripe_client.v1.webhook_endpoints.list_async()).data
    assert endpoint.url == settings["PUBLIC_URL"] + "/webhooks/stripe"
    assert sorted(endpoint.enabled_events) == EVERY_EVENT
    assert endpoint.api_version == API_VERSION

    after = await doctor({**settings, "STRIPE_WEBHOOK_SECRET": secret}, cwd=tmp_path)
    assert after.returncode == 0, after.output
    assert set(after.verdicts()) == {"OK"}, after.output

    again = await doctor(settings, "--create-webhook-endpoint", cwd=tmp_path)
    assert "already sends to" in again.line("webhook endpoint")
    assert "STRIPE_WEBHOOK_SECRET=" not in again.output
    assert len((await stripe_client.v1.webhook_endpoints.list_async()).data) == 1


def test_the_doctor_page_lists_every_event_type_paydesk_needs() -> None:
    page = (PROJECT_ROOT / "docs" / "doctor.md").read_text()
    assert [t for t in EVERY_EVENT if f"`{t}`" not in page] == []
