"""The `doctor` subcommand: its flags, the checks in order, the report and the exit status."""

from __future__ import annotations

import argparse
import asyncio
from email.headerregistry import Address

from ..catalog import Catalog, CatalogError, load_catalog
from ..config import Config, ConfigError, StripeMode, load_config
from ..mail.compose import from_address
from ..stripe_gateway import open_stripe_client
from . import local, stripe_checks
from .report import Finding, Verdict, exit_status, fail, ok
from .smtp import check_smtp
from .stripe_checks import Created

# Stands in for a missing STRIPE_WEBHOOK_SECRET so the other checks can run (and the endpoint,
# which is where the secret comes from, can be created). It never signs or verifies anything.
_NO_SECRET_YET = "whsec_doctor_placeholder_not_a_secret"  # noqa: S105 - a stand-in
_MISSING_SECRET = "STRIPE_WEBHOOK_SECRET: required"  # noqa: S105 - an error message


def add_doctor_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check that paydesk is ready to take money",
        description="Check settings, database, disk, the Stripe key and webhook endpoint, and "
        "SMTP; one line per check (OK, WARN or FAIL) with what to do. Exit status 0 when "
        "nothing FAILs. Sends no mail unless --send-test-mail is given.",
    )
    doctor.add_argument(
        "--create-webhook-endpoint",
        action="store_true",
        help="create the webhook endpoint PUBLIC_URL/webhooks/stripe with the events paydesk "
        "needs, and print its signing secret once",
    )
    doctor.add_argument(
        "--send-test-mail",
        metavar="ADDRESS",
        type=_address,
        help="also send a test message to ADDRESS through SMTP",
    )


def _address(raw: str) -> str:
    try:
        address = Address(addr_spec=raw.strip())
    except (ValueError, IndexError):
        address = None
    if address is None or not address.username or "." not in address.domain:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an email address like you@example.com")
    return address.addr_spec


def run_doctor(options: argparse.Namespace, program: str) -> int:
    """Run every check, print one line each as it finishes; 0 when nothing FAILed."""
    return asyncio.run(_doctor(options, program))


async def _doctor(options: argparse.Namespace, program: str) -> int:
    findings: list[Finding] = []

    def report(*found: Finding) -> None:
        for finding in found:
            findings.append(finding)
            print(finding.line(), flush=True)

    loaded = _load_settings()
    if isinstance(loaded, Finding):
        report(loaded)
        return _summary(findings)
    config, catalog, missing_secret = loaded
    report(ok("settings", f"valid; catalog {config.catalog_path}"))
    if missing_secret and not options.create_webhook_endpoint:
        report(
            fail(
                "settings",
                "STRIPE_WEBHOOK_SECRET is not set: run "
                f"`{program} doctor --create-webhook-endpoint` to create the endpoint and get "
                "its signing secret, or copy it from the Stripe dashboard → Developers → Webhooks",
            )
        )
    report(*stripe_checks.check_mode(config))
    report(*await local.check_database(config, program))
    report(*local.check_disk(config))
    report(*await _check_stripe(config, options.create_webhook_endpoint, program))
    sender = from_address(config, catalog.shop)
    report(*await check_smtp(config, sender, options.send_test_mail))
    return _summary(findings)


def _load_settings() -> tuple[Config, Catalog, bool] | Finding:
    missing_secret = False
    try:
        try:
            config = load_config()
        except ConfigError as exc:
            if not str(exc).startswith(_MISSING_SECRET):
                raise
            config = load_config(fallbacks={"STRIPE_WEBHOOK_SECRET": _NO_SECRET_YET})
            missing_secret = True
        catalog = load_catalog(config.catalog_path, config.locale)
    except (ConfigError, CatalogError) as exc:
        return fail("settings", f"{exc} (see docs/configuration.md)")
    return config, catalog, missing_secret


async def _check_stripe(config: Config, creating: bool, program: str) -> list[Finding]:
    if config.stripe_mode is StripeMode.SANDBOX:
        if creating:
            return [
                fail(
                    "webhook endpoint",
                    "nothing to create: the built-in sandbox delivers to paydesk by itself; set "
                    "STRIPE_SECRET_KEY (and PUBLIC_URL) first",
                )
            ]
        return []  # check_mode already said the sandbox is in use
    findings: list[Finding] = []
    async with open_stripe_client(config) as client:
        listed = await stripe_checks.list_endpoints(config, client)
        if listed.problem is not None:
            return [listed.problem]
        findings.append(stripe_checks.key_works(config))
        endpoints = listed.found
        if creating:
            result = await stripe_checks.create_endpoint(config, client, endpoints)
            if isinstance(result, Created):
                _print_secret(config, result, program)
                endpoints = (await stripe_checks.list_endpoints(config, client)).found
            else:
                findings.append(result)
        findings.extend(stripe_checks.check_endpoint(config, endpoints, program))
        if any(f.subject == "webhook endpoint" and f.verdict is Verdict.OK for f in findings):
            findings.append(await stripe_checks.check_deliveries(client))
    return findings


def _print_secret(config: Config, created: Created, program: str) -> None:
    url = stripe_checks.webhook_url(config)
    print(
        "\n".join(
            [
                "",
                f"Created webhook endpoint {created.endpoint_id} for {url}.",
                "Its signing secret is shown this once; Stripe will not show it again here:",
                "",
                f"    STRIPE_WEBHOOK_SECRET={created.secret}",
                "",
                "Put this line in paydesk's environment or its .env file (replacing any older",
                "value), then restart paydesk. Until then paydesk refuses this endpoint's events",
                f"and Stripe retries them. Then run `{program} doctor` again.",
                "",
            ]
        ),
        flush=True,
    )


def _summary(findings: list[Finding]) -> int:
    failed = sum(1 for f in findings if f.verdict is Verdict.FAIL)
    warned = sum(1 for f in findings if f.verdict is Verdict.WARN)
    if failed:
        print(f"\n{failed} check(s) FAILED: paydesk is not ready to take money.")
    elif warned:
        print(f"\nNo failures, {warned} warning(s): read them before going live.")
    else:
        print("\nEverything is ready to take money.")
    return exit_status(findings)
