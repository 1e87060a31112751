"""A tenant's actions: registering, listing, removing and testing them, and reading their
deliveries (``/v1/actions``, ``couturier actions``).

An action's request (``docs/actions.md``)::

    {"name": "deploy-hook",
     "events": ["line-new-digest", "line-failed"],
     "if": {"image": "payments-*", "starter": "python", "line": "3.13", "package": "openssl"},
     "end_of_life_days": 30,
     "then": {"kind": "webhook", "url": "https://ci.example.org/hook", "secret": "..."}}

``then`` is one target: ``webhook`` (``url``, ``secret``: the HMAC key, 16 to 200
characters), ``slack`` (``url``: the incoming webhook's, itself the secret), ``email``
(``to``: 1 to 10 addresses; the installation's SMTP server sends), ``github`` (``repository``
``owner/repo``, ``token``, optional ``api_url`` and ``event_type``). Every rule broken is a
:class:`SpecError` listing each (a ``422``); a secret is never repeated in one. A URL that is
not ``http(s)``, or that points at a link-local or metadata address, is refused here
(:func:`couturier.notify.addresses.url_problem`). The secret is sealed with the installation
key and never returned: an action reads back without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from couturier.core.spec import SpecError, Violation
from couturier.core.text import has_hidden
from couturier.errors import Code, ConflictError, NotFoundError
from couturier.notify.addresses import url_problem
from couturier.notify.github import API_URL, MAX_EVENT_TYPE, REPOSITORY
from couturier.services.deliveries import queue_delivery, secret_purpose
from couturier.services.events import EVENT_KINDS, TEST_EVENT
from couturier.services.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from couturier.store.actions import Action, Delivery, DeliveryAttempt, TenantActions

if TYPE_CHECKING:
    import datetime as dt

    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = [
    "TARGET_KINDS",
    "action_json",
    "action_page",
    "create_action",
    "delivery_page",
    "get_action",
    "remove_action",
    "send_test_event",
]

TARGET_KINDS = ("webhook", "slack", "email", "github")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_NAME_RULE = "must be 1 to 64 lowercase letters, digits and hyphens, not starting with a hyphen"
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,99}")
_EMAIL = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}")
_KEYS = ("name", "events", "if", "end_of_life_days", "then")
_FILTERS = {"image": 100, "starter": 100, "line": 40, "package": 100}
_TARGET_KEYS = {
    "webhook": ("url", "secret"),
    "slack": ("url",),
    "email": ("to",),
    "github": ("repository", "token", "api_url", "event_type"),
}
_SECRET_OF = {"webhook": "secret", "slack": "url", "github": "token"}
MAX_RECIPIENTS = 10
DEFAULT_END_OF_LIFE_DAYS = 30


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and not has_hidden(value)


def _check_filters(raw: Any, out: dict[str, Any], errors: list[Violation]) -> None:
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        errors.append(Violation("if", "", "must be an object of image, starter, line, package"))
        return
    for key, value in raw.items():
        limit = _FILTERS.get(str(key))
        if limit is None:
            rule = f"is not a filter (known: {', '.join(_FILTERS)})"
            errors.append(Violation(f"if.{str(key)[:40]}", None, rule))
        elif not _text(value, limit):
            errors.append(Violation(f"if.{key}", value, f"must be text of 1 to {limit} characters"))
        elif key == "package" and not _PACKAGE.fullmatch(value):
            errors.append(Violation("if.package", value, "must be a Debian package name"))
        else:
            out[str(key)] = value


def _check_url(field: str, value: Any, errors: list[Violation], secret: bool = False) -> None:
    shown = None if secret else value
    if not isinstance(value, str) or not value:
        errors.append(Violation(field, shown, "must be an http:// or https:// URL"))
        return
    problem = url_problem(value)
    if problem is not None:
        errors.append(Violation(field, shown if isinstance(shown, str) else None, problem))


def _check_target(raw: Any, errors: list[Violation]) -> tuple[str, dict[str, Any], str | None]:
    """The target's kind, its settings kept in clear and its secret (None: it has none)."""
    if not isinstance(raw, Mapping):
        errors.append(Violation("then", None, f"must be an object with kind ({TARGET_KINDS})"))
        return "", {}, None
    kind = raw.get("kind")
    if kind not in TARGET_KINDS:
        rule = f"must be one of {', '.join(TARGET_KINDS)}"
        errors.append(Violation("then.kind", kind if isinstance(kind, str) else None, rule))
        return "", {}, None
    for key in raw:
        if key != "kind" and key not in _TARGET_KEYS[kind]:
            known = ", ".join(_TARGET_KEYS[kind])
            errors.append(
                Violation(f"then.{str(key)[:40]}", None, f"is not a {kind} setting ({known})")
            )
    settings: dict[str, Any] = {}
    secret: str | None = None
    if kind == "webhook":
        _check_url("then.url", raw.get("url"), errors)
        settings["url"] = raw.get("url")
        secret = raw.get("secret")
        if not _text(secret, 200) or len(str(secret)) < 16:
            errors.append(Violation("then.secret", None, "must be 16 to 200 visible characters"))
    elif kind == "slack":
        _check_url("then.url", raw.get("url"), errors, secret=True)
        secret = raw.get("url")
    elif kind == "email":
        to = raw.get("to")
        to = [to] if isinstance(to, str) else to
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_RECIPIENTS:
            errors.append(Violation("then.to", None, f"must be 1 to {MAX_RECIPIENTS} addresses"))
        else:
            for position, address in enumerate(to):
                if not isinstance(address, str) or not _EMAIL.fullmatch(address):
                    errors.append(
                        Violation(f"then.to[{position}]", address, "must be an email address")
                    )
            settings["to"] = to
    else:
        repository = raw.get("repository")
        if not isinstance(repository, str) or not REPOSITORY.fullmatch(repository):
            errors.append(Violation("then.repository", repository, "must be OWNER/REPO"))
        secret = raw.get("token")
        if not _text(secret, 255) or " " in str(secret):
            errors.append(
                Violation(
                    "then.token", None, "must be a GitHub token (1 to 255 visible characters)"
                )
            )
        api_url = raw.get("api_url", API_URL)
        _check_url("then.api_url", api_url, errors)
        event_type = raw.get("event_type", "couturier")
        if not _text(event_type, MAX_EVENT_TYPE):
            rule = f"must be text of 1 to {MAX_EVENT_TYPE} characters"
            errors.append(Violation("then.event_type", event_type, rule))
        settings.update(repository=repository, api_url=api_url, event_type=event_type)
    return str(kind), settings, secret if isinstance(secret, str) else None


def check_action(
    raw: Any,
) -> tuple[str, list[str], dict[str, Any], str, dict[str, Any], str | None]:
    """``raw`` checked: (name, events, filters, target kind, target settings, secret).
    Raises :class:`SpecError` listing every rule broken."""
    if not isinstance(raw, Mapping):
        raise SpecError([Violation("", None, "must be a JSON object")], source="request")
    errors: list[Violation] = []
    for key in raw:
        if key not in _KEYS:
            errors.append(Violation(str(key)[:40], None, f"is not a field ({', '.join(_KEYS)})"))
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        errors.append(Violation("name", name if isinstance(name, str) else None, _NAME_RULE))
    events = raw.get("events")
    if not isinstance(events, list) or not events:
        errors.append(
            Violation("events", None, f"must list event kinds ({', '.join(EVENT_KINDS)})")
        )
        events = []
    for position, kind in enumerate(events):
        if kind not in EVENT_KINDS:
            rule = f"must be one of {', '.join(EVENT_KINDS)}"
            errors.append(Violation(f"events[{position}]", kind, rule))
    filters: dict[str, Any] = {}
    _check_filters(raw.get("if"), filters, errors)
    days = raw.get("end_of_life_days", DEFAULT_END_OF_LIFE_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        errors.append(Violation("end_of_life_days", days, "must be a whole number from 1 to 365"))
    else:
        filters["end_of_life_days"] = days
    kind, settings, secret = _check_target(raw.get("then"), errors)
    if errors:
        raise SpecError(errors, source="request")
    assert isinstance(name, str)
    return name, sorted(set(events), key=list(EVENT_KINDS).index), filters, kind, settings, secret


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def action_json(action: Action) -> dict[str, Any]:
    """An action as its tenant reads it: never its secret."""
    filters = dict(action.filters or {})
    days = filters.pop("end_of_life_days", DEFAULT_END_OF_LIFE_DAYS)
    return {
        "id": action.id,
        "name": action.name,
        "events": list(action.events),
        "if": filters,
        "end_of_life_days": days,
        "then": {"kind": action.target_kind, **dict(action.target or {})},
        "created": _iso(action.created_at),
    }


def _attempt_json(row: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": row.number,
        "started": _iso(row.started_at),
        "status_code": row.status_code,
        "duration_ms": row.duration_ms,
        "error": row.error,
    }


def delivery_json(delivery: Delivery, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        "id": delivery.uid,
        "event": delivery.event,
        "state": delivery.state,
        "created": _iso(delivery.created_at),
        "next_attempt": _iso(delivery.next_attempt_at),
        "finished": _iso(delivery.finished_at),
        "error": delivery.error,
        "attempts": [_attempt_json(a) for a in attempts],
    }


def action_not_found(action_id: str) -> NotFoundError:
    return NotFoundError(
        f"you have no action {action_id[:40]!r}",
        "list your actions to see their IDs",
        code=Code.ACTION_NOT_FOUND,
        fields={"action": action_id[:40]},
    )


def _action(repo: TenantActions, action_id: str) -> Action:
    found = repo.action(int(action_id)) if action_id.isdigit() and len(action_id) < 12 else None
    if found is None:
        raise action_not_found(action_id)
    return found


def create_action(installation: Installation, principal: Principal, raw: Any) -> dict[str, Any]:
    """Register the action ``raw`` declares; the action as :func:`action_json` reads it.
    Raises :class:`SpecError` (every violation) or :class:`ConflictError` for a name the
    tenant uses already."""
    name, events, filters, kind, settings, secret = check_action(raw)
    taken = ConflictError(
        f"you have an action called {name} already",
        "remove it first, or choose another name",
        fields={"action": name},
    )
    try:
        with installation.store.unit(write=True) as uow:
            repo = TenantActions(uow.session, principal.tenant_id)
            if repo.action_named(name) is not None:
                raise taken
            action = repo.add_action(
                Action(
                    tenant_id=principal.tenant_id,
                    name=name,
                    events=events,
                    filters=filters,
                    target_kind=kind,
                    target=settings,
                    created_at=installation.clock(),
                )
            )
            if secret is not None:
                action.secret = installation.key.seal(secret.encode(), secret_purpose(action.id))
            return action_json(action)
    except IntegrityError:  # made at the same moment by another request
        raise taken from None


def get_action(installation: Installation, principal: Principal, action_id: str) -> dict[str, Any]:
    with installation.store.unit() as uow:
        return action_json(_action(TenantActions(uow.session, principal.tenant_id), action_id))


def remove_action(
    installation: Installation, principal: Principal, action_id: str
) -> dict[str, Any]:
    """Remove the action and its deliveries (a queued one is then nothing to do); the action
    as it was."""
    with installation.store.unit(write=True) as uow:
        repo = TenantActions(uow.session, principal.tenant_id)
        action = _action(repo, action_id)
        shown = action_json(action)
        repo.remove_action(action)
        return shown


def _after(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not key[0].isdigit() or len(key[0]) > 12:
        raise bad_cursor(cursor or "")
    return int(key[0])


def action_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's actions, oldest first, and the next page's cursor."""
    after, limit = _after(cursor), check_limit(limit)
    with installation.store.unit() as uow:
        page = TenantActions(uow.session, principal.tenant_id).actions(limit, after)
        return [action_json(a) for a in page.items], encode_cursor(page.after)


def delivery_page(
    installation: Installation,
    principal: Principal,
    action_id: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of one action's deliveries, newest first, each with every attempt."""
    before, limit = _after(cursor), check_limit(limit)
    with installation.store.unit() as uow:
        repo = TenantActions(uow.session, principal.tenant_id)
        action = _action(repo, action_id)
        page = repo.deliveries(action.id, limit, before)
        attempts = repo.attempts([d.id for d in page.items])
        items = [delivery_json(d, attempts.get(d.id, [])) for d in page.items]
        return items, encode_cursor(page.after)


def send_test_event(
    installation: Installation, principal: Principal, action_id: str
) -> dict[str, Any]:
    """Queue a ``test`` event to the action (whatever its events and filters); the delivery,
    pending, whose attempts its deliveries list shows."""
    with installation.store.unit(write=True) as uow:
        action = _action(TenantActions(uow.session, principal.tenant_id), action_id)
        now = installation.clock()
        payload = {
            "event": TEST_EVENT,
            "occurred": now.isoformat().replace("+00:00", "Z"),
            "tenant": principal.tenant_id,
            "action": {"id": action.id, "name": action.name},
            "message": "a test event: this action's target is reachable",
        }
        delivery = queue_delivery(uow, installation, action, TEST_EVENT, payload)
        return delivery_json(delivery, [])
