"""The hosted checkout page: pay by test card or bank debit, 3-D Secure, and closed sessions."""

from __future__ import annotations

from datetime import date
from typing import Any, NoReturn

from aiohttp import web
from multidict import MultiDictProxy

from . import checkout
from .api_base import public_url_for
from .card_form import FormErrors, parse_bank_debit, parse_card
from .checkout import SessionNotOpen
from .instruments import TEST_CARDS, TEST_IBANS
from .keys import sandbox_key, templates_key
from .payments import CardOutcome, CardResult
from .records import CheckoutSession

# What Stripe's page tells the customer when 3-D Secure fails.
AUTHENTICATION_FAILED_FOR_CUSTOMER = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)
_SUBMIT_LABELS = {"book": "Book", "donate": "Donate", "pay": "Pay", "auto": "Pay", None: "Pay"}
# The query a declined payment redirects to: the page then shows why the last attempt failed.
DECLINED = "declined"


def render_page(
    request: web.Request, template: str, status: int = 200, **context: Any
) -> web.Response:
    page = request.app[templates_key].get_template(template)
    static = request.app.router["static"]

    def static_url(filename: str) -> str:
        return static.url_for(filename=filename).path

    html = page.render(static=static_url, **context)
    return web.Response(text=html, status=status, content_type="text/html")


def _session_or_404(request: web.Request) -> CheckoutSession:
    store = request.app[sandbox_key].store
    session = store.checkout_sessions.get(request.match_info["session_id"])
    if session is None:
        raise web.HTTPNotFound(
            text=render_page(request, "closed.html", reason="missing").text,
            content_type="text/html",
        )
    return session


def _checkout_page(
    request: web.Request,
    session: CheckoutSession,
    status: int = 200,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    values: MultiDictProxy[Any] | None = None,
) -> web.Response:
    if session.status != "open":
        return render_page(
            request, "closed.html", status=409 if values is not None else 200, reason=session.status
        )
    # The CVC is never echoed back; the rest is test data the customer may want to correct.
    submitted = {key: str(value) for key, value in (values or {}).items() if key != "cvc"}
    by_bank = submitted.get("payment_method") == "sepa_debit"
    email, name = checkout.prefill(request.app[sandbox_key], session)
    # The name the shop already knows starts both forms, as on Stripe's page; what the customer
    # typed wins.
    named = {"cardholder_name": name, "account_holder": name} if name else {}
    return render_page(
        request,
        "checkout.html",
        status=status,
        session=session,
        action=request.app.router["page.checkout"].url_for(session_id=session.id).path,
        submit_label=_SUBMIT_LABELS.get(session.submit_type, "Pay"),
        error=error,
        card_errors={} if by_bank else (field_errors or {}),
        card_values=named if by_bank else {**named, **submitted},
        bank_errors=(field_errors or {}) if by_bank else {},
        bank_values={**named, **submitted} if by_bank else named,
        by_bank=by_bank,
        prefilled_email=email,
        saved_cards=checkout.saved_cards(request.app[sandbox_key], session),
        offers_to_save=checkout.offers_to_save(session),
        save_ticked=submitted.get("save_payment_method") == "1",
        test_cards=TEST_CARDS.values(),
        test_ibans=TEST_IBANS.values(),
    )


def _after_payment(session: CheckoutSession) -> web.HTTPSeeOther:
    if session.success_url:
        return web.HTTPSeeOther(session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id))
    return web.HTTPSeeOther(session.url)  # the page then says the payment is complete


async def show_checkout(request: web.Request) -> web.Response:
    session = _session_or_404(request)
    failure = (
        checkout.last_failure(request.app[sandbox_key], session)
        if DECLINED in request.query
        else None
    )
    return _checkout_page(request, session, error=_for_customer(failure))


def _for_customer(failure: dict[str, Any] | None) -> str | None:
    if failure is None:
        return None
    if failure.get("code") == "payment_intent_authentication_failure":
        return AUTHENTICATION_FAILED_FOR_CUSTOMER
    message: str = failure["message"]
    return message


def _after_decline(request: web.Request, session: CheckoutSession) -> web.HTTPSeeOther:
    """Post/redirect/get: reloading the page that shows a decline must not pay again."""
    url = request.app.router["page.checkout"].url_for(session_id=session.id)
    return web.HTTPSeeOther(url.with_query({DECLINED: ""}))


async def pay(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    session = _session_or_404(request)
    form = await request.post()
    if session.status != "open":
        return _checkout_page(request, session, values=form)
    email = str(form.get("email", "")).strip() or None
    if email is not None and ("@" not in email or " " in email):
        return _checkout_page(
            request,
            session,
            400,
            field_errors={"email": "Your email address is invalid."},
            values=form,
        )
    if form.get("payment_method", "card") == "sepa_debit":
        if "sepa_debit" not in session.payment_method_types:
            return _checkout_page(
                request, session, 400, error="This checkout does not accept bank debits."
            )
        try:
            account = parse_bank_debit(
                str(form.get("iban", "")), str(form.get("account_holder", ""))
            )
            checkout.pay_by_bank_debit(sandbox, session, account, email)
        except FormErrors as invalid:
            return _checkout_page(request, session, 400, field_errors=invalid.errors, values=form)
        raise _after_payment(session)
    authenticate_url = public_url_for(request, "page.authenticate", session_id=session.id)
    if "saved_payment_method" in form:
        try:
            outcome = checkout.pay_by_saved_card(
                sandbox, session, str(form["saved_payment_method"]), authenticate_url
            )
        except FormErrors as invalid:
            return _checkout_page(request, session, 400, error=str(invalid))
        return _after_card(request, session, outcome)
    try:
        card = parse_card(
            str(form.get("card_number", "")),
            str(form.get("exp", "")),
            str(form.get("cvc", "")),
            date.today(),
        )
    except FormErrors as invalid:
        return _checkout_page(request, session, 400, field_errors=invalid.errors, values=form)

    name = str(form.get("cardholder_name", "")).strip() or None
    save = form.get("save_payment_method") == "1"
    outcome = checkout.pay_by_card(sandbox, session, card, email, name, authenticate_url, save)
    return _after_card(request, session, outcome)


def _after_card(request: web.Request, session: CheckoutSession, outcome: CardOutcome) -> NoReturn:
    if outcome.result is CardResult.SUCCEEDED:
        raise _after_payment(session)
    if outcome.result is CardResult.REQUIRES_ACTION:
        raise web.HTTPSeeOther(
            request.app.router["page.authenticate"].url_for(session_id=session.id).path
        )
    raise _after_decline(request, session)


async def show_authentication(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    session = _session_or_404(request)
    if not checkout.awaiting_authentication(sandbox, session):
        raise web.HTTPSeeOther(
            request.app.router["page.checkout"].url_for(session_id=session.id).path
        )
    return render_page(
        request,
        "authenticate.html",
        session=session,
        action=request.app.router["page.authenticate"].url_for(session_id=session.id).path,
    )


async def authenticate(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    session = _session_or_404(request)
    form = await request.post()
    try:
        outcome = checkout.authenticate(sandbox, session, approve=form.get("outcome") == "approve")
    except SessionNotOpen:
        return _checkout_page(request, session, values=form)
    if outcome is None:  # nothing to authenticate (a stale tab): back to the payment form
        raise web.HTTPSeeOther(
            request.app.router["page.checkout"].url_for(session_id=session.id).path
        )
    if outcome.result is CardResult.SUCCEEDED:
        raise _after_payment(session)
    raise _after_decline(request, session)


async def index(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    sessions = list(reversed(sandbox.store.checkout_sessions.values()))[:20]
    events = list(reversed(sandbox.store.events.values()))[:30]
    return render_page(
        request,
        "index.html",
        settings=sandbox.settings,
        endpoints=list(sandbox.store.webhook_endpoints.values()),
        sessions=sessions,
        events=events,
        test_cards=TEST_CARDS.values(),
        test_ibans=TEST_IBANS.values(),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index, name="index")
    page = router.add_resource("/pay/{session_id}", name="page.checkout")
    page.add_route("GET", show_checkout)
    page.add_route("POST", pay)
    step = router.add_resource("/pay/{session_id}/authenticate", name="page.authenticate")
    step.add_route("GET", show_authentication)
    step.add_route("POST", authenticate)
