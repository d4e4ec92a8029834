"""How a Zendesk connection becomes a base URL and an Authorization header (no request sent)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.hooks.zendesk import zendesk_authorization, zendesk_base_url
from airflow_jobstatus.http.connection import ConnectionFields


def fields(**kwargs: Any) -> ConnectionFields:
    kwargs.setdefault("conn_id", "zendesk_default")
    kwargs.setdefault("conn_type", "jobstatus_zendesk")
    return ConnectionFields(**kwargs)


def basic(header: str) -> str:
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("acme.zendesk.com", None, "https://acme.zendesk.com"),
        ("acme", None, "https://acme.zendesk.com"),
        ("https://acme.zendesk.com/", None, "https://acme.zendesk.com"),
        ("https://acme.zendesk.com/api/v2", None, "https://acme.zendesk.com"),
        ("http://127.0.0.1:8900", None, "http://127.0.0.1:8900"),
        ("127.0.0.1", 8900, "http://127.0.0.1:8900"),
        ("localhost:8900", None, "http://localhost:8900"),
        ("support.acme.com", None, "https://support.acme.com"),
    ],
)
def test_host_forms(host: str, port: int | None, expected: str) -> None:
    assert zendesk_base_url(fields(host=host, port=port)) == expected


def test_empty_host_names_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=r"host is empty; set it to yoursubdomain\.zendesk\.com"):
        zendesk_base_url(fields(host=None))


def test_plain_http_to_a_remote_host_is_refused_unless_allowed() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        zendesk_base_url(fields(host="http://zendesk.internal.example"))
    allowed = fields(host="http://zendesk.internal.example", extra={"allow_insecure_http": True})
    assert zendesk_base_url(allowed) == "http://zendesk.internal.example"


def test_our_connection_sends_the_password_as_an_api_token() -> None:
    header = zendesk_authorization(fields(login="agent@example.com", password="tok-123"))
    assert basic(header) == "agent@example.com/token:tok-123"


def test_official_connection_with_use_token() -> None:
    conn = fields(conn_type="zendesk", login="a@example.com", password="tok", extra={"use_token": True})
    assert basic(zendesk_authorization(conn)) == "a@example.com/token:tok"


def test_official_connection_with_token_extra_wins_over_password() -> None:
    conn = fields(conn_type="zendesk", login="a@example.com", password="pw", extra={"token": "tok-x"})
    assert basic(zendesk_authorization(conn)) == "a@example.com/token:tok-x"


def test_official_connection_password_fallback_is_plain_basic_auth() -> None:
    conn = fields(conn_type="zendesk", login="a@example.com", password="pw")
    assert basic(zendesk_authorization(conn)) == "a@example.com:pw"


def test_oauth_token_goes_out_as_bearer() -> None:
    conn = fields(conn_type="zendesk", extra={"oauth_token": "oauth-abc"})
    assert zendesk_authorization(conn) == "Bearer oauth-abc"
    ours = fields(login="a@example.com", password="tok", extra={"oauth_token": "oauth-abc"})
    assert zendesk_authorization(ours) == "Bearer oauth-abc"


def test_use_token_given_as_a_string() -> None:
    conn = fields(conn_type="zendesk", login="a@example.com", password="tok", extra={"use_token": "true"})
    assert basic(zendesk_authorization(conn)) == "a@example.com/token:tok"


def test_missing_credentials_and_missing_email_are_explained() -> None:
    with pytest.raises(ConfigurationError, match="has no credentials"):
        zendesk_authorization(fields(login="a@example.com"))
    with pytest.raises(ConfigurationError, match="login is empty"):
        zendesk_authorization(fields(password="tok"))


def test_connection_fields_never_print_secrets() -> None:
    conn = fields(login="a@example.com", password="s3cret-canary", extra={"oauth_token": "s3cret-canary"})
    assert "s3cret-canary" not in repr(conn)
