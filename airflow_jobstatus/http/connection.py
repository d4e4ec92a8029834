"""Reading an Airflow connection into plain fields, and turning a host field into a base URL."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_jobstatus.errors import ConfigurationError


@dataclass(frozen=True)
class ConnectionFields:
    """The fields of an Airflow connection that a vendor hook reads (secrets never printed)."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any] | None = None) -> ConnectionFields:
        """Build from an Airflow ``Connection``; ``extra`` is its parsed extras when already known."""
        return cls(
            conn_id=conn.conn_id,
            conn_type=conn.conn_type,
            host=(conn.host or "").strip() or None,
            login=(conn.login or "").strip() or None,
            password=conn.password or None,
            port=conn.port,
            extra=extra if extra is not None else parse_extra(conn.extra, conn.conn_id),
        )

    def extra_str(self, name: str) -> str | None:
        """A string extra, blank treated as absent."""
        value = self.extra.get(name)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    def extra_bool(self, name: str, default: bool = False) -> bool:
        """A boolean extra; accepts true/false, yes/no, 1/0 as strings too."""
        value = self.extra.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)


def parse_extra(extra: str | dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    """Parse a connection's extra JSON without touching Airflow's (possibly blocking) helpers."""
    if not extra:
        return {}
    if isinstance(extra, dict):
        return extra
    try:
        parsed = json.loads(extra)
    except ValueError:
        raise ConfigurationError(f"connection '{conn_id}': the extra field is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"connection '{conn_id}': the extra field must be a JSON object")
    return parsed


def is_loopback(hostname: str) -> bool:
    """True for localhost and loopback addresses."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def base_url_from_host(fields: ConnectionFields, host: str, *, what: str = "host") -> str:
    """A base URL (scheme://host[:port][/path]) from a host field that may lack a scheme.

    Plain ``http`` is accepted only for loopback hosts (the sandbox) or when the connection's
    extra ``allow_insecure_http`` is true, so a token never crosses a network unencrypted by mistake.
    """
    text = host.strip().rstrip("/")
    if any(char.isspace() or not char.isprintable() or not char.isascii() for char in text):
        raise ConfigurationError(
            f"connection '{fields.conn_id}': {what} {host!r} holds a space, a line break or a character "
            "that is not ASCII; give a host name or a full URL such as https://example.com"
        )
    if "://" not in text:
        port = f":{fields.port}" if fields.port and ":" not in text else ""
        scheme = "http" if is_loopback(text.split(":")[0]) else "https"
        text = f"{scheme}://{text}{port}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"connection '{fields.conn_id}': {what} {host!r} is not a valid address; "
            "give a host name or a full URL such as https://example.com"
        )
    insecure_allowed = fields.extra_bool("allow_insecure_http")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not insecure_allowed:
        raise ConfigurationError(
            f"connection '{fields.conn_id}': {what} {host!r} uses plain http, which would send the token "
            "unencrypted; use https, or set the extra allow_insecure_http to true"
        )
    return text
