"""Turning what a customer submitted into a priced order, with prices taken only from the catalog."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .catalog import Catalog, Product
from .money import AmountError, format_amount, parse_amount

# Deliberately plain: one @, a dot in the domain, no spaces. Stripe and the mail server judge the rest.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
MAX_NAME = 100
MAX_EMAIL = 254
API_FIELDS = frozenset({"product", "quantity", "amount", "name", "email"})
# Fields that would let a client name its own price; refused outright rather than ignored.
PRICE_FIELDS = frozenset(
    {"price", "unit_amount", "unit_price", "currency", "total", "amount_total"}
)
T = TypeVar("T")


class InvalidOrder(ValueError):
    """A submitted field is wrong; `field` says which, `message` says what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def errors(self) -> dict[str, str]:
        """Every wrong field and what to do about it."""
        return {self.field: self.message}


class InvalidOrderForm(InvalidOrder):
    """Submitted form fields are wrong: `errors` has them all; `field` and `message` the first."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self._errors = dict(errors)

    @property
    def errors(self) -> dict[str, str]:
        return dict(self._errors)


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
    """The payment page form: `product`, then `quantity-<id>` / `amount-<id>`, name, email.

    The amount is read the way the shop's customers write one (`catalog.locale`), in major units.

    Raises InvalidOrderForm naming every wrong field, so the customer fixes them in one go.
    """
    found = _Errors()
    for field in sorted(PRICE_FIELDS & set(form)):
        found.add(
            InvalidOrder(field, "Prices are set by the shop and cannot be sent with the form.")
        )
    product = found.check(lambda: _product(catalog, form.get("product", "")))
    price = (
        None if product is None else found.check(lambda: _form_price(product, form, catalog.locale))
    )
    name = found.check(lambda: _name(form.get("name", "")))
    email = found.check(lambda: _email(form.get("email", "")))
    if found.errors or product is None or price is None or name is None or email is None:
        raise InvalidOrderForm(found.errors)
    unit_amount, quantity = price
    return Order(product, quantity, unit_amount, name, email)


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
        amount, quantity = _within_bounds(product, raw_amount), 1
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
    return Order(
        product,
        quantity,
        amount,
        _name(name if isinstance(name, str) else ""),
        _email(email if isinstance(email, str) else ""),
    )


class _Errors:
    """Collects what is wrong with a form, one message per field, in the order checked."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, error: InvalidOrder) -> None:
        self.errors.setdefault(error.field, error.message)

    def check(self, read: Callable[[], T]) -> T | None:
        """The value `read` returns, or None with its error noted."""
        try:
            return read()
        except InvalidOrder as error:
            self.add(error)
            return None


def _form_price(product: Product, form: Mapping[str, str], locale: str) -> tuple[int, int]:
    """(unit amount, quantity) from the product's own boxes on the form, amounts read as `locale` writes them."""
    raw_amount = form.get(f"amount-{product.id}", "").strip()
    bounds = product.custom_amount
    if bounds is None:
        if raw_amount:
            raise InvalidOrder("amount", f"The price of {product.name} is set by the shop.")
        return _fixed_price(product), _quantity(product, form.get(f"quantity-{product.id}", "1"))
    if not raw_amount:
        raise InvalidOrder("amount", f"Enter an amount from {_bounds_text(product)}.")
    try:
        amount = parse_amount(raw_amount, product.currency, locale)
    except AmountError as exc:
        raise InvalidOrder("amount", str(exc)) from None
    return _within_bounds(product, amount), 1


def _within_bounds(product: Product, amount: int) -> int:
    bounds = product.custom_amount
    if bounds is not None and not bounds.minimum <= amount <= bounds.maximum:
        raise InvalidOrder("amount", f"Choose an amount from {_bounds_text(product)}.")
    return amount


def _bounds_text(product: Product) -> str:
    bounds = product.custom_amount
    assert bounds is not None  # only asked of products whose customer chooses the amount
    low = format_amount(bounds.minimum, product.currency)
    high = format_amount(bounds.maximum, product.currency)
    return f"{low} to {high}"


def _name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidOrder("name", "Enter your name.")
    if len(name) > MAX_NAME:
        raise InvalidOrder("name", f"Enter a name of at most {MAX_NAME} characters.")
    return name


def _email(raw: str) -> str:
    email = raw.strip()
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise InvalidOrder(
            "email", "Enter an email address like name@example.com, so we can send your receipt."
        )
    return email


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
