"""The standalone sandbox: `paydesk sandbox ...` runs server.sandbox.cli.main."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import fields
from pathlib import Path

import aiohttp
import pytest
import stripe
from sandbox_helpers import free_port

from server.sandbox import SandboxSettings
from server.sandbox.cli import KNOBS, banner, build_parser, main, settings_from

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from server.sandbox.cli import main; sys.exit(main(sys.argv[1:]))"


async def _read_banner(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(10):
        while not any("Test cards" in line for line in lines):
            line = await process.stdout.readline()
            if not line:
                raise AssertionError("the sandbox exited early:\n" + "".join(lines))
            lines.append(line.decode())
    return "".join(lines)


async def _wait_until_listening(url: str) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(10):
        while True:
            try:
                async with http.get(url + "/") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)


async def test_the_standalone_sandbox_serves_the_sdk() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        "--port",
        str(port),
        "--retry-base-delay",
        "0.5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = await _read_banner(process)
        base = f"http://127.0.0.1:{port}"
        assert "TEST MODE" in banner
        assert f"STRIPE_API_BASE={base}" in banner
        secret = re.search(r"STRIPE_WEBHOOK_SECRET=(whsec_\w+)", banner)
        assert secret is not None
        assert len(secret.group(1)) > 20
        key = re.search(r"STRIPE_SECRET_KEY=(sk_test_\w+)", banner)
        assert key is not None  # generated: nobody else's key works on it
        assert re.search(r"Publishable key: +pk_test_\w{20,}", banner)
        await _wait_until_listening(base)
        http_client = stripe.AIOHTTPClient()
        client = stripe.StripeClient(
            key.group(1), base_addresses={"api": base}, http_client=http_client
        )
        try:
            with pytest.raises(stripe.AuthenticationError):
                await stripe.StripeClient(
                    "sk_test_cli", base_addresses={"api": base}, http_client=http_client
                ).v1.events.list_async()
            intent = await client.v1.payment_intents.create_async(
                {
                    "amount": 1000,
                    "currency": "eur",
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                }
            )
            assert intent.status == "succeeded"
        finally:
            await http_client.close_async()
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            await process.wait()
        if process.stdout is not None:
            await process.stdout.read()
    assert process.returncode == 0


def test_every_setting_has_a_flag() -> None:
    flags = {action.dest for action in build_parser()._actions}

    settable = {f.name for f in fields(SandboxSettings)}
    # webhook_secrets is --webhook-secret (repeatable); the rest keep their names.
    assert settable - {"webhook_secrets"} <= flags
    assert "webhook_secret" in flags
    assert {knob.field for knob in KNOBS} <= settable


def test_help_describes_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--public-url",
        "--webhook-url",
        "--webhook-secret",
        "--delivery",
        "--delivery-seed",
        "--time-scale",
    ):
        assert flag in text


def test_a_bad_setting_is_an_error_that_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--duplicate-rate", "2"])
    assert exited.value.code == 2
    assert "duplicate_rate: must be between 0 and 1" in capsys.readouterr().err


def test_secret_key_fixes_the_key_and_the_banner_shows_it() -> None:
    args = build_parser().parse_args(["--secret-key", "sk_test_fixed_key_1234"])
    settings = settings_from(args, ("whsec_0123456789",))
    assert settings.secret_key == "sk_test_fixed_key_1234"
    assert settings.publishable_key.startswith("pk_test_")
    text = banner(settings, generated_secret=False)
    assert "STRIPE_SECRET_KEY=sk_test_fixed_key_1234" in text
    assert settings.publishable_key in text
    # Without the flag, every start makes a key of its own.
    generated = settings_from(build_parser().parse_args([]), ("whsec_0123456789",))
    assert (
        generated.secret_key
        != settings_from(build_parser().parse_args([]), ("whsec_x1234567",)).secret_key
    )


def test_a_key_that_is_not_a_test_secret_key_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--secret-key", "sk_live_abcdef"])
    assert exited.value.code == 2
    assert "secret_key: 'sk_live_'... is not an sk_test_ key" in capsys.readouterr().err
