"""'My payments' in a browser: the whole path through the mail, one email's payments only, live."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, Page, expect

from server.web.keys import db_key
from tests.browser.audit import audit
from tests.browser.conftest import SMTP_PORT
from tests.browser.flows import LIVE_TIMEOUT, mark, pay_by_card, start_checkout
from tests.browser.harness import Paydesk, Problems
from tests.smtp_server import SmtpServer

WITH_MAIL = pytest.mark.paydesk_env(
    SMTP_HOST="127.0.0.1", SMTP_PORT=str(SMTP_PORT), SMTP_SECURITY="none"
)
LINK = re.compile(r"(http://\S+/my-payments/link/[A-Za-z0-9_-]+)")


async def sign_in_link(smtp: SmtpServer, to: str) -> str:
    """The link in the newest sign-in mail to `to`."""
    for _ in range(200):
        mails = [
            m for m in smtp.accepted if m["To"] == to and "link to your payments" in m["Subject"]
        ]
        if mails:
            body = mails[-1].get_body(preferencelist=("plain",))
            assert body is not None
            found = LINK.search(body.get_content())
            assert found
            return found.group(1)
        await smtp.wait_for(len(smtp.accepted) + 1, timeout=10)
    raise AssertionError(f"no sign-in mail to {to}")


async def ask_for_link(page: Page, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.locator("#link-sent")).to_contain_text(email)


@WITH_MAIL
async def test_find_my_payments_through_the_mail(
    page: Page, context: BrowserContext, paydesk: Paydesk, smtp: SmtpServer, problems: Problems
) -> None:
    problems.allow("status of 410 (Gone)")  # the used link's page is answered 410, on purpose
    mine = await start_checkout(page, paydesk, product="ten-class-pass", email="ada@example.com")
    await pay_by_card(page)
    theirs = await start_checkout(page, paydesk, email="grace@example.com", name="Grace Hopper")
    await pay_by_card(page)

    await page.goto(paydesk.at("/"))
    await page.get_by_role("link", name="Find my payments").click()
    found = {"form": await audit(page)}
    await ask_for_link(page, "ada@example.com")
    found["link sent"] = await audit(page)
    link = await sign_in_link(smtp, "ada@example.com")

    await page.goto(link)
    found["the link's page"] = await audit(page)
    await page.get_by_role("button", name="Show my payments").click()
    await expect(page.get_by_role("heading", name="Your payments")).to_be_visible()
    found["the list"] = await audit(page)
    assert found == {name: [] for name in found}  # labels, names, contrast, one h1
    item = page.locator(f'[data-payment="{mine[:12]}"]')
    await expect(item).to_contain_text("10-class pass")
    await expect(item.locator("[data-status]")).to_have_text(re.compile("paid", re.I))
    assert await page.locator(f'[data-payment="{theirs[:12]}"]').count() == 0
    assert "grace@example.com" not in await page.content()

    # Live, like the status page: a refund at Stripe shows without a reload.
    await mark(page)
    await paydesk.refund(mine)
    await expect(item).to_have_attribute("data-status", "refunded", timeout=LIVE_TIMEOUT)
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    await item.get_by_role("button", name="Send the receipt again").click()
    await expect(page.get_by_role("status")).to_contain_text("copy of the receipt")

    # The link worked once: opened again, it says so and offers a new one.
    other = await context.new_page()
    await other.goto(link)
    await expect(other.locator("#link-problem")).to_contain_text("already used")
    await ask_for_link(other, "ada@example.com")


@WITH_MAIL
async def test_an_expired_link_says_so_and_offers_a_new_one(
    page: Page, paydesk: Paydesk, smtp: SmtpServer, problems: Problems
) -> None:
    problems.allow("status of 410 (Gone)")  # the expired link's page is answered 410, on purpose
    await page.goto(paydesk.at("/my-payments"))
    await ask_for_link(page, "nobody@example.com")
    link = await sign_in_link(smtp, "nobody@example.com")
    await paydesk.app[db_key].write(
        lambda conn: conn.execute("UPDATE customer_links SET expires_at = 0")
    )
    await page.goto(link)
    await expect(page.locator("#link-problem")).to_contain_text("has expired")
    await expect(page.get_by_role("button", name="Email me a link")).to_be_visible()
