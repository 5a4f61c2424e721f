"""Pages people can use and trust: labels, contrast, focus, weight, nothing from other sites, no script needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Request, expect

from tests.browser.audit import Weigher, audit, focus_ring
from tests.browser.flows import DECLINED, VISA, enter_card, fill_order, pay_by_card, start_checkout
from tests.browser.harness import DESKTOP, Paydesk, Problems, watch

MAX_PAGE_BYTES = 100_000  # HTML + CSS + JS of one page, as transferred


async def customer_pages(paydesk: Paydesk, page: Page) -> dict[str, str]:
    """One of each customer-facing page, the hosted checkout included, by name."""
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url
    return {
        "payment page": paydesk.at("/"),
        "payment page, custom amount": paydesk.at("/?product=support-the-studio"),
        "hosted checkout": checkout_url,
        "status page": paydesk.at(f"/payments/{payment_id}"),
        "cancel page": paydesk.at(f"/payments/{payment_id}/cancelled"),
        "not found page": paydesk.at("/payments/pay_no_such_payment"),
    }


async def test_labels_names_and_contrast_on_every_page(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 404")
    problems.allow("status of 400")
    found: dict[str, list[str]] = {}
    for name, url in (await customer_pages(paydesk, page)).items():
        await page.goto(url)
        found[name] = await audit(page)
    # The states with most on them: errors beside the fields, and a decline on the hosted page.
    await page.goto(paydesk.at("/?product=support-the-studio"))
    await fill_order(page, "support-the-studio", amount="1", name=" ", email="ada@")
    await page.locator("#pay-form").evaluate(
        "form => form.noValidate = true"
    )  # let the server judge
    await page.get_by_role("button", name="Continue to secure payment").click()
    await expect(page.locator(".field-error").first).to_be_visible()
    found["payment page with errors"] = await audit(page)
    await start_checkout(page, paydesk)
    await enter_card(page, DECLINED)
    await expect(page.get_by_role("alert")).to_be_visible()
    found["hosted checkout, declined"] = await audit(page)
    await pay_by_card(page, VISA)
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "succeeded")
    found["status page, paid"] = await audit(page)
    assert {name: problems_found for name, problems_found in found.items() if problems_found} == {}


async def test_each_field_error_sits_beside_its_field(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 400")
    await page.goto(paydesk.at("/"))
    await page.locator("#pay-form").evaluate(
        "form => form.noValidate = true"
    )  # let the server judge
    await fill_order(page, quantity=9)
    for field, fix in [("quantity-drop-in-class", "2"), ("email", None)]:
        if field == "email":
            await page.get_by_label("Email for your receipt").fill("ada@")
            await page.locator("#pay-form").evaluate("form => form.noValidate = true")
        await page.get_by_role("button", name="Continue to secure payment").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "Please check the highlighted field below."
        )
        box = page.locator(f"#{field}")
        await expect(box).to_have_attribute("aria-invalid", "true")
        await expect(box).to_have_attribute("aria-describedby", f"{field}-error")
        error = page.locator(f"#{field}-error")
        await expect(error).to_be_visible()
        box_bottom = await box.bounding_box() or {"y": 0, "height": 0}
        error_top = (await error.bounding_box() or {"y": 1e9})["y"]
        assert 0 <= error_top - (box_bottom["y"] + box_bottom["height"]) < 24, (
            field
        )  # right under it
        await expect(page.get_by_label("Your name")).to_have_value(
            "Ada Lovelace"
        )  # kept, not retyped
        if fix:
            await box.fill(fix)


async def test_every_focusable_element_shows_where_the_focus_is(
    paydesk: Paydesk, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    for url in [
        paydesk.at("/?product=support-the-studio"),
        page.url,
        paydesk.at(f"/payments/{payment_id}"),
    ]:
        await page.goto(url)
        unseen = []
        for _ in range(25):
            await page.keyboard.press("Tab")
            ring = await focus_ring(page)
            if ring is None:
                break
            if not ring["visible"]:
                unseen.append(ring["name"])
        assert unseen == [], url


async def test_pages_weigh_under_100_kb_and_load_nothing_from_other_sites(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 404")
    elsewhere: list[str] = []

    def check_origin(request: Request) -> None:
        if not request.url.startswith((paydesk.url + "/", "data:")):
            elsewhere.append(request.url)

    page.on("request", check_origin)
    pages = await customer_pages(paydesk, page)
    weigher = Weigher(page)
    weights = {}
    for name, url in pages.items():
        weigher.reset()
        await page.goto(url, wait_until="networkidle")
        weights[name], parts = await weigher.total()
        assert weights[name] < MAX_PAGE_BYTES, (name, parts)
    assert elsewhere == []
    assert all(weight > 1000 for weight in weights.values()), weights  # something was measured


@pytest_asyncio.fixture(loop_scope="session")
async def no_script(browser: Browser, problems: Problems) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    context.set_default_timeout(10_000)
    watch(context, problems)
    try:
        yield context
    finally:
        await context.close()


async def test_paying_works_without_javascript(paydesk: Paydesk, no_script: BrowserContext) -> None:
    page = await no_script.new_page()
    await page.goto(paydesk.at("/?product=support-the-studio"))
    await expect(page.locator(".presets")).to_be_hidden()  # the suggestions need the script
    await expect(page.locator("#amount-support-the-studio")).to_have_value("10,00")
    await fill_order(page, "support-the-studio", amount="12.50")
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    await expect(page.get_by_role("heading", name="Pay €12.50")).to_be_visible()
    await pay_by_card(page)
    refresh = page.get_by_role("link", name="Refresh this page")
    for _ in range(20):  # what a person does without live updates: refresh until it is paid
        if await page.locator("#status-title").text_content() == "Paid":
            break
        await asyncio.sleep(0.25)
        await refresh.click()
    await expect(page.locator("#status-title")).to_have_text("Paid")
    await expect(refresh).to_be_visible()
