"""The operator's product catalog: a TOML file loaded and validated once at start-up."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .money import MAX_AMOUNT, default_locale, typing_rules
from .notify.settings import url_problem

PRODUCT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CURRENCY = re.compile(r"^[a-z]{3}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_QUANTITY = 999
# A product's metadata goes into each notification about its payments: Stripe's limits for its own.
METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_METADATA = 50
MAX_METADATA_VALUE = 500

SHOP_KEYS = {"name", "contact_email", "website", "logo_url", "accent_color"}
PRODUCT_KEYS = {
    "id", "name", "description", "currency", "unit_amount", "min_quantity", "max_quantity",
    "custom_amount", "next_step_url", "next_step_label", "notify_url", "metadata",
}  # fmt: skip
CUSTOM_KEYS = {"minimum", "maximum", "presets"}


class CatalogError(ValueError):
    """The catalog file is wrong; the message names the product and the field."""


@dataclass(frozen=True)
class CustomAmount:
    minimum: int
    maximum: int
    presets: tuple[int, ...]


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    description: str
    currency: str
    unit_amount: int | None  # None when the customer chooses the amount
    min_quantity: int
    max_quantity: int
    custom_amount: CustomAmount | None
    next_step_url: str | None
    next_step_label: str
    # Where this product's notifications go instead of NOTIFY_URLS (docs/notifications.md).
    notify_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def amount_rules(self, locale: str) -> dict[str, str]:
        """The amount box's data attributes: how to read what is typed, and the allowed range."""
        rules = typing_rules(self.currency, locale)
        if self.custom_amount:
            rules["minimum"] = str(self.custom_amount.minimum)
            rules["maximum"] = str(self.custom_amount.maximum)
        return rules


@dataclass(frozen=True)
class Shop:
    name: str
    contact_email: str
    website: str | None
    logo_url: str | None
    accent_color: str | None


@dataclass(frozen=True)
class Catalog:
    shop: Shop
    products: tuple[Product, ...]
    locale: str  # how customers write numbers: the LOCALE setting, else the currency's usual

    def get(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)


def load_catalog(path: Path, locale: str = "") -> Catalog:
    """Read and validate the catalog; CatalogError names the file, product and field on failure.

    `locale` is the LOCALE setting; empty means the usual locale of the first product's currency.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_catalog(data, locale)
    except CatalogError as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


def parse_catalog(data: Mapping[str, Any], locale: str = "") -> Catalog:
    unknown = set(data) - {"shop", "products"}
    if unknown:
        raise CatalogError(
            f"unknown section {sorted(unknown)[0]!r}; expected [shop] and [[products]]"
        )
    shop = _shop(_table(data.get("shop"), "[shop]"))
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise CatalogError("no products: add at least one [[products]] table")
    products: list[Product] = []
    for index, raw in enumerate(raw_products, start=1):
        product = _product(_table(raw, f"product #{index}"), index)
        if any(p.id == product.id for p in products):
            raise CatalogError(f'product "{product.id}": id is used twice; ids must be unique')
        products.append(product)
    return Catalog(
        shop=shop, products=tuple(products), locale=locale or default_locale(products[0].currency)
    )


def _table(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: expected a table")
    return raw


def _shop(raw: Mapping[str, Any]) -> Shop:
    _no_unknown(raw, SHOP_KEYS, "[shop]")
    field = _Fields(raw, "[shop]")
    color = field.text("accent_color", required=False)
    if color and not COLOR.match(color):
        raise CatalogError(f'[shop]: accent_color must look like "#1f6f5c", got {color!r}')
    email = field.text("contact_email")
    if "@" not in email:
        raise CatalogError(f"[shop]: contact_email must be an email address, got {email!r}")
    logo = field.text("logo_url", required=False)
    if logo and not (logo.startswith("/static/") or _is_web_url(logo)):
        raise CatalogError("[shop]: logo_url must be an https:// URL or a path under /static/")
    return Shop(
        name=field.text("name", limit=80),
        contact_email=email,
        website=field.url("website"),
        logo_url=logo or None,
        accent_color=color or None,
    )


def _product(raw: Mapping[str, Any], index: int) -> Product:
    product_id = raw.get("id")
    if not isinstance(product_id, str) or not PRODUCT_ID.match(product_id):
        raise CatalogError(
            f'product #{index}: id must be lowercase letters, digits and dashes (like "yoga-class"), '
            f"got {product_id!r}"
        )
    where = f'product "{product_id}"'
    _no_unknown(raw, PRODUCT_KEYS, where)
    field = _Fields(raw, where)
    currency = field.text("currency").lower()
    if not CURRENCY.match(currency):
        raise CatalogError(
            f'{where}: currency must be a three-letter ISO code like "eur", got {currency!r}'
        )
    has_price, has_custom = "unit_amount" in raw, "custom_amount" in raw
    if has_price == has_custom:
        raise CatalogError(
            f"{where}: give either unit_amount (a fixed price) or [custom_amount], not both or neither"
        )
    custom = (
        _custom_amount(_table(raw["custom_amount"], f"{where}: custom_amount"), where)
        if has_custom
        else None
    )
    if custom and ("min_quantity" in raw or "max_quantity" in raw):
        raise CatalogError(f"{where}: quantity limits apply only to fixed-price products")
    min_quantity = field.whole("min_quantity", default=1, low=1, high=MAX_QUANTITY)
    max_quantity = field.whole(
        "max_quantity", default=1 if custom else 10, low=1, high=MAX_QUANTITY
    )
    if min_quantity > max_quantity:
        raise CatalogError(
            f"{where}: min_quantity ({min_quantity}) is above max_quantity ({max_quantity})"
        )
    next_step_url = field.url("next_step_url")
    return Product(
        id=product_id,
        name=field.text("name", limit=120),
        description=field.text("description", required=False, limit=500),
        currency=currency,
        unit_amount=None if custom else field.whole("unit_amount", low=1, high=MAX_AMOUNT),
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        custom_amount=custom,
        next_step_url=next_step_url,
        next_step_label=field.text("next_step_label", required=False, limit=60) or "Next step",
        notify_url=_notify_url(field.text("notify_url", required=False, limit=2000), where),
        metadata=_metadata(raw.get("metadata", {}), where),
    )


def _notify_url(value: str, where: str) -> str | None:
    problem = url_problem(value) if value else None
    if problem:
        raise CatalogError(f"{where}: notify_url: {problem}")
    return value or None


def _metadata(raw: object, where: str) -> Mapping[str, str]:
    if not isinstance(raw, Mapping):
        raise CatalogError(f'{where}: metadata must be a table, like metadata = {{ sku = "A-12" }}')
    if len(raw) > MAX_METADATA:
        raise CatalogError(f"{where}: metadata has more than {MAX_METADATA} keys")
    for key, value in raw.items():
        if not METADATA_KEY.match(key):
            raise CatalogError(
                f"{where}: metadata key {key[:60]!r} must be 1 to 40 letters, digits, _ . or -"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise CatalogError(
                f"{where}: metadata.{key} must be text of at most {MAX_METADATA_VALUE} characters"
            )
    return MappingProxyType(dict(raw))


def _custom_amount(raw: Mapping[str, Any], where: str) -> CustomAmount:
    _no_unknown(raw, CUSTOM_KEYS, f"{where}: custom_amount")
    field = _Fields(raw, f"{where}: custom_amount")
    minimum = field.whole("minimum", low=1, high=MAX_AMOUNT)
    maximum = field.whole("maximum", low=1, high=MAX_AMOUNT)
    if minimum > maximum:
        raise CatalogError(
            f"{where}: custom_amount.minimum ({minimum}) is above maximum ({maximum})"
        )
    presets = raw.get("presets", [])
    if not isinstance(presets, list) or not all(_is_whole(p) for p in presets):
        raise CatalogError(
            f"{where}: custom_amount.presets must be a list of whole amounts in minor units"
        )
    for preset in presets:
        if not minimum <= preset <= maximum:
            raise CatalogError(
                f"{where}: custom_amount.presets has {preset}, outside minimum..maximum ({minimum}..{maximum})"
            )
    return CustomAmount(minimum=minimum, maximum=maximum, presets=tuple(presets))


class _Fields:
    """Reads typed fields out of one TOML table, naming the table in every error."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def text(self, key: str, *, required: bool = True, limit: int = 200) -> str:
        value = self.raw.get(key, "")
        if not isinstance(value, str):
            raise CatalogError(f"{self.where}: {key} must be text, got {value!r}")
        value = value.strip()
        if required and not value:
            raise CatalogError(f"{self.where}: {key} is required")
        if len(value) > limit:
            raise CatalogError(f"{self.where}: {key} is longer than {limit} characters")
        return value

    def whole(self, key: str, *, low: int, high: int, default: int | None = None) -> int:
        value = self.raw.get(key, default)
        if value is None:
            raise CatalogError(f"{self.where}: {key} is required")
        if not _is_whole(value) or not low <= value <= high:
            raise CatalogError(
                f"{self.where}: {key} must be a whole number from {low} to {high} "
                f"(amounts are in minor units, e.g. cents), got {value!r}"
            )
        return int(value)

    def url(self, key: str) -> str | None:
        value = self.text(key, required=False, limit=2000)
        if value and not _is_web_url(value):
            raise CatalogError(f"{self.where}: {key} must be an http(s) URL, got {value!r}")
        return value or None


def _no_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CatalogError(
            f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(known))}"
        )


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
