"""What a customer does in the browser: fill the payment form, pay on the hosted page, watch the status."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image, ImageChops
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.harness import SCREENSHOTS, TEMPORARY_SCREENSHOTS, Paydesk

VISA = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
THREE_D_SECURE = "4000 0025 0000 3155"
DISPUTED = "4000 0000 0000 0259"
IBAN_SUCCEEDS = "DE89370400440532013000"
IBAN_FAILS = "DE62370400440532013001"
LIVE_TIMEOUT = 15_000  # ms: a pushed change shows up well within this
STATUS_WIDTH = 480  # status screenshots: phone-ish, so they stay small and read well side by side
SAME_PICTURE_PIXELS = 0.002  # share of pixels that may differ before a screenshot counts as changed
PAYMENT_ID = re.compile(r"/payments/(pay_[A-Za-z0-9_-]+)")


async def fill_order(
    page: Page,
    product: str = "drop-in-class",
    *,
    quantity: int | None = None,
    amount: str | None = None,
    name: str = "Ada Lovelace",
    email: str = "ada@example.com",
) -> None:
    await page.locator(f"#product-{product}").check()
    if quantity is not None:
        await page.locator(f"#quantity-{product}").fill(str(quantity))
    if amount is not None:
        await page.locator(f"#amount-{product}").fill(amount)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Email for your receipt").fill(email)


async def start_checkout(page: Page, paydesk: Paydesk, **order: object) -> str:
    """From the payment page to the sandbox's hosted checkout; returns the payment's id."""
    await page.goto(paydesk.at("/"))
    await fill_order(page, **order)  # type: ignore[arg-type]
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    return await payment_id_on_checkout(page)


async def payment_id_on_checkout(page: Page) -> str:
    """The hosted page's "Cancel and go back" link leads to our payment's cancel page."""
    href = await page.get_by_role("link", name="Cancel and go back").get_attribute("href")
    found = PAYMENT_ID.search(href or "")
    assert found, href
    return found.group(1)


async def enter_card(page: Page, number: str, exp: str = "12 / 34", cvc: str = "123") -> None:
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry (MM/YY)").fill(exp.replace(" ", ""))
    await page.get_by_label("CVC").fill(cvc)
    await page.get_by_role("button", name=re.compile(r"^Pay ")).click()


async def pay_by_card(page: Page, number: str = VISA) -> None:
    """Pay on the hosted page and land back on our status page."""
    await enter_card(page, number)
    await page.wait_for_url(re.compile(r"/payments/pay_[^/?]+\?session_id=cs_test_"))


async def pay_by_bank_debit(page: Page, iban: str = IBAN_SUCCEEDS) -> None:
    await page.get_by_text("Pay by bank debit").click()
    await page.get_by_label("Account holder").fill("Ada Lovelace")
    await page.get_by_label("IBAN").fill(iban)
    await page.get_by_role("button", name=re.compile(r"^Debit ")).click()
    await page.wait_for_url(re.compile(r"/payments/pay_[^/?]+\?session_id=cs_test_"))


async def open_status(
    context: BrowserContext, paydesk: Paydesk, payment_id: str, query: str = ""
) -> Page:
    """The customer's status page in a tab of its own, marked so a reload would show."""
    tab = await context.new_page()
    await tab.goto(paydesk.at(f"/payments/{payment_id}{query}"))
    await mark(tab)
    return tab


async def mark(page: Page) -> None:
    """Tag the document: the tag survives live updates and is gone after any reload or navigation."""
    await page.evaluate("window.__sameDocument = true")


async def expect_status(
    page: Page, key: str, title: str | re.Pattern[str], *, unchanged: bool = True
) -> None:
    """The status page shows `key` with `title`, reached by live update (no reload) when `unchanged`."""
    await expect(page.locator("#live-status")).to_have_attribute(
        "data-status", key, timeout=LIVE_TIMEOUT
    )
    await expect(page.locator("#status-title")).to_have_text(title)
    await expect(page.locator("#status")).to_have_class(re.compile(rf"\bstatus-{key}\b"))
    if unchanged:
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def screenshot_folder() -> Path:
    """A temporary folder, so a test run leaves the tree clean; docs/screenshots with UPDATE_SCREENSHOTS=1."""
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else TEMPORARY_SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, name: str, *, width: int | None = None) -> Path:
    """Save a full-page PNG; `width` narrows the viewport for the picture only."""
    path = screenshot_folder() / f"{name}.png"
    size = page.viewport_size
    if width and size and size["width"] != width:
        await page.set_viewport_size({"width": width, "height": size["height"]})
    try:
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        png = await page.screenshot(full_page=True, animations="disabled", caret="hide")
    finally:
        if width and size and size["width"] != width:
            await page.set_viewport_size(size)
    if not looks_the_same(path, png):
        path.write_bytes(png)
    return path


def looks_the_same(path: Path, png: bytes) -> bool:
    """True when `path` holds a picture that differs from `png` in almost no pixel.

    Font hinting and antialiasing move a few pixels from run to run; rewriting a committed picture
    for that would leave the tree dirty after every update for nothing.
    """
    if not path.is_file():
        return False
    with Image.open(path) as old_image, Image.open(io.BytesIO(png)) as new_image:
        old, new = old_image.convert("RGB"), new_image.convert("RGB")
        if old.size != new.size:
            return False
        changed = ImageChops.difference(old, new).convert("L").point(lambda v: 255 if v > 16 else 0)
        histogram = changed.histogram()
    return histogram[255] <= SAME_PICTURE_PIXELS * old.size[0] * old.size[1]


async def status_screenshot(page: Page, state: str) -> Path:
    return await screenshot(page, f"status-{state}", width=STATUS_WIDTH)
