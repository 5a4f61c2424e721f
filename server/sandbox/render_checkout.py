"""Checkout Sessions and their line items as Stripe's JSON."""

from __future__ import annotations

from typing import Any

from .records import CheckoutSession, LineItem


def render_price(item: LineItem) -> dict[str, Any]:
    # Prices made from `price_data` are one-off and inactive, as Stripe makes them.
    return {
        "id": item.price_id,
        "object": "price",
        "active": False,
        "billing_scheme": "per_unit",
        "created": item.created,
        "currency": item.currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": item.product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": item.unit_amount,
        "unit_amount_decimal": str(item.unit_amount),
    }


def render_line_item(item: LineItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": item.amount_total,
        "amount_tax": 0,
        "amount_total": item.amount_total,
        "currency": item.currency,
        "description": item.name,
        "price": render_price(item),
        "quantity": item.quantity,
    }


def render_checkout_session(session: CheckoutSession) -> dict[str, Any]:
    is_open = session.status == "open"
    return {
        "id": session.id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": session.amount_total,
        "amount_total": session.amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": session.billing_address_collection,
        "cancel_url": session.cancel_url,
        "client_reference_id": session.client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": session.created,
        "currency": session.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": session.customer_id,
        "customer_creation": session.customer_creation or "if_required",
        "customer_details": _customer_details(session),
        "customer_email": session.customer_email,
        "discounts": [],
        "expires_at": session.expires_at,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": session.locale,
        "metadata": dict(session.metadata),
        "mode": "payment",
        "origin_context": None,
        "payment_intent": session.payment_intent_id,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": list(session.payment_method_types),
        "payment_status": session.payment_status,
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": _saved_payment_method_options(session),
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": session.status,
        "submit_type": session.submit_type,
        "subscription": None,
        "success_url": session.success_url,
        "tax_id_collection": {"enabled": False, "required": "never"},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        # Stripe gives the URL only while the customer can still pay.
        "url": session.url if is_open else None,
        "wallet_options": None,
    }


def _customer_details(session: CheckoutSession) -> dict[str, Any] | None:
    email = session.customer_details_email or session.customer_email
    if session.status != "complete" and email is None:
        return None
    return {
        "address": None,
        "email": email,
        "name": session.customer_details_name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _saved_payment_method_options(session: CheckoutSession) -> dict[str, Any] | None:
    if not session.has_saved_payment_method_options:
        return None
    return {
        "allow_redisplay_filters": session.allow_redisplay_filters or ["always"],
        "payment_method_remove": None,
        "payment_method_save": session.payment_method_save,
    }
