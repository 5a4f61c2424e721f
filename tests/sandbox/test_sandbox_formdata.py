"""Decoding Stripe's bracketed form encoding, checked against what the SDK itself encodes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from server.sandbox.formdata import FormDecodeError, as_list, decode_pairs, parse_query


def test_the_sdks_checkout_session_body_decodes_to_nested_params() -> None:
    body = (
        "mode=payment&line_items[0][price_data][currency]=eur"
        "&line_items[0][price_data][unit_amount]=1000"
        "&line_items[0][price_data][product_data][name]=X&line_items[0][quantity]=2"
        "&metadata[payment_id]=p1&success_url=http%3A%2F%2Fa%2Fs%3Fid%3D%7BCHECKOUT_SESSION_ID%7D"
        "&expires_at=1234"
    )
    assert parse_query(body) == {
        "mode": "payment",
        "line_items": {
            "0": {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": "1000",
                    "product_data": {"name": "X"},
                },
                "quantity": "2",
            }
        },
        "metadata": {"payment_id": "p1"},
        "success_url": "http://a/s?id={CHECKOUT_SESSION_ID}",
        "expires_at": "1234",
    }


def test_an_events_query_with_percent_encoded_brackets_decodes() -> None:
    params = parse_query("limit=3&types%5B0%5D=a&types%5B1%5D=b&created%5Bgte%5D=5")
    assert params == {"limit": "3", "types": {"0": "a", "1": "b"}, "created": {"gte": "5"}}
    assert as_list(params["types"]) == ["a", "b"]


def test_empty_brackets_append_in_order() -> None:
    params = parse_query("expand[]=payment_intent&expand[]=line_items")
    assert as_list(params["expand"]) == ["payment_intent", "line_items"]


def test_indexes_sort_numerically_not_as_text() -> None:
    pairs = [(f"items[{i}]", str(i)) for i in (10, 2, 0, 1)]
    assert as_list(decode_pairs(pairs)["items"]) == ["0", "1", "2", "10"]


def test_numeric_metadata_keys_stay_a_hash() -> None:
    # Only the endpoint's schema may turn a hash into an array.
    assert parse_query("metadata[1]=x") == {"metadata": {"1": "x"}}


def test_a_blank_value_is_kept_because_it_means_unset() -> None:
    assert parse_query("metadata[a]=&description=") == {"metadata": {"a": ""}, "description": ""}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("metadata=x&metadata[a]=b", "metadata"),
        ("metadata[a]=b&metadata=x", "metadata"),
        ("a[b=1", "a[b"),
        ("a[][b]=1", "a[][b]"),
    ],
)
def test_keys_that_cannot_nest_are_refused_with_their_name(query: str, param: str) -> None:
    with pytest.raises(FormDecodeError) as refused:
        parse_query(query)
    assert refused.value.param == param


def test_as_list_refuses_a_hash_with_named_keys() -> None:
    assert as_list({"a": "1"}) is None


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        items = as_list(value)
        if items is not None and value:
            return [_listify(item) for item in items]
        return {key: _listify(item) for key, item in value.items()}
    return value


_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_leaves = st.text(min_size=1, max_size=12) | st.integers(-(10**9), 10**9).map(str)
_params = st.recursive(
    _leaves,
    lambda children: (
        st.dictionaries(_keys, children, min_size=1, max_size=4)
        | st.lists(children, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _params, min_size=1, max_size=5))
def test_whatever_the_sdk_encodes_decodes_back(params: dict[str, Any]) -> None:
    encoded = urlencode(list(_api_encode(params)))
    assert _listify(parse_query(encoded)) == params
