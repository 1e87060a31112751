"""The registry token flow over HTTP: the challenge, the realm ``GET /v2/token``, and reading a
``/v2/`` request's credential.

- every ``/v2/`` request without a usable credential is ``401`` with
  ``WWW-Authenticate: Bearer realm="<base>/v2/token",service="<host>"`` (plus
  ``scope="repository:NAME:pull"`` on a repository's routes), ``<base>`` being the settings'
  ``public_url`` when Couturier runs behind a proxy, else the request's own scheme and host;
- ``GET /v2/token?service=S&scope=repository:NAME:pull`` with HTTP basic auth (any user name,
  the tenant ID by convention; the password a tenant token ``ctr_...``) answers
  ``{"token", "access_token", "expires_in", "issued_at"}`` (:mod:`couturier.services
  .registry_auth`); a bad credential is ``401`` with a basic challenge, so ``podman login``
  says the user name or password is wrong;
- ``POST /v2/token`` (form ``grant_type=password``, ``password``, ``scope``, ``service``) is the
  OAuth 2 form of the same, which containerd tries first;
- a ``/v2/`` request may carry ``Authorization: Bearer <that token>``, or a tenant token itself
  as the bearer or as the basic password (``curl -u 1:ctr_...``).

Source: the CNCF distribution project's "Token Authentication Specification". No credential is
ever logged (uvicorn's access log has no headers, and no error here repeats one).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from couturier.api.auth import installation_of
from couturier.api.registry_errors import RegistryError, of_couturier, registry_response
from couturier.errors import AccessError, CouturierError
from couturier.services.registry_auth import Grant, bearer_token, grant_of_bearer, grant_of_token

__all__ = ["challenge", "denied", "realm_base", "request_grant", "router"]

router = APIRouter(include_in_schema=False)

# What of a Host header may stand in the challenge's quoted strings.
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_MAX_SCOPES = 100


def realm_base(request: Request) -> str:
    """``https://couturier.example.org``: the settings' ``public_url``, else the scheme and
    ``Host`` the request came with (a ``Host`` a quoted header cannot carry is ``localhost``)."""
    public = installation_of(request).settings.public_url
    if public:
        return public.rstrip("/")
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        host = "localhost"
    return f"{request.url.scheme}://{host}"


def _service(base: str) -> str:
    return base.partition("://")[2].split("/", 1)[0]


def challenge(request: Request, repository: str | None = None, error: str | None = None) -> str:
    """The ``WWW-Authenticate`` value sending a client to the token endpoint for
    ``repository`` (its name is checked by the caller: the spec's grammar has no quote)."""
    base = realm_base(request)
    value = f'Bearer realm="{base}/v2/token",service="{_service(base)}"'
    if repository is not None:
        value += f',scope="repository:{repository}:pull"'
    if error is not None:
        value += f',error="{error}"'
    return value


def _credential(request: Request) -> str | None:
    """The token the ``Authorization`` header offers: a bearer, or a basic password."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _unauthorized(request: Request, error: CouturierError, repository: str | None) -> RegistryError:
    if not isinstance(error, AccessError):
        return of_couturier(error)
    reason = None if error.reason == "missing" else "invalid_token"
    headers = {"WWW-Authenticate": challenge(request, repository, reason)}
    return RegistryError(401, "UNAUTHORIZED", "authentication required", None, headers)


def request_grant(request: Request, repository: str | None = None) -> Grant:
    """What the request's credential may pull. Raises :class:`RegistryError` ``401`` with the
    challenge when it has none, or one not valid, expired, revoked or of too low a scope."""
    try:
        return grant_of_bearer(installation_of(request), _credential(request))
    except CouturierError as error:
        raise _unauthorized(request, error, repository) from None


def denied(request: Request, repository: str) -> RegistryError:
    """The answer for a repository outside the grant: ``401`` with the challenge naming its
    scope, the same whether or not another tenant has such a repository."""
    headers = {"WWW-Authenticate": challenge(request, repository, "insufficient_scope")}
    detail = [{"Type": "repository", "Name": repository, "Action": "pull"}]
    return RegistryError(401, "UNAUTHORIZED", "authentication required", detail, headers)


@router.get("/v2/token")
def token(
    request: Request,
    scope: Annotated[list[str] | None, Query()] = None,
    service: Annotated[str | None, Query()] = None,
) -> Response:
    """Issue a bearer token for the tenant token sent as the basic password."""
    scopes = [part for text in (scope or []) for part in text.split(" ") if part]
    return _issue(request, _credential(request), scopes, service)


@router.post("/v2/token")
def oauth_token(
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    service: Annotated[str | None, Form()] = None,
) -> Response:
    """The OAuth 2 form of the token endpoint (the distribution project's "OAuth2 Token
    Authentication"), which containerd tries first: ``grant_type=password`` with the tenant
    token as ``password`` (``username`` is not checked); scopes space-separated."""
    if grant_type != "password":
        raise RegistryError(
            400,
            "UNSUPPORTED",
            "grant_type must be password (the tenant token as the password)",
            {"grant_type": (grant_type or "")[:40]},
        )
    return _issue(request, password, (scope or "").split(), service)


def _issue(
    request: Request, credential: str | None, scopes: list[str], service: str | None
) -> Response:
    """The token endpoint's answer for the tenant token ``credential`` and ``scopes``."""
    if len(scopes) > _MAX_SCOPES:
        raise RegistryError(400, "DENIED", f"at most {_MAX_SCOPES} scopes at once")
    installation = installation_of(request)
    try:
        grant = grant_of_token(installation, credential, scopes)
    except AccessError as error:
        raise RegistryError(
            401,
            "UNAUTHORIZED",
            "the password must be a Couturier token of scope pull or higher",
            {"reason": error.reason},
            {"WWW-Authenticate": f'Basic realm="{realm_base(request)}/v2/token"'},
        ) from None
    except CouturierError as error:
        if error.code == "input-invalid":
            raise RegistryError(400, "NAME_INVALID", error.message) from None
        raise of_couturier(error) from None
    issued = bearer_token(installation, grant, (service or _service(realm_base(request)))[:300])
    body = json.dumps(issued.to_json(), separators=(",", ":")).encode()
    return registry_response(body, 200, "application/json", {"Cache-Control": "no-store"})
