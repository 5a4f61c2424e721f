"""Security headers on every page and answer: a strict CSP, nosniff, no referrer, no framing."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web


def content_security_policy(
    public_url: str, form_targets: Iterable[str], image_sources: Iterable[str]
) -> str:
    """Only our own origin, plus where the pay form may redirect (Stripe's checkout) and a logo host."""
    public = urlsplit(public_url)
    socket_origin = f"{'wss' if public.scheme == 'https' else 'ws'}://{public.netloc}"
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *image_sources],
        "font-src": ["'self'"],
        # Older browsers do not count ws:// of our own host as 'self'.
        "connect-src": ["'self'", socket_origin],
        # form-action also governs where a form's redirect may go: the checkout page.
        "form-action": ["'self'", *form_targets],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
    return "; ".join(
        f"{name} {' '.join(dict.fromkeys(values))}" for name, values in directives.items()
    )


def setup_security_headers(app: web.Application, csp: str, *, https: bool) -> None:
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        # Status URLs carry the payment's capability id: never send them to another site. Not
        # no-referrer: with it, browsers send "Origin: null" on our own form posts.
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        if response.status == 101:
            # A WebSocket's 101 has no body to render, frame or sniff (the page that opened it
            # carried them, HSTS included), and a live socket keeps its answer, headers and all,
            # for as long as it stays open. Every page, and any refused upgrade, still has them.
            return
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    app.on_response_prepare.append(add_headers)
