"""The product catalog: the shipped example loads, and every mistake names the product and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.catalog import CatalogError, load_catalog, parse_catalog
from server.config import EXAMPLE_CATALOG

SHOP = {"name": "Studio", "contact_email": "hi@example.com"}
FIXED = {"id": "class", "name": "Class", "currency": "eur", "unit_amount": 1500}
CUSTOM = {
    "id": "gift",
    "name": "Gift",
    "currency": "eur",
    "custom_amount": {"minimum": 500, "maximum": 5000, "presets": [1000]},
}


def test_the_shipped_example_has_each_kind_of_product() -> None:
    catalog = load_catalog(EXAMPLE_CATALOG)
    assert any(p.unit_amount and p.max_quantity > 1 for p in catalog.products)
    assert any(p.custom_amount and p.custom_amount.presets for p in catalog.products)
    assert any(p.next_step_url for p in catalog.products)
    assert catalog.shop.name


@pytest.mark.parametrize(
    ("setting", "currency", "locale"),
    [("", "eur", "de_DE"), ("", "jpy", "ja_JP"), ("", "usd", "en_US"), ("fr_FR", "eur", "fr_FR")],
)
def test_amounts_are_read_in_the_setting_or_the_currencys_usual_locale(
    setting: str, currency: str, locale: str
) -> None:
    catalog = parse_catalog({"shop": SHOP, "products": [{**FIXED, "currency": currency}]}, setting)
    assert catalog.locale == locale


def test_defaults_for_a_fixed_price_product() -> None:
    product = parse_catalog({"shop": SHOP, "products": [FIXED]}).products[0]
    assert (product.min_quantity, product.max_quantity, product.next_step_label) == (
        1,
        10,
        "Next step",
    )
    assert product.currency == "eur"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"unit_amount": 15.0}, 'product "class": unit_amount must be a whole number'),
        ({"unit_amount": 0}, 'product "class": unit_amount must be a whole number from 1'),
        ({"unit_amount": True}, 'product "class": unit_amount must be a whole number'),
        ({"currency": "euro"}, 'product "class": currency must be a three-letter ISO code'),
        ({"name": ""}, 'product "class": name is required'),
        ({"id": "Yoga Class"}, "product #1: id must be lowercase letters"),
        ({"max_quantity": 0}, 'product "class": max_quantity must be a whole number from 1'),
        (
            {"min_quantity": 5, "max_quantity": 2},
            'product "class": min_quantity (5) is above max_quantity (2)',
        ),
        (
            {"next_step_url": "javascript:alert(1)"},
            'product "class": next_step_url must be an http(s) URL',
        ),
        ({"prise": 100}, "product \"class\": unknown field 'prise'"),
        (
            {"custom_amount": {"minimum": 1, "maximum": 2}},
            'product "class": give either unit_amount',
        ),
    ],
)
def test_fixed_price_mistakes(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog({"shop": SHOP, "products": [{**FIXED, **change}]})
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("custom", "expected"),
    [
        ({"minimum": 5000, "maximum": 500}, "custom_amount.minimum (5000) is above maximum (500)"),
        (
            {"minimum": 500, "maximum": 5000, "presets": [100]},
            "presets has 100, outside minimum..maximum",
        ),
        (
            {"minimum": 500, "maximum": 5000, "presets": "1000"},
            "presets must be a list of whole amounts",
        ),
        ({"maximum": 5000}, "custom_amount: minimum is required"),
        ({"minimum": 500, "maximum": 5000, "suggested": 1}, "unknown field 'suggested'"),
    ],
)
def test_custom_amount_mistakes(custom: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog({"shop": SHOP, "products": [{**CUSTOM, "custom_amount": custom}]})
    assert str(caught.value).startswith('product "gift"')
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"shop": SHOP, "products": []}, "no products"),
        ({"shop": SHOP, "products": [FIXED, FIXED]}, 'product "class": id is used twice'),
        ({"products": [FIXED]}, "[shop]: expected a table"),
        (
            {"shop": {**SHOP, "contact_email": "nobody"}, "products": [FIXED]},
            "[shop]: contact_email must be an email",
        ),
        ({"shop": {**SHOP, "accent_color": "blue"}, "products": [FIXED]}, "[shop]: accent_color"),
        ({"shop": SHOP, "products": [FIXED], "extras": {}}, "unknown section 'extras'"),
    ],
)
def test_catalog_level_mistakes(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data)
    assert str(caught.value).startswith(expected)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "shop.toml"
    broken.write_text("[shop\nname=")
    with pytest.raises(CatalogError, match=r"shop\.toml: not valid TOML"):
        load_catalog(broken)
    broken.write_text(
        '[shop]\nname = "S"\ncontact_email = "a@b.c"\n[[products]]\nid = "x"\nname = "X"\ncurrency = "eur"\n'
    )
    with pytest.raises(CatalogError, match=r'^shop.toml: product "x": give either unit_amount'):
        load_catalog(broken)
