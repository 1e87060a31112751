"""Signing in and out of the console, and who a page's visitor is.

A visitor signs in with a tenant's token (:func:`~couturier.services.sessions.open_session`);
the session's secret goes into the cookie :data:`~couturier.services.sessions.SESSION_COOKIE`
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` when served over HTTPS, ``Path=/``), which the
``/v1`` routes accept too. :data:`Visitor` is the pages' dependency: without a live session
(none, signed out, expired, its token revoked) it raises :class:`SignInNeededError`, which
:mod:`couturier.web.app` answers with a redirect to ``/sign-in?next=<the page>``; signing in
goes back there.

The sign-in form has no session yet, so it carries a one-time value that is also in a short
cookie (the double-submit pattern): a page of another site cannot post a token of its own
choosing into this browser.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from couturier.errors import AccessError
from couturier.services.installation import Installation
from couturier.services.sessions import (
    SESSION_COOKIE,
    close_session,
    csrf_matches,
    csrf_token,
    open_session,
    session_principal,
)
from couturier.services.tokens import Principal
from couturier.web.assets import TEMPLATES

__all__ = [
    "SESSION_COOKIE",
    "SignInNeededError",
    "Visitor",
    "VisitorInfo",
    "installation_of",
    "page",
    "router",
    "safe_next",
]

SIGNIN_COOKIE = "couturier_signin"
_SIGNIN_SECONDS = 3600

router = APIRouter(include_in_schema=False)


class SignInNeededError(Exception):
    """The page at ``next`` needs a session; ``reason`` says why there is none (shown on the
    sign-in page: "expired", "revoked", ...; empty for a first visit)."""

    def __init__(self, next: str, reason: str = "") -> None:
        super().__init__(next)
        self.next = next
        self.reason = reason


@dataclass(frozen=True)
class VisitorInfo:
    """A signed-in visitor: who (tenant and scope) and the session's CSRF token, which every
    form and every unsafe request of the page carries."""

    principal: Principal
    tenant_name: str
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.principal.scope in ("write", "admin")


def installation_of(request: Request) -> Installation:
    """The installation the application serves."""
    installation = request.app.state.installation
    assert isinstance(installation, Installation)
    return installation


Inst = Annotated[Installation, Depends(installation_of)]


def safe_next(value: str | None) -> str:
    """``value`` if it is a path of this site (``/...``, not ``//host`` nor ``/\\host``,
    which browsers read as another host); ``/`` otherwise. So a link cannot make sign-in
    send the visitor elsewhere (an open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 0x20 for c in value)
        or len(value) > 2000
    ):
        return "/"
    return value


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def visitor(request: Request, installation: Inst) -> VisitorInfo:
    """The signed-in visitor of a page; raises :class:`SignInNeededError` for anyone else."""
    secret = request.cookies.get(SESSION_COOKIE)
    try:
        principal = session_principal(installation, secret, "pull")
    except AccessError as error:
        raise SignInNeededError(
            _here(request), "" if error.reason == "missing" else error.reason
        ) from None
    with installation.store.unit() as uow:
        tenant = uow.installation.tenant(principal.tenant_id)
        name = tenant.name if tenant is not None else ""
    assert secret is not None
    return VisitorInfo(principal, name, csrf_token(secret))


Visitor = Annotated[VisitorInfo, Depends(visitor)]


# Every page: scripts, styles and requests of this site only, never framed (the delete form
# cannot be clicked through another site's frame), no Referer to other sites.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page(
    request: Request,
    template: str,
    visitor: VisitorInfo | None,
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    """The page ``template`` rendered for ``visitor`` (None: signed out), with
    :data:`PAGE_HEADERS`."""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"visitor": visitor, **context},
        status_code=status,
        headers=PAGE_HEADERS,
    )


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


_REASONS = {
    "expired": "Your session has expired. Sign in again to go on.",
    "revoked": "The token of your session was revoked. Sign in with another one.",
    "invalid": "You were signed out. Sign in again to go on.",
}


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None, reason: str = "") -> Response:
    """The sign-in form, with a fresh double-submit value in its form and its cookie."""
    value = secrets.token_hex(32)
    response = page(
        request,
        "sign_in.html",
        None,
        next=safe_next(next),
        signin_csrf=value,
        notice=_REASONS.get(reason, ""),
        error="",
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        value,
        max_age=_SIGNIN_SECONDS,
        path="/sign-in",
        secure=_cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    installation: Inst,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Open a session with ``token`` and go to ``next``; the form again with the reason
    when the token is refused (the typed token is not echoed back: it is a secret)."""
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    target = safe_next(next)
    error = ""
    if not expected or not secrets.compare_digest(expected, csrf_token):
        error = "The sign-in form had expired. Paste the token again."
    else:
        try:
            opened = open_session(installation, token)
        except AccessError as refused:
            error = {
                "missing": "Paste a token to sign in.",
                "invalid": "That is not a valid token of this installation.",
                "expired": "That token has expired. Ask an admin for a new one.",
                "revoked": "That token was revoked. Ask an admin for a new one.",
            }.get(refused.reason, refused.message)
        else:
            response: Response = RedirectResponse(target, status_code=303)
            response.delete_cookie(SIGNIN_COOKIE, path="/sign-in")
            response.set_cookie(
                SESSION_COOKIE,
                opened.secret,
                max_age=max(1, int((opened.expires - installation.clock()).total_seconds())),
                path="/",
                secure=_cookie_secure(request),
                httponly=True,
                samesite="strict",
            )
            return response
    value = secrets.token_hex(32)
    response = page(
        request,
        "sign_in.html",
        None,
        status=401 if expected else 403,
        next=target,
        signin_csrf=value,
        notice="",
        error=error,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        value,
        max_age=_SIGNIN_SECONDS,
        path="/sign-in",
        secure=_cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    installation: Inst,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Close the session (when the form carries its CSRF token) and clear the cookie."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and not csrf_matches(secret, csrf_token):
        return Response("this form needs the page's CSRF token: reload it", 403)
    close_session(installation, secret)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_cookie_secure(request), httponly=True, samesite="strict"
    )
    return response


def sign_in_redirect(request: Request, error: SignInNeededError) -> Response:
    """Where a page without a session sends its visitor. An htmx request (a filter of the
    gallery) gets ``HX-Redirect`` instead of a redirect, which its XMLHttpRequest would follow
    silently, swapping the sign-in form's absence into the page."""
    target = f"/sign-in?next={quote(error.next, safe='/')}"
    if error.reason:
        target += f"&reason={quote(error.reason)}"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
