"""'My payments': the email form, the sign-in link's page, and the list of that email's payments."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...lifecycle import Facts, MailKind
from ...mail.outbox import ResendRefused, queue_copy
from ...my_payments import (
    SESSION_TTL_MS,
    InvalidEmail,
    LinkMail,
    LinkProblem,
    TooManyLinks,
    check_link,
    checked_email,
    end_session,
    issue_link,
    payments_of,
    redeem_link,
    session_email,
)
from ..client import client_id
from ..keys import config_key, db_key, events_key, my_payments_key, status_pages_key
from ..render import render

COOKIE = "paydesk_customer"
COOKIE_PATH = "/my-payments"
NOTICES = {"receipt": "A copy of the receipt is on its way to your inbox."}


def _page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = render(request, template, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _form(
    request: web.Request,
    *,
    email: str = "",
    error: str | None = None,
    problem: LinkProblem | None = None,
    status: int = 200,
) -> web.Response:
    return _page(
        request,
        "my_payments.html",
        {"email": email, "error": error, "sent_to": None, "problem": problem},
        status,
    )


async def find_form(request: web.Request) -> web.Response:
    return _form(request)


async def ask_for_link(request: web.Request) -> web.Response:
    """Mail a sign-in link: the same answer whether or not the address has payments."""
    form = await request.post()
    typed = form.get("email")
    typed = typed if isinstance(typed, str) else ""
    try:
        email = checked_email(typed)
        await request.app[my_payments_key].limits.take(email, client_id(request))
    except InvalidEmail as exc:
        return _form(request, email=typed[:254], error=str(exc), status=400)
    except TooManyLinks as exc:
        response = _form(
            request,
            email=typed[:254],
            error="Too many sign-in links were asked for lately. Use the one already sent, or try again later.",
            status=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    token = await issue_link(request.app[db_key], email)
    link = request.app[config_key].public_url + str(
        request.app.router["my_payments_link"].url_for(token=token)
    )
    if not request.app[my_payments_key].mailer.offer(LinkMail(email, link)):
        return _form(
            request,
            email=email,
            error="We cannot send mail right now. Try again in a minute.",
            status=503,
        )
    context = {"email": email, "error": None, "sent_to": email, "problem": None}
    return _page(request, "my_payments.html", context)


async def link_page(request: web.Request) -> web.Response:
    """The link from the mail: a button that uses it (a mail scanner's GET uses nothing)."""
    token = request.match_info["token"]
    try:
        await check_link(request.app[db_key], token)
    except LinkProblem as exc:
        return _form(request, problem=exc, status=410 if exc.reason != "unknown" else 404)
    return _page(request, "my_payments_link.html", {"token": token})


async def use_link(request: web.Request) -> web.Response:
    try:
        session = await redeem_link(request.app[db_key], request.match_info["token"])
    except LinkProblem as exc:
        return _form(request, problem=exc, status=410 if exc.reason != "unknown" else 404)
    response = web.HTTPSeeOther(str(request.app.router["my_payments_list"].url_for()))
    response.set_cookie(
        COOKIE,
        session,
        path=COOKIE_PATH,
        max_age=SESSION_TTL_MS // 1000,
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.app[config_key].public_url.startswith("https://"),
    )
    raise response


async def _signed_in(request: web.Request) -> str:
    email = await session_email(request.app[db_key], request.cookies.get(COOKIE, ""))
    if email is None:
        raise web.HTTPSeeOther(
            str(request.app.router["my_payments"].url_for().with_query(signed_out="1"))
        )
    return email


async def payment_list(request: web.Request) -> web.Response:
    return await _list(request, await _signed_in(request))


async def _list(
    request: web.Request, email: str, *, error: str | None = None, status: int = 200
) -> web.Response:
    pages = request.app[status_pages_key]
    payments = []
    for payment in await payments_of(request.app[db_key], email):
        facts = Facts.from_json(payment.facts)
        payments.append(
            {
                "snapshot": pages.snapshot(payment),
                "refunds": sorted(facts.refunds.items()),
                "paid": facts.paid,
            }
        )
    context = {
        "email": email,
        "payments": payments,
        "notice": NOTICES.get(request.query.get("done", "")),
        "error": error,
    }
    return _page(request, "my_payments_list.html", context, status)


async def resend_receipt(request: web.Request) -> web.Response:
    email = await _signed_in(request)
    form = await request.post()
    payment_id = form.get("payment")
    mine = {p.id for p in await payments_of(request.app[db_key], email)}
    if not isinstance(payment_id, str) or payment_id not in mine:
        raise web.HTTPNotFound(text="None of your payments has that id.")
    try:
        await queue_copy(request.app[db_key], payment_id, MailKind.RECEIPT)
    except ResendRefused as exc:
        return await _list(request, email, error=str(exc), status=409)
    await request.app[events_key].committed(payment_id)  # the mail sender wakes for it
    target = request.app.router["my_payments_list"].url_for().with_query(done="receipt")
    raise web.HTTPSeeOther(str(target))


async def sign_out(request: web.Request) -> web.Response:
    await end_session(request.app[db_key], request.cookies.get(COOKIE, ""))
    response = web.HTTPSeeOther(str(request.app.router["my_payments"].url_for()))
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    raise response
