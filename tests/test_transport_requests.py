"""The transports' general request over real HTTP (a small aiohttp server on 127.0.0.1, tests/echo_server.py):
bodies of any content type, query params and extra headers, streamed answers (capped, scrubbed), the
origin rule for credentials, header values checked, and an OAuth-style auth refreshed once for many
requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from echo_server import EchoServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_jobstatus.errors import (
    ConfigurationError,
    PermanentVendorError,
    ResponseTooLarge,
    VendorAuthError,
)
from airflow_jobstatus.http.auth import Auth, StaticAuth, with_credentials
from airflow_jobstatus.http.exchange import HEADER_VALUE, Body
from airflow_jobstatus.http.transport import ApiTarget, SyncTransport
from airflow_jobstatus.http.transport_async import AsyncTransport, shared_session

CAP = 256 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with EchoServer() as running:
        yield running


@pytest.fixture(scope="module")
def other() -> Iterator[EchoServer]:
    """A second origin (another port): never the API host."""
    with EchoServer(token="other-token-1111") as running:
        yield running


@pytest.fixture(autouse=True)
def _clear(server: EchoServer, other: EchoServer) -> None:
    for each in (server, other):
        with each.lock:
            each.seen.clear()
            each.grants = 0


def target(server: EchoServer, token: str | None = None, **overrides: Any) -> ApiTarget:
    token = server.token if token is None else token
    fields: dict[str, Any] = {
        "vendor": "Echo",
        "conn_id": "echo_default",
        "base_url": server.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "secrets": (f"Bearer {token}", token),
        "max_body_bytes": CAP,
    }
    fields.update(overrides)
    return ApiTarget(**fields)


# --- bodies, params and headers ---------------------------------------------------------------------
def test_a_form_body_arrives_as_sent(server: EchoServer) -> None:
    fields = [("grant", "a b&c=d"), ("name", "é"), ("name", "2")]
    answer = SyncTransport(target(server)).request("POST", "/echo", body=Body.form(fields), retry=False)
    (seen,) = server.requests("/echo")
    assert seen.body == urlencode(fields).encode()
    assert parse_qsl(seen.body.decode()) == fields
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(answer.body)["content_type"] == "application/x-www-form-urlencoded"
    assert answer.status == 200 and answer.chunks is None


def test_a_raw_body_arrives_byte_for_byte(server: EchoServer) -> None:
    raw = bytes(range(256)) * 4
    SyncTransport(target(server)).request("PUT", "/echo", body=Body.raw(raw, "application/x-thing"))
    (seen,) = server.requests("/echo")
    assert (seen.method, seen.body, seen.headers["Content-Type"]) == ("PUT", raw, "application/x-thing")


async def test_the_async_transport_sends_form_and_raw_bodies_as_given(server: EchoServer) -> None:
    raw = bytes(range(256))
    async with shared_session() as session:
        transport = AsyncTransport(target(server), session)
        await transport.request("POST", "/echo", body=Body.form({"a": "1 2"}), retry=False)
        answer = await transport.request("POST", "/echo", body=Body.raw(raw, "image/png"), retry=False)
    form, binary = server.requests("/echo")
    assert (form.body, form.headers["Content-Type"]) == (b"a=1+2", "application/x-www-form-urlencoded")
    assert (binary.body, binary.headers["Content-Type"]) == (raw, "image/png")
    assert json.loads(answer.body)["body"].encode("latin-1") == raw


def test_params_extra_headers_and_json_go_out_as_asked(server: EchoServer) -> None:
    transport = SyncTransport(target(server))
    payload = transport.request_json(
        "POST",
        "/echo",
        params={"ids": "1,2", "page[size]": "1"},
        json_body={"tickets": [{"id": 1}]},
        headers={"X-Request-Id": "abc-1", "accept": "application/vnd.echo+json"},
        retry=False,
    )
    (seen,) = server.requests("/echo")
    assert dict(parse_qsl(seen.query)) == {"ids": "1,2", "page[size]": "1"}
    assert json.loads(seen.body) == {"tickets": [{"id": 1}]}
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Request-Id"] == "abc-1"
    assert seen.headers["Accept"] == "application/vnd.echo+json"  # replaced, not sent twice
    assert payload["method"] == "POST"


def test_a_json_body_json_cannot_hold_is_refused_before_sending(server: EchoServer) -> None:
    with pytest.raises(ConfigurationError, match="cannot be sent as JSON"):
        SyncTransport(target(server)).request_json("POST", "/echo", json_body={"x": float("nan")})
    assert server.requests() == []


def test_a_body_never_prints_its_content() -> None:
    body = Body.form({"client_secret": "s3cret-value-42"})
    assert "s3cret-value-42" not in repr(body)


# --- streamed answers -------------------------------------------------------------------------------
def test_a_streamed_answer_under_the_cap_arrives_whole(server: EchoServer) -> None:
    with SyncTransport(target(server)).request("GET", "/stream?n=200000&chunk=7000", stream=True) as answer:
        data = b"".join(answer.iter_chunks())
    assert data == b"x" * 200000


def test_a_streamed_answer_over_the_cap_is_stopped(server: EchoServer) -> None:
    received = 0
    with (
        pytest.raises(ResponseTooLarge, match=f"more than {CAP} bytes"),
        SyncTransport(target(server)).request("GET", "/stream?n=50000000", stream=True) as answer,
    ):
        for chunk in answer.iter_chunks():
            received += len(chunk)
    assert CAP - 64 * 1024 <= received <= CAP  # stopped at the cap, not at 50 MB


def test_a_content_length_over_the_cap_fails_before_the_body_is_read(server: EchoServer) -> None:
    with pytest.raises(ResponseTooLarge):
        SyncTransport(target(server)).request("GET", f"/sized?n={CAP + 1}", stream=True)
    answer = SyncTransport(target(server)).request(
        "GET", f"/sized?n={CAP + 1}", stream=True, max_bytes=CAP * 2
    )
    with answer:
        assert sum(len(chunk) for chunk in answer.iter_chunks()) == CAP + 1  # a larger cap for this call


async def test_an_async_streamed_answer_over_the_cap_is_stopped(server: EchoServer) -> None:
    received = 0
    async with shared_session() as session:
        transport = AsyncTransport(target(server), session)
        answer = await transport.request("GET", "/stream?n=50000000", stream=True)
        with pytest.raises(ResponseTooLarge):
            async with answer:
                async for chunk in answer.iter_chunks():
                    received += len(chunk)
        small = await transport.request("GET", "/stream?n=100000&chunk=999", stream=True)
        async with small:
            whole = b"".join([chunk async for chunk in small.iter_chunks()])
    assert received <= CAP and whole == b"x" * 100000


def test_a_secret_split_across_chunks_is_scrubbed_from_a_stream(server: EchoServer) -> None:
    text = f"before {server.token} middle Bearer {server.token} after"
    url = "/says?" + urlencode({"text": text, "chunk": 3})
    transport = SyncTransport(target(server))
    with transport.request("GET", url, stream=True) as answer:
        streamed = b"".join(answer.iter_chunks())
    whole = transport.request("GET", url).body
    assert streamed == whole == b"before *** middle *** after"


async def test_a_secret_split_across_chunks_is_scrubbed_from_an_async_stream(server: EchoServer) -> None:
    url = "/says?" + urlencode({"text": f"<{server.token}>", "chunk": 2})
    async with shared_session() as session:
        answer = await AsyncTransport(target(server), session).request("GET", url, stream=True)
        async with answer:
            streamed = b"".join([chunk async for chunk in answer.iter_chunks()])
    assert streamed == b"<***>"


# --- credentials and origins ------------------------------------------------------------------------
class CountingAuth(StaticAuth):
    """Static credentials that count refresh attempts."""

    calls = 0

    def refresh(self) -> bool:
        self.calls += 1
        return False


def test_credentials_never_go_to_another_origin(server: EchoServer, other: EchoServer) -> None:
    auth = CountingAuth(target(server))
    transport = SyncTransport(auth)
    transport.request("GET", "/echo")
    transport.request("GET", f"{other.url}/echo")
    (api,), (foreign,) = server.requests("/echo"), other.requests("/echo")
    assert api.headers["Authorization"] == f"Bearer {server.token}"
    assert "Authorization" not in foreign.headers
    assert server.token not in repr(foreign.headers) + foreign.query
    # A 401 from the other origin carried no credentials: nothing to refresh.
    with pytest.raises(VendorAuthError):
        transport.request("GET", f"{other.url}/auth")
    assert auth.calls == 0 and len(other.requests("/auth")) == 1


def test_a_redirect_to_another_host_is_not_followed(server: EchoServer, other: EchoServer) -> None:
    url = "/redirect?" + urlencode({"to": f"{other.url}/echo"})
    with pytest.raises(PermanentVendorError, match=r"redirect \(HTTP 302\)"):
        SyncTransport(target(server)).request("GET", url)
    assert other.requests() == []
    assert len(server.requests("/redirect")) == 1  # a redirect is not a transient failure: no retry


def test_an_extra_header_cannot_replace_the_credentials(server: EchoServer, other: EchoServer) -> None:
    transport = SyncTransport(target(server))
    with pytest.raises(ConfigurationError, match="carries the connection's credentials"):
        transport.request("GET", "/echo", headers={"authorization": "Bearer forged"})
    assert server.requests() == []
    transport.request("GET", f"{other.url}/echo", headers={"Authorization": "Basic other-host"})
    assert other.requests("/echo")[0].headers["Authorization"] == "Basic other-host"


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
anything = st.text(max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(printable, anything))
def test_header_values_arrive_as_sent_or_are_refused_before_sending(server: EchoServer, value: str) -> None:
    before = len(server.requests())
    transport = SyncTransport(target(server))
    if HEADER_VALUE.fullmatch(value):
        transport.request("GET", "/echo", headers={"X-Test": value})
        assert server.requests()[-1].headers["X-Test"] == value.strip(" ")
    else:
        with pytest.raises(ConfigurationError) as raised:
            transport.request("GET", "/echo", headers={"X-Test": value})
        assert value not in str(raised.value)  # the value may be a secret: never quoted
        assert len(server.requests()) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.text(max_size=20))
def test_header_names_that_are_not_tokens_are_refused(server: EchoServer, suffix: str) -> None:
    name = f"X-{suffix}"  # never one of the headers HTTP itself uses (Host, Content-Length...)
    before = len(server.requests())
    valid = all(char.isascii() and (char.isalnum() or char in "!#$%&'*+-.^_`|~") for char in name)
    transport = SyncTransport(target(server, headers={}))
    if valid:
        transport.request("GET", "/echo", headers={name: "v"})
        assert server.requests()[-1].headers[name] == "v"
    else:
        with pytest.raises(ConfigurationError):
            transport.request("GET", "/echo", headers={name: "v"})
        assert len(server.requests()) == before


# --- an OAuth-style auth: what a vendor with expiring tokens would write ------------------------------
class ClientCredentials(Auth):
    """Gets an access token from the server's token endpoint (a form POST, never with the API's token)."""

    def __init__(self, api: ApiTarget, token_url: str, secret: str) -> None:
        super().__init__(api)
        self.token_url, self.secret = token_url, secret
        self._tokens = SyncTransport(
            ApiTarget("Echo", "echo_default", token_url, headers={}, secrets=(secret,), max_body_bytes=CAP)
        )

    def _form(self) -> Body:
        return Body.form(
            {"grant_type": "client_credentials", "client_id": "client-1", "client_secret": self.secret}
        )

    def _adopt(self, payload: Any) -> bool:
        token = payload["access_token"]
        old = dict(self.target.headers)
        self.target = with_credentials(self.target, {"Authorization": f"Bearer {token}"})
        return old != dict(self.target.headers)

    def refresh(self) -> bool:
        return self._adopt(self._tokens.request_json("POST", self.token_url, body=self._form(), retry=False))

    async def arefresh(self) -> bool:
        async with shared_session() as session:
            tokens = AsyncTransport(self._tokens.target, session)
            return self._adopt(
                await tokens.request_json("POST", self.token_url, body=self._form(), retry=False)
            )


def test_an_expired_access_token_is_renewed_and_the_request_sent_again(server: EchoServer) -> None:
    auth = ClientCredentials(target(server, token="expired-000"), f"{server.url}/token", server.client_secret)
    assert SyncTransport(auth).request_json("GET", "/auth") == {"ok": True}
    first, second = server.requests("/auth")
    assert first.headers["Authorization"] == "Bearer expired-000"
    assert second.headers["Authorization"] == f"Bearer {server.token}"
    (grant,) = server.requests("/token")
    assert "Authorization" not in grant.headers  # the token endpoint never gets the API's credentials
    assert server.grants == 1 and auth.refreshes == 1
    assert "expired-000" in auth.target.secrets and server.token in auth.target.secrets


async def test_many_requests_refused_together_share_one_refresh(server: EchoServer) -> None:
    auth = ClientCredentials(target(server, token="expired-000"), f"{server.url}/token", server.client_secret)
    async with shared_session() as session:
        transport = AsyncTransport(auth, session)
        answers = await asyncio.gather(*(transport.request_json("GET", "/auth") for _ in range(10)))
    assert answers == [{"ok": True}] * 10
    assert server.grants == 1 and auth.refreshes == 1
    sent = [seen.headers["Authorization"] for seen in server.requests("/auth")]
    assert sent.count(f"Bearer {server.token}") == 10  # every request went on with the new token
    assert len(sent) - 10 == sent.count("Bearer expired-000") <= 10


def test_a_refresh_that_fails_is_a_vendor_auth_error_without_its_message(server: EchoServer) -> None:
    class Broken(StaticAuth):
        def refresh(self) -> bool:
            raise RuntimeError("token endpoint said: s3cret-in-message")

    with pytest.raises(VendorAuthError, match="getting fresh credentials failed") as raised:
        SyncTransport(Broken(target(server, token="expired-000"))).request("GET", "/auth")
    assert "s3cret-in-message" not in str(raised.value) and "RuntimeError" in str(raised.value)
    assert len(server.requests("/auth")) == 1
