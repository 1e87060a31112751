"""The console's actions page (``/actions``): the tenant's actions (When, If, Then, never a
secret), a form that registers one, and per action its deliveries with every attempt, a
"send test event" button and delete (after a confirmation).

Each part does what a ``/v1/actions`` route does, through the same service calls
(:mod:`couturier.services.actions`): the list is ``GET /v1/actions``, the form builds the body
of ``POST /v1/actions`` (docs/actions.md) and shows each of its ``422`` messages beside the
field it names, keeping what was typed (but for a secret, which is never sent back); delete is
``DELETE /v1/actions/{id}``; the test button ``POST /v1/actions/{id}/test``; the deliveries
``GET /v1/actions/{id}/deliveries``. Registering, deleting and testing need an ``admin``
token, as in the API: a ``write`` session gets the API's refusal in words.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from couturier.core.spec import SpecError
from couturier.errors import AccessError, ConflictError, NotFoundError
from couturier.services import actions as action_service
from couturier.services.events import EVENT_KINDS
from couturier.services.installation import Installation
from couturier.services.paging import MAX_LIMIT
from couturier.services.sessions import csrf_matches, session_principal
from couturier.web.signin import SESSION_COOKIE, Inst, Visitor, VisitorInfo, page

__all__ = ["DELIVERIES_SHOWN", "form_body", "router"]

router = APIRouter(include_in_schema=False)
ActionId = Annotated[str, Path(max_length=20)]
Text = Annotated[str, Form(max_length=2000)]
DELIVERIES_SHOWN = 10  # the newest deliveries an action shows
# The form's text fields, by the request field they fill (docs/actions.md, "Registering one").
FILTER_FIELDS = ("image", "starter", "line", "package")
TARGET_FIELDS = {
    "webhook": ("url", "secret"),
    "slack": ("url",),
    "email": ("to",),
    "github": ("repository", "token", "api_url", "event_type"),
}
SECRET_FIELDS = {"then.secret", "then.token", "then.slack_url"}
_INDEX = re.compile(r"\[\d+\]$")


def form_body(fields: dict[str, str], events: list[str]) -> dict[str, Any]:
    """The ``POST /v1/actions`` body the form's ``fields`` (by their request names: ``name``,
    ``if.image``, ``then.url``, ``then.slack_url``, ...) and ticked ``events`` declare. Empty
    fields are left out, so the API's defaults and "missing" rules apply; the days stay text
    when they are not digits, so the API's rule names them."""
    body: dict[str, Any] = {"name": fields.get("name", ""), "events": events}
    filters = {key: fields[f"if.{key}"] for key in FILTER_FIELDS if fields.get(f"if.{key}")}
    if filters:
        body["if"] = filters
    days = fields.get("end_of_life_days", "").strip()
    if days:
        body["end_of_life_days"] = int(days) if days.isdigit() and len(days) < 6 else days
    kind = fields.get("then.kind", "")
    then: dict[str, Any] = {"kind": kind}
    for key in TARGET_FIELDS.get(kind, ()):
        # Slack's URL is its secret: a field of its own, so the webhook's URL is not it.
        value = fields.get("then.slack_url" if kind == "slack" else f"then.{key}", "").strip()
        if not value:
            continue
        if key == "to":
            then["to"] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            then[key] = value
    body["then"] = then
    return body


def _field_of(violation_field: str, kind: str) -> str:
    """The form field a violation's request field names (``then.to[1]`` → ``then.to``;
    Slack's ``then.url`` → ``then.slack_url``); ``""`` for one the form has no field for."""
    field = _INDEX.sub("", violation_field)
    if field == "then.url" and kind == "slack":
        return "then.slack_url"
    known = {"name", "events", "end_of_life_days", "then.kind"}
    known |= {f"if.{key}" for key in FILTER_FIELDS}
    known |= {f"then.{key}" for keys in TARGET_FIELDS.values() for key in keys}
    return field if field in known | {"then.slack_url"} else ""


def _violation_messages(error: SpecError, kind: str) -> dict[str, list[str]]:
    """The API's ``422`` messages (``field: rule``, as api/errors.py writes them) by form
    field; those naming no field of the form under ``""`` (shown above the form)."""
    found: dict[str, list[str]] = {}
    for violation in error.violations:
        message = f"{violation.field}: {violation.rule}" if violation.field else violation.rule
        found.setdefault(_field_of(violation.field, kind), []).append(message)
    return found


def _actions(installation: Installation, visitor: VisitorInfo) -> list[dict[str, Any]]:
    """Every action of the tenant (pages of ``GET /v1/actions`` read whole), each with its
    newest :data:`DELIVERIES_SHOWN` deliveries."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        items, cursor = action_service.action_page(
            installation, visitor.principal, MAX_LIMIT, cursor
        )
        found.extend(items)
        if cursor is None:
            break
    for action in found:
        action["deliveries"] = _deliveries(installation, visitor, str(action["id"]))
    return found


def _deliveries(
    installation: Installation, visitor: VisitorInfo, action_id: str
) -> list[dict[str, Any]]:
    items, _ = action_service.delivery_page(
        installation, visitor.principal, action_id, DELIVERIES_SHOWN, None
    )
    return items


def _admin_refusal(request: Request, installation: Installation) -> str:
    """Why this session may not register, delete or test actions (the API's refusal of its
    token, in its words); ``""`` when it may."""
    try:
        session_principal(installation, request.cookies.get(SESSION_COOKIE), "admin")
    except AccessError as refused:
        return refused.message
    return ""


def _render(
    request: Request,
    installation: Installation,
    visitor: VisitorInfo,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    ticked: list[str] | None = None,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
    refusal: str = "",
) -> Response:
    return page(
        request,
        "actions.html",
        visitor,
        status=status,
        actions=_actions(installation, visitor),
        event_kinds=EVENT_KINDS,
        target_kinds=action_service.TARGET_KINDS,
        typed=typed or {"then.kind": "webhook"},
        ticked=ticked or [],
        errors=errors or {},
        notice=notice,
        refusal=refusal,
        admin_refusal=_admin_refusal(request, installation),
    )


def _csrf_refused(request: Request, csrf_token: str) -> Response | None:
    if csrf_matches(request.cookies.get(SESSION_COOKIE, ""), csrf_token):
        return None
    return Response("this form needs the page's CSRF token: reload the page", 403)


def _form_refused(
    request: Request, installation: Installation, visitor: VisitorInfo, csrf_token: str
) -> Response | None:
    """The answer to a form on one action (test, delete) that may not go on: without the
    page's CSRF token, or from a session whose token is not ``admin`` (the page again, saying
    why); None when it may."""
    refused = _csrf_refused(request, csrf_token)
    if refused is not None:
        return refused
    refusal = _admin_refusal(request, installation)
    if refusal:
        return _render(request, installation, visitor, status=403, refusal=refusal)
    return None


@router.get("/actions", response_class=HTMLResponse)
def actions_page(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    deleted: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The tenant's actions with their deliveries, and the form that registers one
    (``?deleted=NAME``: the notice after deleting)."""
    notice = f"Action {deleted} was deleted, with its deliveries." if deleted else ""
    return _render(request, installation, visitor, notice=notice)


@router.get("/actions/{action_id}/deliveries", response_class=HTMLResponse)
def deliveries_fragment(
    request: Request, installation: Inst, visitor: Visitor, action_id: ActionId
) -> Response:
    """One action's deliveries table alone (the page's script polls it while a delivery is
    pending)."""
    try:
        action = action_service.get_action(installation, visitor.principal, action_id)
        action["deliveries"] = _deliveries(installation, visitor, action_id)
    except NotFoundError:
        return Response("", 404)
    return page(request, "actions_deliveries.html", visitor, action=action)


@router.post("/actions", response_class=HTMLResponse)
def create_action(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    *,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    events: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 (FastAPI copies it)
    name: Text = "",
    end_of_life_days: Text = "",
    if_image: Annotated[str, Form(alias="if.image", max_length=2000)] = "",
    if_starter: Annotated[str, Form(alias="if.starter", max_length=2000)] = "",
    if_line: Annotated[str, Form(alias="if.line", max_length=2000)] = "",
    if_package: Annotated[str, Form(alias="if.package", max_length=2000)] = "",
    kind: Annotated[str, Form(alias="then.kind", max_length=40)] = "",
    url: Annotated[str, Form(alias="then.url", max_length=2000)] = "",
    secret: Annotated[str, Form(alias="then.secret", max_length=2000)] = "",
    slack_url: Annotated[str, Form(alias="then.slack_url", max_length=2000)] = "",
    to: Annotated[str, Form(alias="then.to", max_length=2000)] = "",
    repository: Annotated[str, Form(alias="then.repository", max_length=2000)] = "",
    token: Annotated[str, Form(alias="then.token", max_length=2000)] = "",
    api_url: Annotated[str, Form(alias="then.api_url", max_length=2000)] = "",
    event_type: Annotated[str, Form(alias="then.event_type", max_length=2000)] = "",
) -> Response:
    """Register the action the form declares (``POST /v1/actions``), then back to the page;
    the page again with every rule broken beside its field (``422``), the name taken
    (``409``) or the token's refusal (``403``), keeping what was typed but secrets."""
    refused = _csrf_refused(request, csrf_token)
    if refused is not None:
        return refused
    fields = {
        "name": name,
        "end_of_life_days": end_of_life_days,
        "if.image": if_image,
        "if.starter": if_starter,
        "if.line": if_line,
        "if.package": if_package,
        "then.kind": kind,
        "then.url": url,
        "then.secret": secret,
        "then.slack_url": slack_url,
        "then.to": to,
        "then.repository": repository,
        "then.token": token,
        "then.api_url": api_url,
        "then.event_type": event_type,
    }
    typed = {key: value for key, value in fields.items() if key not in SECRET_FIELDS}
    refusal = _admin_refusal(request, installation)
    if refusal:
        return _render(
            request, installation, visitor, status=403, refusal=refusal, typed=typed, ticked=events
        )
    try:
        made = action_service.create_action(
            installation, visitor.principal, form_body(fields, events)
        )
    except SpecError as error:
        errors = _violation_messages(error, kind)
        return _render(
            request, installation, visitor, status=422, errors=errors, typed=typed, ticked=events
        )
    except ConflictError as error:
        errors = {"name": [error.message]}
        return _render(
            request, installation, visitor, status=409, errors=errors, typed=typed, ticked=events
        )
    return RedirectResponse(f"/actions#action-{made['id']}", status_code=303)


@router.post("/actions/{action_id}/test", response_class=HTMLResponse)
def test_action(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    action_id: ActionId,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Send the action a ``test`` event (``POST /v1/actions/{id}/test``); back to the page,
    where its delivery shows (and follows itself while pending)."""
    refused = _form_refused(request, installation, visitor, csrf_token)
    if refused is not None:
        return refused
    try:
        action_service.send_test_event(installation, visitor.principal, action_id)
    except NotFoundError as error:
        return page(request, "not_found.html", visitor, status=404, message=error.message)
    return RedirectResponse(f"/actions#action-{action_id}", status_code=303)


@router.post("/actions/{action_id}/delete", response_class=HTMLResponse)
def delete_action(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    action_id: ActionId,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Remove the action and its deliveries (``DELETE /v1/actions/{id}``), confirmed by the
    form's second button; back to the page, saying which was removed."""
    refused = _form_refused(request, installation, visitor, csrf_token)
    if refused is not None:
        return refused
    try:
        removed = action_service.remove_action(installation, visitor.principal, action_id)
    except NotFoundError as error:
        return page(request, "not_found.html", visitor, status=404, message=error.message)
    return RedirectResponse(f"/actions?deleted={removed['name']}", status_code=303)
