"""Turning what a customer submitted into a priced order, with prices taken only from the catalog."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog, Product
from .money import format_amount, parse_major

# Deliberately plain: one @, a dot in the domain, no spaces. Stripe and the mail server judge the rest.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
MAX_NAME = 100
MAX_EMAIL = 254
API_FIELDS = frozenset({"product", "quantity", "amount", "name", "email"})
# Fields that would let a client name its own price; refused outright rather than ignored.
PRICE_FIELDS = frozenset(
    {"price", "unit_amount", "unit_price", "currency", "total", "amount_total"}
)


class InvalidOrder(ValueError):
    """A submitted field is wrong; `field` says which, `message` says what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Order:
    product: Product
    quantity: int
    unit_amount: int
    customer_name: str
    customer_email: str

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity

    def fingerprint(self) -> str:
        """Identifies the order's content, so a resubmitted form maps to the same payment."""
        parts = (
            self.product.id,
            self.quantity,
            self.unit_amount,
            self.customer_name,
            self.customer_email,
        )
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def order_from_form(catalog: Catalog, form: Mapping[str, str]) -> Order:
    """The payment page form: `product`, then `quantity-<id>` / `amount-<id>` (major units), name, email."""
    for field in PRICE_FIELDS & set(form):
        raise InvalidOrder(field, "Prices are set by the shop and cannot be sent with the form.")
    product = _product(catalog, form.get("product", ""))
    if product.custom_amount is not None:
        raw = form.get(f"amount-{product.id}", "").strip()
        if not raw:
            raise InvalidOrder("amount", "Enter the amount you want to pay.")
        try:
            amount = parse_major(raw, product.currency)
        except ValueError as exc:
            raise InvalidOrder("amount", str(exc)) from None
        quantity = 1
    else:
        if form.get(f"amount-{product.id}", "").strip():
            raise InvalidOrder("amount", f"The price of {product.name} is set by the shop.")
        amount = _fixed_price(product)
        quantity = _quantity(product, form.get(f"quantity-{product.id}", "1"))
    return _order(product, quantity, amount, form.get("name", ""), form.get("email", ""))


def order_from_json(catalog: Catalog, body: Any) -> Order:
    """The JSON API: `product`, `quantity`, `amount` (minor units, only where the customer chooses), name, email."""
    if not isinstance(body, dict):
        raise InvalidOrder(
            "body", "Send a JSON object with product, quantity or amount, name and email."
        )
    for field in sorted(set(body) - API_FIELDS):
        message = (
            "Prices are set by the shop and cannot be sent."
            if field in PRICE_FIELDS
            else f"Unknown field; send only {', '.join(sorted(API_FIELDS))}."
        )
        raise InvalidOrder(field, message)
    product_id = body.get("product")
    product = _product(catalog, product_id if isinstance(product_id, str) else "")
    raw_amount, raw_quantity = body.get("amount"), body.get("quantity", 1)
    if product.custom_amount is not None:
        if raw_amount is None:
            raise InvalidOrder(
                "amount", "Send the amount the customer chose, in minor units (cents)."
            )
        if not _is_whole(raw_amount):
            raise InvalidOrder(
                "amount", "amount must be a whole number of minor units, like 2500 for 25.00."
            )
        if raw_quantity != 1:
            raise InvalidOrder(
                "quantity",
                f"{product.name} is bought one at a time; send quantity 1 or leave it out.",
            )
        amount, quantity = raw_amount, 1
    else:
        if raw_amount is not None:
            raise InvalidOrder(
                "amount", f"The price of {product.name} is set by the shop; do not send an amount."
            )
        if not _is_whole(raw_quantity):
            raise InvalidOrder("quantity", "quantity must be a whole number.")
        amount = _fixed_price(product)
        quantity = _quantity(product, str(raw_quantity))
    name, email = body.get("name", ""), body.get("email", "")
    return _order(
        product,
        quantity,
        amount,
        name if isinstance(name, str) else "",
        email if isinstance(email, str) else "",
    )


def _order(product: Product, quantity: int, unit_amount: int, name: str, email: str) -> Order:
    bounds = product.custom_amount
    if bounds is not None and not bounds.minimum <= unit_amount <= bounds.maximum:
        low, high = (
            format_amount(bounds.minimum, product.currency),
            format_amount(bounds.maximum, product.currency),
        )
        raise InvalidOrder("amount", f"Choose an amount from {low} to {high}.")
    name = " ".join(name.split())
    if not name:
        raise InvalidOrder("name", "Enter your name.")
    if len(name) > MAX_NAME:
        raise InvalidOrder("name", f"Enter a name of at most {MAX_NAME} characters.")
    email = email.strip()
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise InvalidOrder(
            "email", "Enter an email address like name@example.com, so we can send your receipt."
        )
    return Order(product, quantity, unit_amount, name, email)


def _product(catalog: Catalog, product_id: str) -> Product:
    product = catalog.get(product_id)
    if product is None:
        raise InvalidOrder(
            "product",
            "Choose one of the products on offer."
            if not product_id
            else f"There is no product {product_id!r}.",
        )
    return product


def _fixed_price(product: Product) -> int:
    assert product.unit_amount is not None  # the catalog guarantees a price for non-custom products
    return product.unit_amount


def _quantity(product: Product, raw: str) -> int:
    low, high = product.min_quantity, product.max_quantity
    try:
        quantity = int(raw.strip())
    except ValueError:
        quantity = 0
    if not low <= quantity <= high:
        raise InvalidOrder(
            "quantity",
            f"Choose a quantity from {low} to {high}."
            if low != high
            else f"The quantity is {low}.",
        )
    return quantity


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
