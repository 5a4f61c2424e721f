"""Validate decoded form parameters against a declared schema, answering with Stripe's messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import StripeError, invalid_request
from .formdata import as_list
from .money import SUPPORTED_CURRENCIES

_INTEGER = re.compile(r"^-?\d+$")


class Spec:
    """One parameter's rules: `check` returns the typed value or raises a Stripe error."""

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError


def _scalar(value: Any, path: str, allow_empty: bool = False) -> str:
    """A string value; Stripe refuses "" (which means "unset") where a parameter cannot be unset."""
    if isinstance(value, dict):
        raise invalid_request(f"Invalid string: {_show(value)}", param=path)
    if value == "" and not allow_empty:
        raise invalid_request(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to unset "
            f"a parameter; however '{path}' cannot be unset. You should remove '{path}' from your "
            "request or supply a non-empty value.",
            param=path,
            code="parameter_invalid_empty",
        )
    assert isinstance(value, str)
    return value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}=>{_show(v)}" for k, v in value.items()) + "}"
    return str(value)


@dataclass(frozen=True)
class Str(Spec):
    max_length: int = 5000
    allow_empty: bool = False

    def check(self, value: Any, path: str) -> str:
        text = _scalar(value, path, self.allow_empty)
        if len(text) > self.max_length:
            raise invalid_request(
                f"Invalid string: {text[:50]}...; must be at most {self.max_length} characters",
                param=path,
            )
        return text


@dataclass(frozen=True)
class Int(Spec):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any, path: str) -> int:
        text = _scalar(value, path)
        if not _INTEGER.match(text):
            raise invalid_request(
                f"Invalid integer: {text}", param=path, code="parameter_invalid_integer"
            )
        number = int(text)
        if self.minimum is not None and number < self.minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {self.minimum}.", param=path
            )
        if self.maximum is not None and number > self.maximum:
            raise invalid_request(
                f"This value must be less than or equal to {self.maximum}.", param=path
            )
        return number


@dataclass(frozen=True)
class Bool(Spec):
    def check(self, value: Any, path: str) -> bool:
        text = _scalar(value, path)
        if text not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {text}", param=path)
        return text == "true"


@dataclass(frozen=True)
class Enum(Spec):
    values: tuple[str, ...]

    def check(self, value: Any, path: str) -> str:
        text = _scalar(value, path)
        if text not in self.values:
            choices = ", ".join(self.values[:-1]) + f", or {self.values[-1]}"
            if len(self.values) == 1:
                choices = self.values[0]
            raise invalid_request(f"Invalid {path}: must be one of {choices}", param=path)
        return text


@dataclass(frozen=True)
class Metadata(Spec):
    """Up to 50 string pairs; keys of at most 40 characters, values of at most 500."""

    def check(self, value: Any, path: str) -> dict[str, str]:
        if value == "":
            return {}  # `metadata=` unsets every key
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=path)
        if len(value) > 50:
            raise invalid_request("Metadata can have a maximum of 50 keys.", param=path)
        checked: dict[str, str] = {}
        for key, item in value.items():
            item_path = f"{path}[{key}]"
            if len(key) > 40:
                raise invalid_request(
                    f"Metadata keys can have a maximum length of 40 characters: {key}",
                    param=item_path,
                )
            if isinstance(item, dict):
                raise invalid_request(f"Invalid string: {_show(item)}", param=item_path)
            if len(item) > 500:
                raise invalid_request(
                    f"Metadata values can have a maximum length of 500 characters: {key}",
                    param=item_path,
                )
            checked[key] = item  # "" stays: on an update it removes the key
        return checked


@dataclass(frozen=True)
class Arr(Spec):
    item: Spec
    max_items: int | None = None

    def check(self, value: Any, path: str) -> list[Any]:
        items = as_list(value)
        if items is None or value == "":
            raise invalid_request("Invalid array", param=path)
        if self.max_items is not None and len(items) > self.max_items:
            raise invalid_request(
                f"You may only specify up to {self.max_items} values for {path}.", param=path
            )
        return [self.item.check(item, f"{path}[{index}]") for index, item in enumerate(items)]


@dataclass(frozen=True)
class Unsupported(Spec):
    """A parameter Stripe knows and the sandbox does not implement: refuse it rather than ignore it."""

    def check(self, value: Any, path: str) -> Any:
        raise invalid_request(
            f"The Stripe sandbox does not support `{path}`; remove it or extend the sandbox.",
            param=path,
        )


@dataclass(frozen=True)
class Obj(Spec):
    fields: Mapping[str, Spec]
    required: frozenset[str] = field(default_factory=frozenset)

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=path or None)
        unknown = [key for key in value if key not in self.fields]
        if unknown:
            raise _unknown([_join(path, key) for key in unknown])
        checked: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key not in value:
                continue
            checked[key] = spec.check(value[key], _join(path, key))
        for key in self.fields:
            if key in self.required and key not in checked:
                param = _join(path, key)
                raise invalid_request(
                    f"Missing required param: {param}.", param=param, code="parameter_missing"
                )
        return checked


def _join(path: str, key: str) -> str:
    return f"{path}[{key}]" if path else key


def _unknown(params: list[str]) -> StripeError:
    if len(params) == 1:
        message = f"Received unknown parameter: {params[0]}"
    else:
        message = f"Received unknown parameters: {', '.join(params)}"
    return invalid_request(message, param=params[0], code="parameter_unknown")


EXPAND = Arr(Str(), max_items=None)
LIST_FIELDS: dict[str, Spec] = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
    "ending_before": Str(),
    "expand": EXPAND,
}


@dataclass(frozen=True)
class TimeRange(Spec):
    """`created=5` or `created[gte]=5`: an exact time or bounds."""

    def check(self, value: Any, path: str) -> dict[str, int]:
        bound = Int()
        if isinstance(value, dict):
            return Obj(dict.fromkeys(("gt", "gte", "lt", "lte"), bound)).check(value, path)
        return {"eq": bound.check(value, path)}


def set_values(metadata: dict[str, str]) -> dict[str, str]:
    """On a create, `metadata[k]=` (which would unset k on an update) just leaves k out."""
    return {key: value for key, value in metadata.items() if value != ""}


def validate(spec: Obj, params: dict[str, Any]) -> dict[str, Any]:
    return spec.check(params, "")


@dataclass(frozen=True)
class Currency(Spec):
    """A three-letter ISO code in lowercase, one Stripe supports."""

    def check(self, value: Any, path: str) -> str:
        code = _scalar(value, path)
        if code not in SUPPORTED_CURRENCIES:
            raise invalid_request(
                f"Invalid currency: {code}. Stripe currently supports these currencies: "
                + ", ".join(sorted(SUPPORTED_CURRENCIES)),
                param=path,
            )
        return code


def unsupported(names: str) -> dict[str, Spec]:
    """Stripe parameters (space-separated) the sandbox refuses rather than silently ignores."""
    return {name: Unsupported() for name in names.split()}
