"""Decode Stripe's bracketed form encoding (`a[b][0][c]=v`) into nested dicts and lists.

Arrays arrive as hashes keyed by index (`types[0]=a`, or `types[]=a`, which appends). Only the
endpoint's schema knows whether `metadata[0]=x` is an array or a hash with the key "0", so decoding
keeps hashes and `as_list` turns one into a list where the schema expects an array, as Stripe does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class FormDecodeError(ValueError):
    """A key that cannot be decoded; `param` names it the way Stripe's errors do."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def parse_query(text: str) -> dict[str, Any]:
    """Decode a URL-encoded query string or form body."""
    return decode_pairs(parse_qsl(text, keep_blank_values=True))


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest `(key, value)` pairs into dicts of dicts and strings."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = _split_key(key)
        node = root
        for depth, segment in enumerate(segments[:-1]):
            if segment == "":  # `a[][b]`: Stripe accepts `[]` only as the last segment
                raise FormDecodeError(f"Invalid parameter name: {key}", key)
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise FormDecodeError("Invalid hash", _param_name(segments[: depth + 1]))
            node = child
        last = segments[-1]
        if last == "":  # `types[]=a&types[]=b` appends, as Rails-style decoders do
            last = str(sum(1 for k in node if k.isdigit()))
        if isinstance(node.get(last), dict):
            raise FormDecodeError("Invalid hash", _param_name([*segments[:-1], last]))
        node[last] = value  # a repeated scalar key keeps its last value
    return root


def _split_key(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise FormDecodeError(f"Invalid parameter name: {key}", key)
    return [match.group(1), *_SEGMENT.findall(match.group(2))]


def as_list(value: Any) -> list[Any] | None:
    """The values of a hash keyed by indexes, in index order; None when `value` is no such hash."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return None


def _param_name(segments: list[str]) -> str:
    return segments[0] + "".join(f"[{s}]" for s in segments[1:])
