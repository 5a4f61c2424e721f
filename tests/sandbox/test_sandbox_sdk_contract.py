"""Contract: every object the sandbox sends matches the SDK's typed classes for its pinned version.

stripe-python's resource classes are generated for one API version (`stripe.api_version`): an
attribute annotated without `Optional` is always present in that version, and an attribute the
class does not declare is not part of it (a field the version removed, or one never there).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
from functools import cache
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import pytest
import stripe
from sandbox_helpers import (
    DECLINED,
    DISPUTED,
    IBAN_FAILS,
    IBAN_SUCCEEDS,
    THREE_D_SECURE,
    VISA,
    Harness,
    Receiver,
    StartSandbox,
    session_params,
)
from stripe._list_object import ListObject
from stripe._stripe_object import StripeObject, UntypedStripeObject

# The class for each `object` the sandbox can send, as the SDK maps them.
CLASSES: dict[str, type[StripeObject]] = {
    "balance_transaction": stripe.BalanceTransaction,
    "charge": stripe.Charge,
    "checkout.session": stripe.checkout.Session,
    "customer": stripe.Customer,
    "dispute": stripe.Dispute,
    "event": stripe.Event,
    "item": stripe.LineItem,
    "payment_intent": stripe.PaymentIntent,
    "payment_method": stripe.PaymentMethod,
    "refund": stripe.Refund,
    "webhook_endpoint": stripe.WebhookEndpoint,
}
LISTS = {
    "checkout.session": "/v1/checkout/sessions",
    "payment_intent": "/v1/payment_intents",
    "charge": "/v1/charges",
    "refund": "/v1/refunds",
    "dispute": "/v1/disputes",
    "event": "/v1/events",
    "webhook_endpoint": "/v1/webhook_endpoints",
    "customer": "/v1/customers",
}
HUNDRED = {"limit": "100"}
# What the sandbox may send although the SDK's class does not declare it, with the reason for
# each. None today: an entry here is a known difference, listed in docs/sandbox.md.
UNDECLARED: dict[type[StripeObject], set[str]] = {}
_NONE = type(None)


def _flatten(annotation: Any) -> list[Any]:
    """The alternatives of a Union (Optional included), or the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [part for arg in get_args(annotation) for part in _flatten(arg)]
    return [annotation]


@cache
def _type_checking_imports(module: str) -> dict[str, tuple[str, str]]:
    """The names a generated module imports only for type checkers: {local name: (module, name)}."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    return {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def _resolve(annotation: Any, module: str) -> Any:
    """A forward reference ("Charge", "CardResource") as the class it names in `module`."""
    if not isinstance(annotation, ForwardRef):
        return annotation
    name = annotation.__forward_arg__
    source, original = _type_checking_imports(module).get(name, (module, name))
    return getattr(importlib.import_module(source), original)


def _declared(cls: type[StripeObject]) -> dict[str, tuple[Any, str]]:
    """Every attribute the class (and its generated bases) declares, by its JSON name, with the
    module its forward references are relative to."""
    remapped: dict[str, str] = getattr(cls, "_field_remappings", {}) or {}
    found: dict[str, tuple[Any, str]] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, StripeObject)):
            continue
        if klass is StripeObject:
            continue
        for name, annotation in inspect.get_annotations(klass).items():
            if name.startswith("_") or name.isupper():  # private state and ClassVar constants
                continue
            found[remapped.get(name, name)] = (annotation, klass.__module__)
    return found


def problems(value: Any, annotation: Any, path: str, module: str = "stripe") -> list[str]:
    """What in `value` contradicts the SDK's `annotation` for it (declared in `module`)."""
    options = [_resolve(option, module) for option in _flatten(annotation)]
    if value is None:
        return [] if _NONE in options or Any in options else [f"{path}: null, but always present"]
    options = [option for option in options if option is not _NONE]
    if Any in options:
        return []
    literals = [
        arg for option in options if get_origin(option) is Literal for arg in get_args(option)
    ]
    if literals and isinstance(value, str) and not any(option in (str,) for option in options):
        return [] if value in literals else [f"{path}: {value!r} is not one of {literals}"]
    if isinstance(value, list):
        items = [get_args(option)[0] for option in options if get_origin(option) is list]
        if not items:
            return [f"{path}: a list, but the SDK expects {options}"]
        return [
            found
            for i, item in enumerate(value)
            for found in problems(item, items[0], f"{path}[{i}]", module)
        ]
    if isinstance(value, dict):
        return _dict_problems(value, options, path, module)
    primitives = [option for option in options if option in (str, int, float, bool)]
    if not primitives and literals:
        return [f"{path}: {value!r} is not one of {literals}"]
    if primitives and not _fits(value, primitives):
        return [f"{path}: {value!r} is not {primitives}"]
    return []


def _fits(value: Any, primitives: list[type]) -> bool:
    if isinstance(value, bool):
        return bool in primitives
    if isinstance(value, int):
        return int in primitives or float in primitives
    return any(isinstance(value, kind) for kind in primitives)


def _dict_problems(value: dict[str, Any], options: list[Any], path: str, module: str) -> list[str]:
    if value.get("object") == "list":
        lists = [option for option in options if get_origin(option) is ListObject]
        if not lists:
            return [f"{path}: a list object, but the SDK expects {options}"]
        item = get_args(lists[0])[0]
        return [
            found
            for i, entry in enumerate(value.get("data", []))
            for found in problems(entry, item, f"{path}.data[{i}]", module)
        ]
    for option in options:
        origin = get_origin(option) or option
        if origin is dict or (isinstance(origin, type) and issubclass(origin, UntypedStripeObject)):
            return []  # free-form: metadata and the like
    classes = [
        option
        for option in options
        if isinstance(option, type) and issubclass(option, StripeObject)
    ]
    if not classes:
        return [f"{path}: an object, but the SDK expects {options}"]
    named = [cls for cls in classes if getattr(cls, "OBJECT_NAME", None) == value.get("object")]
    return object_problems(value, (named or classes)[0], path)


def object_problems(value: dict[str, Any], cls: type[StripeObject], path: str) -> list[str]:
    declared = _declared(cls)
    found = [
        f"{path}.{name}: missing, but {cls.__qualname__} always has it"
        for name, (annotation, _) in declared.items()
        if name not in value and _NONE not in _flatten(annotation)
    ]
    allowed = UNDECLARED.get(cls, set())
    found += [
        f"{path}.{name}: sent, but {cls.__qualname__} does not declare it"
        for name in value
        if name not in declared and name not in allowed
    ]
    for name, item in value.items():
        if name in declared:
            annotation, module = declared[name]
            found += problems(item, annotation, f"{path}.{name}", module)
    if cls is stripe.Event:
        inner = value["data"]["object"]
        found += object_problems(inner, CLASSES[inner["object"]], f"{path}.data.object")
    return found


def check(value: dict[str, Any]) -> None:
    cls = CLASSES[value["object"]]
    found = object_problems(value, cls, f"{value['object']} {value.get('id')}")
    assert not found, "the SDK's classes disagree:\n" + "\n".join(found)


async def _tour(sandbox: Harness) -> None:
    """Every flow once: paid, declined, 3-D Secure, bank debits, refunds, disputes, expiry."""
    await sandbox.client.v1.webhook_endpoints.create_async(
        {"url": "https://shop.test/hooks", "enabled_events": ["*"]}
    )
    customer = await sandbox.client.v1.customers.create_async(
        {"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"shop": "1"}}
    )
    for_customer = session_params(customer=customer.id)
    del for_customer["customer_email"]
    await sandbox.client.v1.checkout.sessions.create_async(for_customer)
    # A Customer made by Checkout at completion, with the card it saved.
    saving = await sandbox.create_session(
        customer_creation="always", saved_payment_method_options={"payment_method_save": "enabled"}
    )
    form = {"card_number": VISA, "exp": "12/34", "cvc": "123", "save_payment_method": "1"}
    await sandbox.post_page(saving.url, form)
    paid = await sandbox.create_session()
    await sandbox.pay_by_card(paid.url, DECLINED)
    await sandbox.pay_by_card(paid.url, VISA)
    three_ds = await sandbox.create_session()
    answer = await sandbox.pay_by_card(three_ds.url, THREE_D_SECURE)
    await sandbox.post_page(sandbox.absolute(answer.location or ""), {"outcome": "fail"})
    answer = await sandbox.pay_by_card(three_ds.url, THREE_D_SECURE)
    await sandbox.post_page(sandbox.absolute(answer.location or ""), {"outcome": "approve"})
    debits = []
    for iban in (IBAN_SUCCEEDS, IBAN_FAILS):
        debit = await sandbox.create_session(payment_method_types=["card", "sepa_debit"])
        await sandbox.pay_by_bank_debit(debit.url, iban)
        debits.append(debit.id)
    disputed = await sandbox.create_session()
    await sandbox.pay_by_card(disputed.url, DISPUTED)
    abandoned = await sandbox.create_session()
    await sandbox.pay_by_card(abandoned.url, DECLINED)
    await sandbox.client.v1.checkout.sessions.expire_async(abandoned.id)
    refreshed = await sandbox.client.v1.checkout.sessions.retrieve_async(paid.id)
    await sandbox.client.v1.refunds.create_async(
        {"payment_intent": refreshed.payment_intent, "amount": 500}
    )
    # Refunds with a life: pending then succeeded, succeeded then failed, and a bank debit's.
    for token in ("pm_card_pendingRefund", "pm_card_refundFail"):
        intent = await sandbox.client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "eur", "payment_method": token, "confirm": True}
        )
        await sandbox.client.v1.refunds.create_async({"payment_intent": intent.id})
    await sandbox.run_timers()  # bank debits settle; the dispute opens and is decided
    await sandbox.run_timers()
    settled = await sandbox.client.v1.checkout.sessions.retrieve_async(debits[0])
    await sandbox.client.v1.refunds.create_async({"payment_intent": settled.payment_intent})
    await sandbox.run_timers()  # the refunds settle or fail
    await sandbox.create_session()  # and one left open


@pytest.fixture
async def toured(start_sandbox: StartSandbox, receiver: Receiver) -> Harness:
    sandbox = await start_sandbox(
        webhook_url=receiver.url, retry_base_delay=0.05, retry_max_delay=0.2
    )
    await _tour(sandbox)
    return sandbox


async def test_every_listed_object_matches_its_sdk_class(toured: Harness) -> None:
    for kind, path in LISTS.items():
        objects = (await toured.raw(path, HUNDRED))["data"]
        assert objects, f"the tour made no {kind}"
        for value in objects:
            check(value)
        if kind == "refund":  # the tour reached the refunds' later states
            assert {"succeeded", "failed"} <= {value["status"] for value in objects}


async def test_expanded_objects_match_their_sdk_classes(toured: Harness) -> None:
    sessions = (await toured.raw("/v1/checkout/sessions", HUNDRED))["data"]
    paid = next(s for s in sessions if s["payment_status"] == "paid")
    session = await toured.raw(
        f"/v1/checkout/sessions/{paid['id']}",
        {
            "expand[0]": "payment_intent.latest_charge",
            "expand[1]": "line_items",
            "expand[2]": "payment_intent.payment_method",
        },
    )
    check(session)
    for item in (await toured.raw(f"/v1/checkout/sessions/{paid['id']}/line_items"))["data"]:
        check(item)
    refunded = (await toured.raw("/v1/refunds"))["data"][0]["charge"]
    check(await toured.raw(f"/v1/charges/{refunded}", {"expand[0]": "refunds"}))
    transactions = await _balance_transactions(toured)
    for transaction in transactions:
        check(transaction)


async def test_saved_cards_match_their_sdk_class(toured: Harness) -> None:
    saved = []
    for customer in (await toured.raw("/v1/customers", HUNDRED))["data"]:
        saved += (await toured.raw(f"/v1/customers/{customer['id']}/payment_methods"))["data"]
    assert saved, "the tour saved no card"
    for method in saved:
        assert (method["allow_redisplay"], method["customer"]) != ("unspecified", None)
        check(method)


async def _balance_transactions(sandbox: Harness) -> list[dict[str, Any]]:
    """Balance transactions, where the sandbox keeps them (a charge's, expanded)."""
    found = []
    for charge in (await sandbox.raw("/v1/charges", HUNDRED))["data"]:
        if charge["balance_transaction"]:
            expanded = await sandbox.raw(
                f"/v1/charges/{charge['id']}", {"expand[0]": "balance_transaction"}
            )
            found.append(expanded["balance_transaction"])
    return found


async def test_every_delivery_carries_the_pinned_version_and_matches(
    toured: Harness, receiver: Receiver
) -> None:
    await receiver.wait_for_types(
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
        "refund.created",
        "charge.dispute.closed",
        "refund.failed",
        "charge.refund.updated",
        seconds=60,
    )
    for event in receiver.accepted:
        assert event["api_version"] == stripe.api_version
        check(event)
    # The endpoint the sandbox was started with is on the pinned version; one created without
    # an `api_version` has none of its own (null: the account's default), as at Stripe.
    versions = {
        endpoint["url"]: endpoint["api_version"]
        for endpoint in (await toured.raw("/v1/webhook_endpoints"))["data"]
    }
    assert versions == {receiver.url: stripe.api_version, "https://shop.test/hooks": None}


async def test_what_the_pinned_version_removed_is_not_sent(toured: Harness) -> None:
    for kind, removed in (
        ("checkout.session", "shipping_details"),
        ("payment_intent", "invoice"),
        ("charge", "invoice"),
    ):
        assert removed not in _declared(CLASSES[kind])  # the SDK dropped it...
        for value in (await toured.raw(LISTS[kind], HUNDRED))["data"]:
            assert removed not in value  # ...and so does the sandbox


def test_the_check_can_fail() -> None:
    intent = {"id": "pi_1", "object": "payment_intent", "invoice": None}
    found = object_problems(intent, stripe.PaymentIntent, "pi")
    assert "pi.invoice: sent, but PaymentIntent does not declare it" in found
    assert "pi.amount: missing, but PaymentIntent always has it" in found
    assert "pi.status: missing, but PaymentIntent always has it" in found
    # `status` is an open enum (any str); `object` is closed.
    assert not problems("paid", stripe.PaymentIntent.__annotations__["status"], "status")
    bad = problems("charge", stripe.PaymentIntent.__annotations__["object"], "object")
    assert bad == ["object: 'charge' is not one of ['payment_intent']"]
    assert problems("1000", stripe.Charge.__annotations__["amount"], "amount")
    assert problems(None, stripe.Charge.__annotations__["amount"], "amount")
    nested = {"enabled": "yes", "liability": None, "provider": None, "status": None}
    annotation = stripe.checkout.Session.__annotations__["automatic_tax"]
    assert problems(nested, annotation, "automatic_tax") == [
        "automatic_tax.enabled: 'yes' is not [<class 'bool'>]"
    ]
