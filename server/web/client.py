"""Who a request comes from: the one client identity every limiter, throttle and log line uses."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
Headers = CIMultiDictProxy[str]

# aiohttp-remotes was considered and not used: its XForwardedStrict wants an exact number of hops
# and answers 400 to a direct client whose peer is not a proxy, and XForwardedFiltered reads
# X-Forwarded-For without checking that the connection comes from a proxy at all, so any client
# could name itself. Here the headers count only from a trusted peer, and the client is the
# right-most address that is not a trusted proxy: everything left of it was written by the client.


def client_id(request: web.Request) -> str:
    """The client's address: the connection's peer, or behind a trusted proxy the address it saw."""
    return request.remote or "unknown"


def setup_client_identity(app: web.Application, trusted: Iterable[Network]) -> None:
    """Honour X-Forwarded-For / Forwarded / X-Forwarded-Proto, but only from `trusted` peers."""
    networks = tuple(trusted)

    # Not async: it only looks before the handler, and aiohttp awaits the handler's coroutine it
    # returns, so no frame of its own stays alive for as long as a live socket is open.
    @web.middleware
    def client_identity(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        peer = _trusted_peer(request, networks)
        if peer is None:  # the usual case without a proxy: one address parse, nothing more
            return handler(request)
        changes: dict[str, str] = {}
        behind = _client_behind_peer(request, peer, networks)
        if behind:
            changes["remote"] = behind
        scheme = forwarded_scheme(request.headers)
        if scheme:
            changes["scheme"] = scheme
        return handler(request.clone(**changes) if changes else request)  # type: ignore[arg-type]

    app.middlewares.append(client_identity)


def client_behind(request: web.BaseRequest, trusted: tuple[Network, ...]) -> str | None:
    """The client a trusted proxy forwarded `request` for, or None (not from a proxy, no header).

    The access log applies it too: aiohttp hands its logger the request as it arrived.
    """
    peer = _trusted_peer(request, trusted)
    return None if peer is None else _client_behind_peer(request, peer, trusted)


def _trusted_peer(request: web.BaseRequest, trusted: tuple[Network, ...]) -> Address | None:
    peer = _address(request.remote)
    return peer if peer is not None and _is_trusted(peer, trusted) else None


def _client_behind_peer(
    request: web.BaseRequest, peer: Address, trusted: tuple[Network, ...]
) -> str | None:
    chain = forwarded_chain(request.headers)
    return str(right_most_untrusted(chain, peer, trusted)) if chain else None


def forwarded_chain(headers: Headers) -> list[str]:
    """The forwarded-for addresses, client first: X-Forwarded-For if sent, else Forwarded's for=."""
    x_forwarded_for = headers.getall("X-Forwarded-For", [])
    if x_forwarded_for:
        return [item.strip() for line in x_forwarded_for for item in line.split(",")]
    return [value for element in _forwarded_elements(headers) if (value := element.get("for"))]


def forwarded_scheme(headers: Headers) -> str | None:
    """http or https as the nearest proxy saw it; anything else is ignored."""
    x_proto = [
        p.strip().lower()
        for line in headers.getall("X-Forwarded-Proto", [])
        for p in line.split(",")
    ]
    protos = x_proto or [e["proto"].lower() for e in _forwarded_elements(headers) if "proto" in e]
    if protos and protos[-1] in ("http", "https"):
        return protos[-1]
    return None


def right_most_untrusted(chain: list[str], peer: Address, trusted: tuple[Network, ...]) -> Address:
    """Walk from our peer towards the client; stop at the first hop that is not a trusted proxy.

    A trusted proxy appends a real address, so an entry that does not parse was written by the
    client itself: the walk stops there and the client is the last good hop.
    """
    client = peer
    for entry in reversed(chain):
        hop = _address(entry)
        if hop is None:
            return client
        client = hop
        if not _is_trusted(hop, trusted):
            return hop
    return client


def _forwarded_elements(headers: Headers) -> list[dict[str, str]]:
    """RFC 7239 Forwarded: one dict of lower-cased parameters per hop, in order."""
    elements = []
    for line in headers.getall("Forwarded", []):
        for element in line.split(","):
            params = {}
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                params[name.strip().lower()] = value.strip().strip('"')
            elements.append(params)
    return elements


def _address(text: str | None) -> Address | None:
    """An IP address from a peer or header entry ('[::1]:443' and '1.2.3.4:80' included), or None."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        return ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)
