"""Stripe's list objects and cursor pagination (`limit`, `starting_after`, `ending_before`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import invalid_request, resource_missing

T = TypeVar("T")
DEFAULT_LIMIT = 10


def page(
    items: Sequence[T], id_of: Callable[[T], str], params: dict[str, Any], kind: str
) -> tuple[list[T], bool]:
    """One page of `items` (already newest first) and whether more lie beyond it."""
    limit: int = params.get("limit", DEFAULT_LIMIT)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    ids = [id_of(item) for item in items]
    if after is not None:
        if after not in ids:
            raise resource_missing(kind, after, "starting_after")
        rest = list(items[ids.index(after) + 1 :])
        return rest[:limit], len(rest) > limit
    if before is not None:
        if before not in ids:
            raise resource_missing(kind, before, "ending_before")
        newer = list(items[: ids.index(before)])
        return newer[-limit:], len(newer) > limit
    return list(items[:limit]), len(items) > limit


def list_object(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def in_range(created: int, bounds: dict[str, int] | None) -> bool:
    """`created` filters: {"eq": t} or any of gt/gte/lt/lte."""
    if not bounds:
        return True
    checks = {
        "eq": created == bounds.get("eq", created),
        "gt": created > bounds.get("gt", created - 1),
        "gte": created >= bounds.get("gte", created),
        "lt": created < bounds.get("lt", created + 1),
        "lte": created <= bounds.get("lte", created),
    }
    return all(checks.values())


def newest_first(items: Sequence[T]) -> list[T]:
    return list(reversed(items))
