"""Amounts typed on the payment page: the live total reads them as the server does, and Back keeps it true."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from server.money import AmountError, format_amount, parse_amount, typing_rules
from tests.amount_cases import CASES
from tests.browser.flows import fill_order
from tests.browser.harness import Paydesk

STUDIO = "support-the-studio"  # the example catalog's customer-chosen amount: €5.00 to €1,000.00
PARSE = """([typed, data, currency, zero]) => {
  const amounts = window.paydeskAmounts;
  return amounts.parse(typed, amounts.typingRules(data, currency, zero));
}"""


def dataset(currency: str, locale: str) -> dict[str, str]:
    """typing_rules as the page's script sees them in an element's dataset (camelCase names)."""
    camel = {}
    for name, value in typing_rules(currency, locale).items():
        first, *rest = name.split("-")
        camel[first + "".join(part.title() for part in rest)] = value
    return camel


def server_reading(typed: str, currency: str, locale: str) -> dict[str, Any]:
    try:
        return {"minor": parse_amount(typed, currency, locale)}
    except AmountError as exc:
        return {"error": exc.kind, "message": str(exc)}


async def test_the_page_reads_every_amount_in_the_table_as_the_server_does(
    paydesk: Paydesk, page: Page
) -> None:
    await page.goto(paydesk.at("/"))
    for case in CASES:
        zero = format_amount(0, case.currency)
        arguments = [case.typed, dataset(case.currency, case.locale), case.currency, zero]
        in_page = await page.evaluate(PARSE, arguments)
        expected = server_reading(case.typed, case.currency, case.locale)
        assert in_page == expected, case
        assert expected.get("minor", expected.get("error")) == case.expected, case


@pytest.mark.parametrize(
    ("typed", "total", "problem"),
    [
        ("7,50", "€7.50", ""),
        ("12,5", "€12.50", ""),
        ("1.000", "€1,000.00", ""),
        ("1,000.00", "€1,000.00", ""),
        ("1.000,01", None, "Choose an amount from €5.00 to €1,000.00."),
        ("4,99", None, "Choose an amount from €5.00 to €1,000.00."),
        ("-5", None, "Enter the amount without a plus or minus sign, like 7,50."),
        ("1e3", None, "Enter the amount in digits, like 7,50 or 1.234,50."),
        ("4.99999999999999999999999999999", None, "Enter the amount with at most 2 decimals, like 7,50."),
    ],
)  # fmt: skip
async def test_the_total_shows_what_will_be_charged_or_why_not(
    paydesk: Paydesk, page: Page, typed: str, total: str | None, problem: str
) -> None:
    await page.goto(paydesk.at("/"))
    await fill_order(page, STUDIO, amount=typed)
    check = page.locator(f"#amount-{STUDIO}-check")
    await expect(check).to_have_text(problem)
    if problem:
        await expect(page.locator(".order-total")).to_be_hidden()
        await expect(page.locator(f"#amount-{STUDIO}")).to_have_attribute("aria-invalid", "true")
        assert await check.get_attribute("aria-live") == "polite"
    else:
        await expect(page.locator("#total")).to_have_text(total or "")
        await expect(page.locator("#total")).to_be_visible()


async def test_a_decimal_comma_amount_is_charged_as_typed(paydesk: Paydesk, page: Page) -> None:
    await page.goto(paydesk.at("/"))
    await fill_order(page, STUDIO, amount="7,50")
    await expect(page.locator("#total")).to_have_text("€7.50")
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    await expect(page.locator("#summary-title .total")).to_have_text("€7.50")


async def test_after_back_the_total_matches_the_form(paydesk: Paydesk, page: Page) -> None:
    await page.goto(paydesk.at("/"))
    await fill_order(page, "drop-in-class", quantity=3)
    await expect(page.locator("#total")).to_have_text("€45.00")
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")

    await page.go_back()
    await expect(page.locator("#pay-button")).to_be_enabled()
    quantity = page.locator("#quantity-drop-in-class")
    shown = int(await quantity.input_value())
    await expect(page.locator("#total")).to_have_text(format_amount(1500 * shown, "eur"))
    await quantity.fill("2")
    await expect(page.locator("#total")).to_have_text("€30.00")
    await page.locator(f"#product-{STUDIO}").check()
    await page.locator(f"#amount-{STUDIO}").fill("20,00")
    await expect(page.locator("#total")).to_have_text("€20.00")
