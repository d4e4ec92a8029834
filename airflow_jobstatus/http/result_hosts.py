"""Which hosts a result download may reach: public https ones, and the exceptions a connection allows.

A result link (and every redirect hop) must be ``https`` on a public address. The host name is resolved
first and refused if *any* of its addresses is loopback, private, link-local, unspecified, multicast,
reserved or a cloud metadata endpoint (IPv4 forms hidden in IPv6 ones, ``::ffff:169.254.169.254``, count
as what they hide), before any connection. :class:`HostPolicy` holds the exceptions: loopback (over http
too) when the API host is loopback itself (the sandbox), private and loopback hosts with the connection
extra ``allow_private_result_hosts`` (a vendor mirror inside the network), plain http with the extra
``allow_insecure_http``. Link-local and metadata addresses are never reached, whatever the extras say.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from airflow_jobstatus.errors import ConfigurationError, TransientVendorError, UnsafeResultHost

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

#: Cloud metadata and credential endpoints (AWS, GCP, Azure, OpenStack, ECS, EKS, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(text)
    for text in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressKind(str, Enum):
    """What an IP address is, as far as reaching it from a worker goes."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    METADATA = "cloud metadata"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved (not globally routable)"


def classify_address(address: str | IPAddress) -> AddressKind:
    """The kind of ``address``; an IPv4 address inside an IPv6 one (mapped, 6to4, NAT64) counts as
    itself. Never raises: text that is not an address is RESERVED."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return AddressKind.RESERVED
    if address in METADATA_ADDRESSES:
        return AddressKind.METADATA
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return classify_address(inner)
    if address.is_unspecified:
        return AddressKind.UNSPECIFIED
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_multicast:
        return AddressKind.MULTICAST
    if any(address in network for network in _PRIVATE_NETWORKS):
        return AddressKind.PRIVATE
    if address.is_reserved or address.is_private or not address.is_global:
        return AddressKind.RESERVED
    return AddressKind.PUBLIC


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class HostPolicy:
    """Which result hosts a download may reach besides public https ones.

    :param loopback_api: the API host is loopback (the sandbox): loopback result hosts are allowed, over
        plain http too.
    :param allow_private: loopback and private (RFC 1918, CGNAT, IPv6 ULA) hosts are allowed: a vendor
        mirror inside the network. Link-local and cloud metadata addresses stay refused.
    :param allow_insecure_http: plain http is allowed to any host the other rules allow.
    """

    loopback_api: bool = False
    allow_private: bool = False
    allow_insecure_http: bool = False

    @classmethod
    def for_connection(cls, api_base_url: str, extra: Mapping[str, Any], conn_id: str) -> HostPolicy:
        """The policy of a connection: its API base URL and its extras ``allow_private_result_hosts`` and
        ``allow_insecure_http`` (true/false; anything else is a ConfigurationError)."""
        from airflow_jobstatus.http.connection import is_loopback

        return cls(
            loopback_api=is_loopback(urlsplit(api_base_url).hostname or ""),
            allow_private=_extra_flag(extra, "allow_private_result_hosts", conn_id),
            allow_insecure_http=_extra_flag(extra, "allow_insecure_http", conn_id),
        )

    def refusal(self, kind: AddressKind) -> str | None:
        """Why an address of this kind may not be reached, or None when it may."""
        if kind is AddressKind.PUBLIC:
            return None
        if kind is AddressKind.LOOPBACK and (self.loopback_api or self.allow_private):
            return None
        if kind is AddressKind.PRIVATE and self.allow_private:
            return None
        if kind in (AddressKind.LOOPBACK, AddressKind.PRIVATE):
            return (
                f"it is a {kind.value} address: if the vendor's results really come from a mirror inside "
                "your network, set the connection extra allow_private_result_hosts to true"
            )
        return f"it is a {kind.value} address, which a result link never may be"


def _extra_flag(extra: Mapping[str, Any], name: str, conn_id: str) -> bool:
    value = extra.get(name, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off", "none"):
        return False
    raise ConfigurationError(f"connection '{conn_id}': extra {name} must be true or false, not {value!r}")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``); an address literal is itself."""
    literal = host.split("%", 1)[0]
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_result_url(
    url: str, policy: HostPolicy, *, hop: str = "the result link", resolver: Resolver | None = None
) -> None:
    """Refuse ``url`` (UnsafeResultHost, naming ``hop``) unless its scheme and every address its host
    resolves to are allowed by ``policy``; nothing is connected to. An unresolvable host is transient."""
    from airflow_jobstatus.http.transport import without_query

    where = without_query(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = 0
    if scheme not in ("http", "https") or not parts.hostname or not port:
        raise UnsafeResultHost(f"{hop}: {where!r} is not an http(s) URL with a host: refused")
    insecure = scheme == "http" and not policy.allow_insecure_http
    plain_http = (
        f"{hop}: {where} was refused before connecting: it uses plain http, which anyone on the way can "
        "read and change; the vendor should link https, or set the connection extra allow_insecure_http "
        "to true"
    )
    if insecure and not policy.loopback_api:
        raise UnsafeResultHost(plain_http)
    host = parts.hostname
    try:
        addresses = (resolver or resolve)(host, port)
    except (OSError, UnicodeError) as error:
        raise TransientVendorError(f"{hop}: {where}: could not resolve {host}: {error}") from None
    if not addresses:
        raise TransientVendorError(f"{hop}: {where}: {host} resolves to no address")
    kinds = [classify_address(address) for address in addresses]
    for address, kind in zip(addresses, kinds, strict=True):
        why = policy.refusal(kind)
        if why is not None:
            verb = "is" if address == host else "resolves to"
            raise UnsafeResultHost(
                f"{hop}: {where} was refused before connecting: {host} {verb} {address} and {why}"
            )
    if insecure and not all(kind is AddressKind.LOOPBACK for kind in kinds):
        raise UnsafeResultHost(plain_http)
