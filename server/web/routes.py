"""Every URL paydesk answers, with the name handlers and templates use to build links."""

from __future__ import annotations

from aiohttp import web

from ..package_data import static_folder
from .views import api, health, live, my_payments, shop, webhooks

STATIC_FOLDER = static_folder()


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", shop.index, name="index")
    router.add_post("/checkout", shop.checkout, name="checkout")
    router.add_get("/checkout", shop.checkout_again, name="checkout_again")
    router.add_get("/payments/{payment_id}", shop.payment_status, name="payment_status")
    router.add_get("/payments/{payment_id}/live", live.payment_live, name="payment_live")
    router.add_get(
        "/payments/{payment_id}/cancelled", shop.payment_cancelled, name="payment_cancelled"
    )
    router.add_get("/my-payments", my_payments.find_form, name="my_payments")
    router.add_post("/my-payments", my_payments.ask_for_link, name="my_payments")
    router.add_get("/my-payments/link/{token}", my_payments.link_page, name="my_payments_link")
    router.add_post("/my-payments/link/{token}", my_payments.use_link, name="my_payments_link")
    router.add_get("/my-payments/list", my_payments.payment_list, name="my_payments_list")
    router.add_post("/my-payments/receipt", my_payments.resend_receipt, name="my_payments_receipt")
    router.add_post("/my-payments/sign-out", my_payments.sign_out, name="my_payments_sign_out")
    router.add_get("/api/products", api.products, name="api_products")
    router.add_post("/api/checkout", api.create_checkout, name="api_checkout")
    router.add_get("/api/payments/{payment_id}", api.payment, name="api_payment")
    router.add_get("/theme.css", shop.theme_css, name="theme_css")
    router.add_post("/webhooks/stripe", webhooks.stripe_webhook, name="stripe_webhook")
    router.add_get("/healthz", health.healthz, name="healthz")
    router.add_static("/static", STATIC_FOLDER, name="static", append_version=True)
