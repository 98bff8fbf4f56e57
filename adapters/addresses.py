"""Which webhook addresses the service will call: never link-local or cloud metadata
addresses (server-side request forgery), loopback only where configured (tests)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud instance metadata services that are not already link-local.
METADATA = (ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200"))


class UnsafeAddress(ValueError):
    """The URL may not be called; the message says why (no secrets in it)."""


def check_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.is_link_local or address in METADATA:
        raise UnsafeAddress(f"{address} is a link-local or metadata address")
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        raise UnsafeAddress(f"{address} is not a unicast address")
    if address.is_loopback and not allow_loopback:
        raise UnsafeAddress(f"{address} is a loopback address")


def check_url(url: str, allow_loopback: bool, resolve: bool = True) -> list[str]:
    """Refuse ``url`` unless it is http(s) to a safe host; the addresses it resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeAddress("only http(s) URLs with a host name")
    if parts.username or parts.password:
        raise UnsafeAddress("no credentials in the URL")
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_ip(literal, allow_loopback)
        return [str(literal)]
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        raise UnsafeAddress("localhost is a loopback address")
    if not resolve:
        return []
    try:
        found = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UnsafeAddress(f"{host} does not resolve") from exc
    addresses = sorted({str(info[4][0]) for info in found})
    for text in addresses:
        check_ip(ipaddress.ip_address(text.split("%", 1)[0]), allow_loopback)
    return addresses
