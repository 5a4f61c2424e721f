"""Who the client is behind a TLS proxy: forwarded headers count only from trusted proxies."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from aiohttp import web

from server.config import ConfigError, load_config
from server.web.client import client_id, setup_client_identity
from tests.conftest import MakeClient

ORDER = {"product": "drop-in-class", "name": "Ada Lovelace", "email": "ada@example.com"}
LOOPBACK = ("127.0.0.1/32", "::1/128")
PRIVATE_PROXIES = (*LOOPBACK, "10.0.0.0/8")


async def seen_as(aiohttp_client: Any, trusted: tuple[str, ...], headers: dict[str, str]) -> str:
    """'client scheme' as a handler behind the identity middleware sees them (peer is 127.0.0.1)."""

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=f"{client_id(request)} {request.scheme}")

    app = web.Application()
    setup_client_identity(app, [ip_network(item) for item in trusted])
    app.router.add_get("/", whoami)
    client = await aiohttp_client(app)
    response = await client.get("/", headers=headers)
    return await response.text()


@pytest.mark.parametrize(
    ("trusted", "headers", "seen"),
    [
        (LOOPBACK, {}, "127.0.0.1 http"),
        (LOOPBACK, {"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7 http"),
        # The client wrote the left part itself; the proxy appended what it saw.
        (LOOPBACK, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, "203.0.113.7 http"),
        (PRIVATE_PROXIES, {"X-Forwarded-For": "203.0.113.7, 10.1.2.3"}, "203.0.113.7 http"),
        (PRIVATE_PROXIES, {"X-Forwarded-For": "not-an-ip, 10.1.2.3"}, "10.1.2.3 http"),
        (PRIVATE_PROXIES, {"X-Forwarded-For": "10.9.9.9, 10.1.2.3"}, "10.9.9.9 http"),
        (LOOPBACK, {"X-Forwarded-For": "2001:db8::7"}, "2001:db8::7 http"),
        (LOOPBACK, {"X-Forwarded-Proto": "https"}, "127.0.0.1 https"),
        (LOOPBACK, {"X-Forwarded-Proto": "javascript"}, "127.0.0.1 http"),
        (
            LOOPBACK,
            {"Forwarded": 'for=198.51.100.1, for="[2001:db8::1]:4711";proto=https'},
            "2001:db8::1 https",
        ),
        # X-Forwarded-For, which the proxy writes, wins over a Forwarded header passed through.
        (
            LOOPBACK,
            {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=198.51.100.9"},
            "203.0.113.7 http",
        ),
        # From a peer that is not a trusted proxy the headers are the client's own words.
        (
            ("192.0.2.1/32",),
            {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
            "127.0.0.1 http",
        ),
        ((), {"Forwarded": "for=203.0.113.7;proto=https"}, "127.0.0.1 http"),
    ],
)
async def test_the_client_is_the_right_most_untrusted_address(
    aiohttp_client: Any, trusted: tuple[str, ...], headers: dict[str, str], seen: str
) -> None:
    assert await seen_as(aiohttp_client, trusted, headers) == seen


async def test_customers_behind_the_proxy_get_their_own_checkout_limit(
    make_client: MakeClient,
) -> None:
    client = await make_client(CHECKOUT_RATE_LIMIT="1")
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2"}
    assert (await client.post("/api/checkout", json=ORDER, headers=first)).status == 201
    assert (await client.post("/api/checkout", json=ORDER, headers=first)).status == 429
    assert (await client.post("/api/checkout", json=ORDER, headers=second)).status == 201


async def test_a_client_cannot_name_itself_from_an_untrusted_peer(
    make_client: MakeClient,
) -> None:
    client = await make_client(CHECKOUT_RATE_LIMIT="1", TRUSTED_PROXIES="192.0.2.1")
    for address, status in (("203.0.113.1", 201), ("203.0.113.2", 429)):
        headers = {"X-Forwarded-For": address}
        assert (await client.post("/api/checkout", json=ORDER, headers=headers)).status == status


@pytest.mark.parametrize(
    ("raw", "networks"),
    [
        ("", LOOPBACK),
        ("none", ()),
        ("10.0.0.0/8, 192.0.2.7", ("10.0.0.0/8", "192.0.2.7/32")),
        ("fd00::/8", ("fd00::/8",)),
    ],
)
def test_trusted_proxies_setting(raw: str, networks: tuple[str, ...]) -> None:
    config = load_config({"TRUSTED_PROXIES": raw}, env_file=None)
    assert config.trusted_proxies == tuple(ip_network(n) for n in networks)


def test_a_trusted_proxy_that_is_not_an_address_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"TRUSTED_PROXIES: .* got 'proxy\.local'"):
        load_config({"TRUSTED_PROXIES": "127.0.0.1,proxy.local"}, env_file=None)
