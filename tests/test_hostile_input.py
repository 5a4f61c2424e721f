"""Hostile input from anonymous clients: refused cleanly (4xx with a message), cheaply, never a 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.web.keys import config_key
from tests import lifecycle_events as flows
from tests.conftest import PROJECT_ROOT, count_rows, free_port, wait_until_ok
from tests.stripe_signing import event_body, sign

WEBHOOK = "/webhooks/stripe"
SECRET = "whsec_hostile_input_test"
ANSWER_WITHIN_S = 2.0  # only a freeze crosses this: the machine is shared


async def raw_request(client: TestClient, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these bytes (headers with non-ASCII in them); (status, body) of the answer."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert errors == []


# -- tokens: compared as ASCII bytes, anything else is no token ---------------------------------


async def test_a_non_ascii_signature_is_a_malformed_header(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = event_body(flows.card_success(flows.Stripe("hand-built"))[-1])
    head = f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=1,v1=".encode()
    status, answer = await raw_request(client, head + "é\r\n".encode(), body)
    assert status == 400
    assert json.loads(answer)["error"]["message"] == "malformed Stripe-Signature header"
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("cookie", "field"),
    [
        ("paydesk_csrf=abc", "é"),  # a form token that is not ASCII
        ("paydesk_csrf=" + "é", "é"),  # a cookie in UTF-8 bytes
        ("paydesk_csrf=\xff", "abc"),  # a cookie that is not even UTF-8
    ],
)
async def test_a_non_ascii_csrf_token_is_refused(
    client: TestClient, caplog: pytest.LogCaptureFixture, cookie: str, field: str
) -> None:
    body = urlencode({"csrf_token": field, "product": "drop-in-class"}).encode()
    head = (
        b"POST /checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + b"Cookie: "
        + cookie.encode("utf-8" if "\xff" not in cookie else "latin-1")
        + b"\r\n"
    )
    status, answer = await raw_request(client, head, body)
    assert status == 403
    assert "Reload the page and try again" in answer.decode()
    assert await count_rows(client) == 0
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("path", "header", "expected"),
    [
        ("/admin", b"Cookie: paydesk_admin=\xc3\xa9\xff", 303),  # to the login page
        ("/admin/payments", b"Cookie: paydesk_admin=" + b"A" * 5000, 303),
        ("/api/admin/payments", "Authorization: Bearer pdk_é".encode(), 401),
        ("/api/admin/payments", b"Authorization: Bearer pdk_\xff\xfe", 401),
        ("/admin/setup/" + quote("é\x00"), b"X-Nothing: 1", 404),
    ],
)
async def test_odd_console_tokens_are_no_tokens(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str, header: bytes, expected: int
) -> None:
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + header + b"\r\n"
    status, _ = await raw_request(client, head)
    assert status == expected
    no_tracebacks(caplog)


# -- signed events: numbers and timestamps in range ---------------------------------------------


def secret_of(client: TestClient) -> str:
    return client.server.app[config_key].webhook_secrets[0]


@pytest.mark.parametrize(
    "created", [2**63, 2**64 + 5, -(2**63) - 1, True, 10**30, -1, 253_402_300_800]
)
async def test_an_event_created_out_of_range_is_malformed(
    client: TestClient, caplog: pytest.LogCaptureFixture, created: Any
) -> None:
    event = {**flows.card_success(flows.Stripe("hand-built"))[-1], "created": created}
    body = event_body(event)
    response = await client.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": sign(body, secret_of(client))}
    )
    assert response.status == 400
    message = (await response.json())["error"]["message"]
    assert "created" in message or message == "body is not JSON"  # orjson stops at 64 bits
    assert await count_rows(client, "stripe_events") == 0
    no_tracebacks(caplog)


@pytest.mark.parametrize("stamp", ["+{t}", " {t}", "{t}.0", "0{t}" + "0" * 20])
async def test_a_timestamp_is_digits_only(client: TestClient, stamp: str) -> None:
    """`t=+<digits>`, correctly signed, once slipped past the future-timestamp check."""
    body = event_body(flows.card_success(flows.Stripe("hand-built"))[-1])
    t = stamp.format(t=int(time.time()) + 3600)
    signed = hmac.new(secret_of(client).encode(), f"{t}.".encode() + body, hashlib.sha256)
    header = f"t={t},v1={signed.hexdigest()}"
    response = await client.post(WEBHOOK, data=body, headers={"Stripe-Signature": header})
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "malformed Stripe-Signature header"
    assert await count_rows(client, "stripe_events") == 0


# -- paths: an unknown one is 404 whatever the method -------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
async def test_an_unknown_path_is_not_found_whatever_the_method(
    client: TestClient, method: str
) -> None:
    response = await client.request(method, "/no/such/page", data=b"x=1")
    assert response.status == 404
    assert "We could not find that page" in await response.text()


async def test_a_known_path_with_the_wrong_method_says_so(client: TestClient) -> None:
    assert (await client.post("/healthz", data=b"x=1")).status == 405


# -- properties: every public field, random input, never a 5xx ----------------------------------


class Paydesk:
    """`python run.py` on a free port with its log in a file, shared by the property tests."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "paydesk.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
        env = {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{folder / 'paydesk.db'}",
            "CHECKOUT_RATE_LIMIT": "10000",
            "MAIL_DIR": str(folder / "mail"),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.env = {**inherited, **env}
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, bytes] | None = None,
        *,
        retry_asked: bool = False,
    ) -> tuple[int, bytes]:
        """One request with a fresh connection; (status, body), checked against the time bound."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        assert time.monotonic() - started < ANSWER_WITHIN_S
        # The one 5xx by design: a verified event naming a payment that may still be committed
        # here is answered 500 so that Stripe sends it again (docs/webhooks-and-live-status.md).
        by_design = retry_asked and response.status == 500 and UNKNOWN_PAYMENT in answer
        assert response.status < 500 or by_design, (method, path, response.status, answer[:300])
        return response.status, answer

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._out.close()
        return self.log.read_text()


@pytest.fixture(scope="module")
def paydesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paydesk]:
    server = Paydesk(tmp_path_factory.mktemp("hostile"))
    try:
        asyncio.run(wait_until_ok(f"http://127.0.0.1:{server.port}/healthz"))
        password = "correct horse battery staple\n"
        subprocess.run(  # so the login form checks passwords rather than asking for setup
            [sys.executable, "run.py", "set-password"],
            cwd=PROJECT_ROOT,
            env=server.env,
            input=password * 2,
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield server
    finally:
        log = server.stop()
    assert paydesk_tracebacks(log) == []


def paydesk_tracebacks(log: str) -> list[str]:
    """Logged tracebacks, but for aiohttp's own HTTP parser refusing a request line or header
    (answered 400 before any of paydesk's code runs)."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d )", log)
    return [
        record
        for record in records
        if ("Traceback" in record or "unhandled error" in record)
        and "aiohttp.http_exceptions." not in record
    ]


def form_token(paydesk: Paydesk, path: str) -> tuple[bytes, str]:
    """A browser's CSRF cookie and token, as the page at `path` hands them out."""
    connection = http.client.HTTPConnection("127.0.0.1", paydesk.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    page = response.read().decode()
    connection.close()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = cookie.partition("=")[2]
    assert token and f'value="{token}"' in page
    return cookie.encode(), token


PROPERTIES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Text a person or a script could send: any character (no lone surrogates: forms are UTF-8).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
UNKNOWN_PAYMENT = b"event names an unknown paydesk payment"
HUGE = st.integers(min_value=-(2**80), max_value=2**80).map(str)
FIELD = st.one_of(TEXT, HUGE, st.sampled_from(["", "0", "-1", "1e309", "NaN", "\x00", "é" * 5000]))
RAW = st.binary(max_size=400)
# Bytes a header value can carry through the HTTP parser (no control characters).
HEADER = RAW.map(lambda raw: bytes(byte for byte in raw if byte >= 0x20 and byte != 0x7F))


@PROPERTIES
@given(name=FIELD, email=FIELD, product=FIELD, amount=FIELD, quantity=FIELD, token=FIELD)
def test_the_payment_form_never_fails(
    paydesk: Paydesk, name: str, email: str, product: str, amount: str, quantity: str, token: str
) -> None:
    cookie, csrf = form_token(paydesk, "/")
    fields = {
        "csrf_token": csrf,
        "form_token": token,
        "product": product,
        "name": name,
        "email": email,
        f"amount-{product[:20]}": amount,
        f"quantity-{product[:20]}": quantity,
    }
    body = urlencode(fields).encode()
    headers = {"Cookie": cookie, "Content-Type": b"application/x-www-form-urlencoded"}
    paydesk.request("POST", "/checkout", body, headers)


@PROPERTIES
@given(
    fields=st.dictionaries(
        st.sampled_from(["product", "quantity", "amount", "name", "email", "price", "x"]),
        st.one_of(FIELD, st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.none()),
    ),
    key=HEADER,
)
def test_the_checkout_api_never_fails(paydesk: Paydesk, fields: dict[str, Any], key: bytes) -> None:
    body = json.dumps(fields).encode()
    headers = {"Content-Type": b"application/json", "Idempotency-Key": key}
    paydesk.request("POST", "/api/checkout", body, headers)


@PROPERTIES
@given(body=RAW, header=HEADER, created=st.one_of(HUGE, TEXT, st.floats().map(str)))
def test_the_webhook_never_fails(
    paydesk: Paydesk, body: bytes, header: bytes, created: str
) -> None:
    # Random bytes with a random header, and a well-signed event with a random `created`.
    paydesk.request("POST", WEBHOOK, body, {"Stripe-Signature": header})
    event = body_with_created(created)
    signature = sign(event, SECRET).encode()
    paydesk.request("POST", WEBHOOK, event, {"Stripe-Signature": signature}, retry_asked=True)


def body_with_created(created: str) -> bytes:
    event = flows.card_success(flows.Stripe("hand-built"))[-1]
    text = event_body({**event, "id": f"evt_{time.monotonic_ns()}", "created": 0})
    return text.replace(b'"created":0', b'"created":' + json.dumps(created).encode().strip(b'"'))


@PROPERTIES
@given(payment_id=TEXT, tail=st.sampled_from(["", "/live", "/cancelled"]))
def test_the_status_pages_never_fail(paydesk: Paydesk, payment_id: str, tail: str) -> None:
    paydesk.request("GET", "/payments/" + quote(payment_id, safe="") + tail)
    paydesk.request("GET", "/api/payments/" + quote(payment_id, safe=""))


@PROPERTIES
@given(password=FIELD, next_url=FIELD, cookie=HEADER)
def test_the_console_login_never_fails(
    paydesk: Paydesk, password: str, next_url: str, cookie: bytes
) -> None:
    csrf_cookie, csrf = form_token(paydesk, "/admin/login")
    body = urlencode({"csrf_token": csrf, "password": password, "next": next_url}).encode()
    odd = b"paydesk_admin=" + cookie.replace(b";", b"")
    headers = {
        "Cookie": csrf_cookie + b"; " + odd,
        "Content-Type": b"application/x-www-form-urlencoded",
    }
    paydesk.request("POST", "/admin/login", body, headers)
    paydesk.request("GET", "/admin/payments?q=" + quote(next_url), headers={"Cookie": odd})
