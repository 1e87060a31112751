"""Which URLs a delivery may reach.

A receiver is any ``http``/``https`` URL, but never one that points at a link-local address
(``169.254.0.0/16``, ``fe80::/10``) or a cloud metadata service (``169.254.169.254``,
``fd00:ec2::254``, ``metadata.google.internal``): the service would otherwise fetch its own
machine's cloud credentials on a tenant's behalf (server-side request forgery). Loopback and
private addresses stay allowed: a self-hosted installation's receivers are often on its own
network, and the tests' receivers listen on 127.0.0.1.

:func:`url_problem` checks the text at registration (a literal address or a known metadata
name); :func:`resolved_problem` checks what the host name resolves to at delivery time, so
that a name registered harmless and later pointed at a metadata address is refused then.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

__all__ = ["MAX_URL", "resolved_problem", "url_problem"]

MAX_URL = 2000
# Names of metadata services that resolve only inside their cloud (GCP; Azure's and AWS's
# are the literal addresses below).
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})
_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:169.254.169.254``) as the IPv4 one it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _refused_kind(address: Address) -> str | None:
    """What ``address`` is when a delivery may not go there, else None."""
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a receiver (one line), or None: it must be an absolute
    ``http(s)://`` URL of at most :data:`MAX_URL` characters with a host, no user or password,
    and a host that is not a link-local or metadata address."""
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL} characters"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "holds spaces or control characters"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "is not a URL"
    if parsed.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    host = parsed.host.rstrip(".").lower()
    if not host:
        return "has no host"
    if parsed.userinfo:
        return "must not hold a user or password (put credentials in the action's secret)"
    if host in _METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    try:
        address = _unmapped(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
    kind = _refused_kind(address)
    return f"{address} is {kind}" if kind else None


def resolved_problem(url: str) -> str | None:
    """Why ``url``'s host, as it resolves now, cannot be reached (one line), or None. A name
    that does not resolve is left to the request, which fails with its own reason."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        try:
            address = _unmapped(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
        kind = _refused_kind(address)
        if kind is not None:
            return f"{parsed.host} resolves to {address}, {kind}"
    return None
