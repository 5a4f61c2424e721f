"""Helpers that use paydesk's pages the way a browser would: fetch a form, fill it in, post it."""

from __future__ import annotations

import re
from html import unescape

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|form_token)" value="([^"]*)">')
FIELD_ERROR = re.compile(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>')


async def payment_form(client: TestClient, path: str = "/") -> dict[str, str]:
    """The hidden fields of the payment page's form (CSRF and one-time form token)."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return dict(HIDDEN.findall(await response.text()))


async def submit_order(
    client: TestClient,
    product: str = "drop-in-class",
    *,
    hidden: dict[str, str] | None = None,
    **fields: str,
) -> tuple[int, str, str]:
    """Post the payment form like a browser; returns (status, Location header, body)."""
    form = dict(hidden) if hidden is not None else await payment_form(client)
    form.setdefault("product", product)
    form.setdefault("name", "Ada Lovelace")
    form.setdefault("email", "ada@example.com")
    form.update(fields)
    response = await client.post("/checkout", data=form, allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


def field_errors(html: str) -> dict[str, str]:
    return {field: unescape(message) for field, message in FIELD_ERROR.findall(html)}


async def pay_on_hosted_page(
    checkout_url: str, card: str = "4242424242424242", exp: str = "12/34", cvc: str = "123"
) -> tuple[int, str, str]:
    """Pay on the sandbox's hosted checkout page; returns (status, Location, body)."""
    async with ClientSession() as session:
        page = await session.get(checkout_url)
        assert page.status == 200, await page.text()
        response = await session.post(
            checkout_url, data={"card_number": card, "exp": exp, "cvc": cvc}, allow_redirects=False
        )
        return response.status, response.headers.get("Location", ""), await response.text()
