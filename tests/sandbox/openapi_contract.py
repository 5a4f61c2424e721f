"""Turn Stripe's OpenAPI 3.0 schemas into JSON Schema, to validate what the sandbox returns."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = PROJECT_ROOT.parent / "shared" / "stripe-openapi"
SPEC_FILE = SPEC_DIR / "spec3.json"
FIXTURES_FILE = SPEC_DIR / "fixtures3.json"

# Keywords that only document; JSON Schema would ignore or misread them.
_DROP = {"description", "title", "nullable", "x-expandableFields", "x-resourceId"}


def convert(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema 2020-12: `nullable` becomes a null alternative, `$ref`s point
    into `$defs`, and `anyOf` (how Stripe writes "an id or the expanded object") is kept."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key == "$ref":
            converted["$ref"] = "#/$defs/" + value.rsplit("/", 1)[-1]
        elif key in ("properties", "patternProperties"):
            converted[key] = {name: convert(schema) for name, schema in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            converted[key] = convert(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            converted[key] = [convert(schema) for schema in value]
        else:
            converted[key] = value
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _definitions() -> dict[str, Any]:
    spec = json.loads(SPEC_FILE.read_text())
    return {name: convert(schema) for name, schema in spec["components"]["schemas"].items()}


@cache
def validator(schema_name: str) -> Draft202012Validator:
    definitions = _definitions()
    if schema_name not in definitions:
        raise KeyError(f"spec3.json has no schema {schema_name!r}")
    return Draft202012Validator({"$ref": f"#/$defs/{schema_name}", "$defs": definitions})


def problems(schema_name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks the schema, as "path: message" lines."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator(schema_name).iter_errors(instance)
    ]


@cache
def fixture(resource: str) -> dict[str, Any]:
    fixtures: dict[str, Any] = json.loads(FIXTURES_FILE.read_text())["resources"]
    example: dict[str, Any] = fixtures[resource]
    return example


@cache
def spec_properties(schema_name: str) -> frozenset[str]:
    spec = json.loads(SPEC_FILE.read_text())
    return frozenset(spec["components"]["schemas"][schema_name].get("properties", {}))


# Which schema describes `data.object` of each event type.
def schema_for_event(event_type: str) -> str:
    for prefix, schema in (
        ("checkout.session.", "checkout.session"),
        ("payment_intent.", "payment_intent"),
        ("charge.dispute.", "dispute"),
        ("charge.", "charge"),
        ("refund.", "refund"),
    ):
        if event_type.startswith(prefix):
            return schema
    raise KeyError(f"no schema known for event type {event_type}")
