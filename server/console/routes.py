"""Every console URL, each with a name; handlers carry the access they need (guard.py)."""

from __future__ import annotations

from aiohttp import web

from .views import access, live, notifications, pages, payment, settings

PAYMENT = "/admin/payments/{payment_id}"


def add_console_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin", pages.dashboard, name="admin.dashboard")
    router.add_get("/admin/figures", pages.dashboard_figures, name="admin.dashboard_figures")
    router.add_get("/admin/login", access.login_form, name="admin.login")
    router.add_post("/admin/login", access.login_submit, name="admin.login")
    router.add_post("/admin/logout", access.logout, name="admin.logout")
    router.add_get("/admin/setup/{token}", access.setup_form, name="admin.setup")
    router.add_post("/admin/setup/{token}", access.setup_submit, name="admin.setup")
    router.add_get("/admin/live", live.admin_live, name="admin.live")
    router.add_get("/admin/payments", pages.payments, name="admin.payments")
    router.add_get("/admin/payments.csv", pages.payments_csv, name="admin.payments_csv")
    router.add_get(PAYMENT, payment.payment_detail, name="admin.payment")
    router.add_get(PAYMENT + "/refund", payment.refund_confirm, name="admin.refund")
    router.add_post(PAYMENT + "/refund", payment.refund_submit, name="admin.refund")
    router.add_post(
        PAYMENT + "/refund-requests/{request_id}/discard",
        payment.refund_discard,
        name="admin.refund_discard",
    )
    router.add_post(PAYMENT + "/resend", payment.resend_mail, name="admin.resend")
    router.add_get(
        PAYMENT + "/notifications",
        notifications.payment_notifications,
        name="admin.notifications",
    )
    router.add_post(
        PAYMENT + "/notifications/redeliver",
        notifications.redeliver_notification,
        name="admin.notification_redeliver",
    )
    router.add_get("/admin/health", pages.health, name="admin.health")
    router.add_get("/admin/settings", settings.settings, name="admin.settings")
    router.add_post("/admin/settings/password", settings.change_password, name="admin.password")
    router.add_post(
        "/admin/settings/sessions/end-others",
        settings.end_other_sessions,
        name="admin.end_sessions",
    )
    router.add_post("/admin/settings/tokens", settings.create_token, name="admin.tokens")
    router.add_post(
        "/admin/settings/tokens/{token_id}/revoke", settings.revoke_token, name="admin.token_revoke"
    )
