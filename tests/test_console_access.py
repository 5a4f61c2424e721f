"""Console access: nobody anonymous gets in anywhere, sign-in and sessions, CSRF, throttling, setup link."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient

from server.console.sessions import open_session, password_hasher, set_password
from server.console.throttle import LoginThrottle
from server.web.keys import db_key
from tests.conftest import (
    POSTGRESQL,
    REQUIRE_POSTGRESQL,
    count_rows,
    emptied_test_database,
    free_port,
    postgresql_problem,
)
from tests.console_helpers import (
    FAST,
    PASSWORD,
    csrf_token,
    form_of,
    get_as,
    post_form,
    sign_in,
    start_console,
)

PUBLIC_ROUTES = {"admin.login", "admin.setup"}
SAMPLE_PARTS = {
    "payment_id": "pay_nosuchpaymentatall",
    "request_id": "1",
    "token_id": "1",
    "token": "x" * 43,
}


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    return await start_console(aiohttp_server, aiohttp_client, app_env)


def console_routes(app: web.Application) -> list[tuple[str, str, str, str]]:
    """(kind, method, path, name) of every route under /admin and /api/admin, sub-apps included."""
    found = []
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            info = resource.get_info()
            if info["prefix"].startswith("/api/admin"):
                for inner in info["app"].router.resources():
                    for route in inner:
                        if route.method == "HEAD":
                            continue  # the GET route's own handler: the GET is checked
                        path = info["prefix"] + inner.canonical
                        found.append(
                            ("api", route.method, path.format(**SAMPLE_PARTS), route.name or "")
                        )
            continue
        if not resource.canonical.startswith("/admin"):
            continue
        for route in resource:
            if route.method == "HEAD" or route.name in PUBLIC_ROUTES:
                continue
            kind = "socket" if route.name == "admin.live" else "page"
            found.append(
                (kind, route.method, resource.canonical.format(**SAMPLE_PARTS), route.name or "")
            )
    return found


async def test_every_console_and_admin_api_route_refuses_anonymous_access(
    console: TestClient,
) -> None:
    routes = console_routes(console.server.app)
    assert {kind for kind, *_ in routes} == {"page", "socket", "api"}
    assert len(routes) >= 19, routes  # 16 console routes, the socket, 3 API routes at least
    token = await csrf_token(console)  # an anonymous browser with a valid CSRF cookie
    refused = []
    for kind, method, path, name in routes:
        data = {"csrf_token": token} if method == "POST" and kind == "page" else None
        response = await console.request(method, path, data=data, allow_redirects=False)
        if kind == "page":
            ok = response.status == 303 and response.headers["Location"].startswith("/admin/login")
        elif kind == "socket":
            ok = response.status == 401
        else:
            body = await response.json()
            ok = (
                response.status == 401
                and "Bearer" in response.headers.get("WWW-Authenticate", "")
                and "error" in body
            )
        if not ok:
            refused.append((name, method, path, response.status))
    assert refused == []


async def test_the_live_socket_refuses_to_upgrade_without_a_session(console: TestClient) -> None:
    with pytest.raises(WSServerHandshakeError) as failed:
        await console.ws_connect("/admin/live")
    assert failed.value.status == 401


async def test_a_page_remembers_where_the_operator_was_going(console: TestClient) -> None:
    response = await console.get("/admin/payments?status=succeeded", allow_redirects=False)
    assert response.headers["Location"] == "/admin/login?next=/admin/payments?status%3Dsucceeded"
    await sign_in(console, set_it=True)
    fields = await form_of(console, response.headers["Location"])
    answer = await console.post(
        "/admin/login", data={**fields, "password": PASSWORD}, allow_redirects=False
    )
    assert answer.headers["Location"] == "/admin/payments?status=succeeded"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/admin", "/payments/x", "/admin\\@evil"]
)
async def test_sign_in_never_redirects_off_the_console(console: TestClient, target: str) -> None:
    await sign_in(console)
    fields = await form_of(console, "/admin/login")
    answer = await console.post(
        "/admin/login", data={**fields, "password": PASSWORD, "next": target}, allow_redirects=False
    )
    assert answer.headers["Location"] == "/admin"


async def test_the_session_cookie_is_http_only_strict_and_scoped(console: TestClient) -> None:
    response = await sign_in(console)
    assert response.status == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    stored = await console.server.app[db_key].fetch_one("SELECT token_hash FROM console_sessions")
    assert stored is not None
    assert stored["token_hash"] not in cookie  # the database holds a hash, not the token


async def test_the_session_cookie_is_secure_behind_https(
    aiohttp_server, aiohttp_client, app_env
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(
        aiohttp_server, aiohttp_client, app_env, PUBLIC_URL="https://pay.example.com"
    )
    await set_password(client.server.app[db_key], PASSWORD, password_hasher(FAST))
    login = await client.get("/admin/login")
    csrf = login.cookies["paydesk_csrf"].value  # Secure, so the client would not send it over http
    response = await client.post(
        "/admin/login",
        data={"csrf_token": csrf, "password": PASSWORD},
        headers={"Cookie": f"paydesk_csrf={csrf}"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_wrong_password_is_refused(console: TestClient) -> None:
    await set_password(console.server.app[db_key], PASSWORD, password_hasher(FAST))
    fields = await form_of(console, "/admin/login")
    response = await console.post(
        "/admin/login", data={**fields, "password": "nope"}, allow_redirects=False
    )
    assert response.status == 401
    assert "That password is not right." in await response.text()
    assert (await console.get("/admin", allow_redirects=False)).status == 303


async def test_login_is_throttled_after_five_wrong_passwords(console: TestClient) -> None:
    await set_password(console.server.app[db_key], PASSWORD, password_hasher(FAST))
    fields = await form_of(console, "/admin/login")
    for _ in range(5):
        response = await console.post(
            "/admin/login", data={**fields, "password": "guess"}, allow_redirects=False
        )
        assert response.status == 401
    response = await console.post(
        "/admin/login", data={**fields, "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 429
    assert 800 < int(response.headers["Retry-After"]) <= 900
    text = await response.text()
    assert "Too many wrong passwords from your connection. Try again in 15 minutes." in text
    assert "(s)" not in text


async def test_wrong_passwords_from_one_client_do_not_lock_out_another(
    console: TestClient,
) -> None:
    await set_password(console.server.app[db_key], PASSWORD, password_hasher(FAST))
    fields = await form_of(console, "/admin/login")
    attacker = {"X-Forwarded-For": "198.51.100.66"}  # both come through the proxy on loopback
    operator = {"X-Forwarded-For": "203.0.113.10"}
    for expected in (401,) * 5 + (429,):
        response = await console.post(
            "/admin/login",
            data={**fields, "password": "guess"},
            headers=attacker,
            allow_redirects=False,
        )
        assert response.status == expected
    response = await console.post(
        "/admin/login",
        data={**fields, "password": PASSWORD},
        headers=operator,
        allow_redirects=False,
    )
    assert response.status == 303


def shared_postgresql_url() -> str:
    """This run's PostgreSQL database, emptied: for two app instances to share, as two processes."""
    problem = postgresql_problem()
    if problem is not None:
        if REQUIRE_POSTGRESQL:
            pytest.fail(f"PAYDESK_REQUIRE_POSTGRESQL=1 but {problem}")
        pytest.skip(problem)
    return urlsplit(POSTGRESQL)._replace(path="/" + emptied_test_database()).geturl()


@pytest.fixture
def postgresql_url() -> str:
    return shared_postgresql_url()


async def test_with_several_processes_wrong_passwords_count_in_every_one(
    aiohttp_server: Any, aiohttp_client: Any, app_env: dict[str, str], postgresql_url: str
) -> None:
    env = {**app_env, "DATABASE_URL": postgresql_url}
    a = await start_console(aiohttp_server, aiohttp_client, env)
    b = await start_console(aiohttp_server, aiohttp_client, env, PORT=str(free_port()))
    await set_password(a.server.app[db_key], PASSWORD, password_hasher(FAST))
    forms = {id(c): await form_of(c, "/admin/login") for c in (a, b)}

    async def attempt(client: TestClient, password: str, who: str) -> Any:
        return await client.post(
            "/admin/login",
            data={**forms[id(client)], "password": password},
            headers={"X-Forwarded-For": who},  # through the proxy on loopback
            allow_redirects=False,
        )

    attacker, operator = "198.51.100.66", "203.0.113.10"
    statuses = [(await attempt(c, "guess", attacker)).status for c in (a, b, a, b, a, b)]
    assert statuses == [401] * 5 + [429]  # five in all, wherever they landed
    refused = await attempt(a, "guess", attacker)
    assert refused.status == 429
    # The same attempts an hour's quarter allows, refilled as it passes: one every 3 minutes.
    assert 0 < int(refused.headers["Retry-After"]) <= 180
    # The operator's right password in one process forgives their wrong ones in the other.
    for _ in range(4):
        assert (await attempt(a, "typo", operator)).status == 401
    assert (await attempt(b, PASSWORD, operator)).status == 303
    statuses = [(await attempt(a, "typo", operator)).status for _ in range(5)]
    assert statuses == [401] * 5


async def test_a_burst_of_guesses_gets_only_five_password_checks(console: TestClient) -> None:
    await set_password(console.server.app[db_key], PASSWORD, password_hasher(FAST))
    fields = await form_of(console, "/admin/login")

    async def guess() -> int:
        data = {**fields, "password": "guess"}
        response = await console.post("/admin/login", data=data, allow_redirects=False)
        return response.status

    statuses = await asyncio.gather(*(guess() for _ in range(40)))
    assert sorted(statuses) == [401] * 5 + [429] * 35


async def test_password_checks_run_a_few_at_a_time() -> None:
    throttle = LoginThrottle(5, 60, concurrent_checks=2, max_waiting=3)
    inside, most, release = 0, 0, asyncio.Event()

    async def check() -> None:
        nonlocal inside, most
        async with throttle.checking():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(check()) for _ in range(5)]
    async with asyncio.timeout(5):
        while inside < 2 or not throttle.busy():
            await asyncio.sleep(0.01)
    assert most == 2  # two checking, three waiting: a sixth sign-in is told to come back
    release.set()
    await asyncio.gather(*tasks)
    assert not throttle.busy()


async def test_logout_revokes_the_session_on_the_server(console: TestClient) -> None:
    signed_in = await sign_in(console)
    token = signed_in.cookies["paydesk_admin"].value
    assert (await console.get("/admin", allow_redirects=False)).status == 200
    response = await post_form(console, "/admin/logout")
    assert response.status == 303
    assert await count_rows(console, "console_sessions") == 0
    assert await get_as(console, token, "/admin") == 303


async def test_signing_out_says_so_on_the_login_page(console: TestClient) -> None:
    await sign_in(console)
    response = await post_form(console, "/admin/logout")
    login = await console.get(response.headers["Location"])
    assert login.url.path == "/admin/login"
    html = await login.text()
    assert "You are signed out." in html
    assert 'name="password"' in html  # and the operator can sign in again right there
    assert "You are signed out." not in await (await console.get("/admin/login")).text()


async def test_before_any_password_the_console_says_how_to_set_one(console: TestClient) -> None:
    html = await (await console.get("/admin")).text()  # redirected to the login page
    assert "No console password is set yet." in html
    assert "setup link paydesk printed in its log" in html
    assert "<code>paydesk set-password</code>, then reload this page" in html
    assert 'name="password"' not in html  # no sign-in form that cannot work
    await set_password(console.server.app[db_key], PASSWORD, password_hasher(FAST))
    html = await (await console.get("/admin")).text()
    assert "No console password is set yet." not in html
    assert 'name="password"' in html


@pytest.mark.parametrize(
    ("column", "age_minutes"),
    [("last_seen_at", 31), ("created_at", 12 * 60 + 1)],
    ids=["idle", "absolute"],
)
async def test_sessions_expire(console: TestClient, column: str, age_minutes: int) -> None:
    await sign_in(console)
    db = console.server.app[db_key]
    await db.write(
        lambda conn: conn.execute(
            f"UPDATE console_sessions SET {column} = {column} - ?",  # noqa: S608 - parametrized names
            (age_minutes * 60_000,),
        )
    )
    response = await console.get("/admin", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/admin/login?next=/admin&expired=1")
    assert await count_rows(console, "console_sessions") == 0


async def test_a_password_change_signs_out_every_other_browser(console: TestClient) -> None:
    await sign_in(console)
    other = await open_session(console.server.app[db_key], "another laptop")
    assert await get_as(console, other, "/admin/settings") == 200
    new = "an entirely different passphrase"
    response = await post_form(
        console, "/admin/settings/password", current=PASSWORD, password=new, confirm=new
    )
    assert response.status == 303
    assert (
        await console.get("/admin/settings", allow_redirects=False)
    ).status == 200  # this browser stays in
    assert await get_as(console, other, "/admin/settings") == 303


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
async def test_state_changing_forms_need_the_csrf_token(
    console: TestClient, token: str | None
) -> None:
    await sign_in(console)
    data = {"name": "script"} | ({"csrf_token": token} if token else {})
    response = await console.post("/admin/settings/tokens", data=data, allow_redirects=False)
    assert response.status == 403
    assert await count_rows(console, "console_api_tokens") == 0


async def test_a_form_from_another_site_is_refused(console: TestClient) -> None:
    await sign_in(console)
    token = await csrf_token(console)
    response = await console.post(
        "/admin/settings/tokens",
        data={"csrf_token": token, "name": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403


def setup_link(records: list[logging.LogRecord]) -> str:
    for record in records:
        found = re.search(r"http://\S+(/admin/setup/\S+)", record.getMessage())
        if found:
            return found.group(1)
    raise AssertionError("no setup link was logged")


async def test_the_setup_link_sets_the_first_password_once(
    aiohttp_server, aiohttp_client, app_env, caplog
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    path = setup_link(caplog.records)
    page = await (await client.get(path)).text()
    # The rules come before the first try, not only in the error after it.
    assert "The password needs at least 12 characters" in page
    assert 'minlength="12"' in page
    fields = await form_of(client, path)
    mismatch = await client.post(
        path, data={**fields, "password": PASSWORD, "confirm": "other"}, allow_redirects=False
    )
    assert mismatch.status == 400
    assert "not the same" in await mismatch.text()
    response = await client.post(
        path, data={**fields, "password": PASSWORD, "confirm": PASSWORD}, allow_redirects=False
    )
    assert (response.status, response.headers["Location"]) == (303, "/admin")
    assert (await client.get("/admin")).status == 200
    again = await client.post(
        path, data={**fields, "password": "hijacked password!", "confirm": "hijacked password!"}
    )
    assert again.status == 404
    assert "already used or has expired" in await again.text()
    assert (await client.get(path)).status == 404
    stored = await client.server.app[db_key].fetch_all(
        "SELECT token_hash FROM console_setup_tokens"
    )
    assert path.rsplit("/", 1)[1] not in {row[0] for row in stored}  # stored hashed


async def test_an_expired_setup_link_does_nothing(
    aiohttp_server, aiohttp_client, app_env, caplog
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    path = setup_link(caplog.records)
    await client.server.app[db_key].write(
        lambda conn: conn.execute("UPDATE console_setup_tokens SET expires_at = 0")
    )
    assert (await client.get(path)).status == 404


async def test_no_setup_link_is_printed_once_a_password_is_set(
    aiohttp_server, aiohttp_client, app_env, caplog
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    await client.close()
    caplog.clear()
    await start_console(aiohttp_server, aiohttp_client, app_env)
    with pytest.raises(AssertionError):
        setup_link(caplog.records)


async def api_token_from_settings(client: TestClient, name: str = "books") -> str:
    response = await post_form(client, "/admin/settings/tokens", name=name)
    assert response.status == 200
    found = re.search(r'value="(pdk_[^"]+)" readonly data-new-token', await response.text())
    assert found, "the new token is shown once"
    return found.group(1)


async def test_api_tokens_are_shown_once_and_can_be_revoked(console: TestClient) -> None:
    await sign_in(console)
    secret = await api_token_from_settings(console)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await console.get("/api/admin/payments", headers=bearer)).status == 200
    settings_page = await (await console.get("/admin/settings")).text()
    assert secret not in settings_page
    assert secret[:8] in settings_page
    token_id = re.search(r"/admin/settings/tokens/(\d+)/revoke", settings_page)
    assert token_id
    assert (
        await post_form(console, f"/admin/settings/tokens/{token_id.group(1)}/revoke")
    ).status == 303
    assert (await console.get("/api/admin/payments", headers=bearer)).status == 401


async def test_the_console_cookie_does_not_open_the_api(console: TestClient) -> None:
    await sign_in(console)
    assert (await console.get("/admin")).status == 200
    response = await console.get("/api/admin/payments")
    assert response.status == 401


@pytest.mark.parametrize("header", ["Bearer pdk_madeup", "Basic cGRrOng=", "pdk_x", "Bearer "])
async def test_the_api_refuses_bad_credentials(console: TestClient, header: str) -> None:
    response = await console.get("/api/admin/payments", headers={"Authorization": header})
    assert response.status == 401
    body: dict[str, Any] = await response.json()
    assert body["error"]["message"].startswith("Send a console API token")
