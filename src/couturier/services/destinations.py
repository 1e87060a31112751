"""A tenant's destinations: registering, listing and removing the external OCI registries its
images are pushed to after every build (``/v1/destinations``, ``couturier destinations``).

A destination is a registry URL (``http(s)://host[:port]``), a repository prefix (an image
``53/payments-api`` goes to ``<prefix>/payments-api``, or ``payments-api`` without one),
optional credentials (a user name and a password or token, sealed with the installation key
for ``destination:<id>:password``) and an optional CA bundle (PEM certificates of a private
CA). The password is never returned, logged or put in an error.

Registration refuses what the service should never be made to reach (server-side request
forgery): a URL that is not ``http``/``https``, and a host that resolves to a link-local
address (169.254.0.0/16, fe80::/10: where clouds answer their instance metadata) or a cloud
metadata address or name. Loopback and private addresses stay allowed: a self-hosted
registry lives there. The push checks the host again (:func:`unsafe_host`), since a name may
resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from couturier.core.spec import Violation
from couturier.errors import Code, InputError, NotFoundError
from couturier.services.installation import Installation
from couturier.services.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from couturier.services.tokens import Principal
from couturier.store.destinations import Destination, TenantDestinations

__all__ = [
    "DestinationError",
    "DestinationRequest",
    "destination_json",
    "destination_page",
    "get_destination",
    "register_destination",
    "remove_destination",
    "repository_of",
    "unsafe_host",
]

MAX_CA_BYTES = 1024 * 1024
MAX_SECRET = 4096
# Cloud instance metadata services that are not link-local: AWS's IPv6 one, Alibaba Cloud's;
# and the names clouds give them (GCP, Azure, AWS, OpenStack), refused before any lookup.
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# A path component of a repository name (OCI distribution specification, "Pulling manifests").
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


class DestinationError(InputError):
    """A destination request that breaks rules; ``violations`` lists every one."""

    def __init__(self, violations: list[Violation]) -> None:
        message = "; ".join(f"{v.field}: {v.rule}" for v in violations)
        super().__init__(
            f"destination refused: {message}"[:500],
            code=Code.DESTINATION_INVALID,
            fields={"violations": len(violations)},
        )
        self.violations = violations


@dataclass(frozen=True)
class DestinationRequest:
    """What a tenant asks to register; ``repr`` hides the password."""

    url: str
    prefix: str = ""
    username: str = ""
    password: str = ""
    ca_pem: str | None = None

    def __repr__(self) -> str:
        return f"DestinationRequest(url={self.url!r}, prefix={self.prefix!r})"


def unsafe_host(host: str, port: int) -> str | None:
    """Why ``host`` must not be reached (a metadata name, or an address it resolves to that
    is link-local, a metadata address, unspecified or multicast), or None when it may. A host
    that does not resolve is refused too, in words."""
    name = host.lower().rstrip(".")
    if name in _METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    try:
        found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        return f"{host} does not resolve ({getattr(error, 'strerror', None) or error})"
    for entry in found:
        address = ipaddress.ip_address(str(entry[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_link_local or address in _METADATA_ADDRESSES:
            return f"{host} resolves to {address}, a link-local or cloud metadata address"
        if address.is_unspecified or address.is_multicast:
            return f"{host} resolves to {address}, which is no registry's address"
    return None


def _check_url(url: str) -> list[Violation]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return [Violation("url", url[:200], f"is not a URL ({error})")]
    if parts.scheme not in ("http", "https"):
        return [Violation("url", url[:200], "must start with https:// or http://")]
    if not parts.hostname:
        return [Violation("url", url[:200], "must name a host: https://registry.example.com")]
    if parts.username is not None or parts.password is not None:
        rule = "must not carry credentials: give username and password separately"
        return [Violation("url", "(credentials removed)", rule)]
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        rule = "must be the registry's address only (scheme://host[:port]); put paths in prefix"
        return [Violation("url", url[:200], rule)]
    default = 443 if parts.scheme == "https" else 80
    problem = unsafe_host(parts.hostname, port or default)
    return [Violation("url", url[:200], f"is refused: {problem}")] if problem else []


def _check_ca(ca_pem: str) -> list[Violation]:
    if len(ca_pem.encode()) > MAX_CA_BYTES:
        return [Violation("ca_pem", None, "must be at most 1 MiB")]
    if "PRIVATE KEY" in ca_pem:
        return [Violation("ca_pem", None, "must hold certificates only, never a private key")]
    try:
        certificates = x509.load_pem_x509_certificates(ca_pem.encode())
    except ValueError:
        certificates = []
    if not certificates:
        return [Violation("ca_pem", None, "must be PEM X.509 certificates (BEGIN CERTIFICATE)")]
    return []


def check_request(request: DestinationRequest) -> list[Violation]:
    """Every rule ``request`` breaks (see the module's docstring)."""
    found = _check_url(request.url)
    prefix = request.prefix.strip("/")
    if len(prefix) > 200 or any(not _COMPONENT.fullmatch(p) for p in prefix.split("/") if prefix):
        rule = "must be a registry path: lowercase components like team/images, joined by /"
        found.append(Violation("prefix", request.prefix[:200], rule))
    if len(request.username) > 200 or any(c in request.username for c in ":\r\n"):
        rule = "must be at most 200 characters, without ':' or line breaks"
        found.append(Violation("username", request.username[:200], rule))
    if len(request.password) > MAX_SECRET or any(c in request.password for c in "\r\n"):
        rule = f"must be at most {MAX_SECRET} characters on one line"
        found.append(Violation("password", "(hidden)", rule))
    if request.password and not request.username:
        found.append(Violation("username", "", "is needed with a password or token"))
    if request.ca_pem:
        found.extend(_check_ca(request.ca_pem))
    return found


def repository_of(destination: Destination, image_name: str) -> str:
    """The repository an image named ``image_name`` goes to at ``destination``."""
    prefix = destination.prefix.strip("/")
    return f"{prefix}/{image_name}" if prefix else image_name


def destination_json(row: Destination) -> dict[str, Any]:
    """A destination as the API answers it: never its password."""
    return {
        "id": row.id,
        "url": row.url,
        "prefix": row.prefix,
        "username": row.username,
        "password": bool(row.password_sealed),
        "ca": bool(row.ca_pem),
        "created": row.created_at.isoformat(),
    }


def sealed_purpose(destination_id: int) -> str:
    return f"destination:{destination_id}:password"


def register_destination(
    installation: Installation, principal: Principal, request: DestinationRequest
) -> dict[str, Any]:
    """Register ``request`` for the tenant; its JSON. Raises :class:`DestinationError`."""
    found = check_request(request)
    if found:
        raise DestinationError(found)
    with installation.store.unit(write=True) as uow:
        repo = TenantDestinations(uow.session, principal.tenant_id)
        row = repo.add(
            Destination(
                url=request.url.rstrip("/"),
                prefix=request.prefix.strip("/"),
                username=request.username,
                ca_pem=request.ca_pem or None,
                created_at=installation.clock(),
            )
        )
        if request.password:
            # Sealed for this row's id: a sealed value copied to another row does not open.
            row.password_sealed = installation.key.seal(
                request.password.encode(), sealed_purpose(row.id)
            )
        return destination_json(row)


def _missing(destination_id: int) -> NotFoundError:
    return NotFoundError(
        f"no destination {destination_id}",
        "list the destinations to see their ids",
        code=Code.DESTINATION_NOT_FOUND,
        fields={"destination": destination_id},
    )


def get_destination(
    installation: Installation, principal: Principal, destination_id: int
) -> dict[str, Any]:
    """The tenant's destination; :class:`NotFoundError` for another tenant's or none."""
    with installation.store.unit() as uow:
        row = TenantDestinations(uow.session, principal.tenant_id).get(destination_id)
        if row is None:
            raise _missing(destination_id)
        return destination_json(row)


def remove_destination(
    installation: Installation, principal: Principal, destination_id: int
) -> None:
    """Remove the tenant's destination (its push records stay, naming its URL)."""
    with installation.store.unit(write=True) as uow:
        repo = TenantDestinations(uow.session, principal.tenant_id)
        row = repo.get(destination_id)
        if row is None:
            raise _missing(destination_id)
        repo.remove(row)


def destination_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's destinations by id, and the next page's cursor."""
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    if after is not None and not after[0].isdigit():
        raise bad_cursor(cursor or "")
    with installation.store.unit() as uow:
        repo = TenantDestinations(uow.session, principal.tenant_id)
        page = repo.page(limit, int(after[0]) if after is not None else None)
        return [destination_json(row) for row in page.items], encode_cursor(page.after)
