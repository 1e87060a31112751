"""``/v1/actions``: a tenant's actions (When event, If filters, Then a target), a test event,
and each action's deliveries with every attempt (:mod:`couturier.services.actions`).

Registering, removing and testing an action need an ``admin`` token; reading them a
``write`` one (an action's target is the tenant's own infrastructure). A secret (a webhook's
signing secret, a Slack webhook URL, a GitHub token) is never in an answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from couturier.api.errors import NOT_FOUND, RESPONSES, ErrorBody
from couturier.api.params import Admin, Cursor, Inst, Limit, Writer
from couturier.services import actions as action_service
from couturier.services.paging import DEFAULT_LIMIT

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=RESPONSES, tags=["actions"])

ActionId = Annotated[str, Path(max_length=20, description="an action's ID")]
ActionBody = Annotated[
    dict[str, Any],
    Body(
        description="name, events (the When), if (filters: image glob, starter, line, "
        "package), end_of_life_days, then (one target: webhook, slack, email or github)",
        examples=[
            {
                "name": "deploy-hook",
                "events": ["line-new-digest", "line-failed"],
                "if": {"image": "payments-*", "line": "3.13"},
                "then": {
                    "kind": "webhook",
                    "url": "https://ci.example.org/hooks/couturier",
                    "secret": "a-long-random-shared-secret",
                },
            }
        ],
    ),
]


class ActionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    name: str
    events: list[str]
    filters: dict[str, Any] = Field(alias="if")
    end_of_life_days: int
    then: dict[str, Any]
    created: str | None


class ActionList(BaseModel):
    items: list[ActionOut]
    next: str | None


class AttemptOut(BaseModel):
    number: int
    started: str | None
    status_code: int | None
    duration_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event: str
    state: str
    created: str | None
    next_attempt: str | None
    finished: str | None
    error: str | None
    attempts: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next: str | None


@router.post(
    "/actions",
    status_code=201,
    response_model=ActionOut,
    responses={409: {"model": ErrorBody, "description": "the tenant has an action of that name"}},
)
def create_action(installation: Inst, principal: Admin, body: ActionBody) -> dict[str, Any]:
    """Register an action; every rule the request breaks at once as ``422`` (a URL that is not
    http(s), or points at a link-local or metadata address, among them)."""
    return action_service.create_action(installation, principal, body)


@router.get("/actions", response_model=ActionList)
def list_actions(
    installation: Inst, principal: Writer, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """The tenant's actions, oldest first; never a secret."""
    items, after = action_service.action_page(installation, principal, limit, cursor)
    return {"items": items, "next": after}


@router.get("/actions/{action_id}", response_model=ActionOut, responses=NOT_FOUND)
def get_action(installation: Inst, principal: Writer, action_id: ActionId) -> dict[str, Any]:
    """One of the tenant's actions."""
    return action_service.get_action(installation, principal, action_id)


@router.delete("/actions/{action_id}", response_model=ActionOut, responses=NOT_FOUND)
def remove_action(installation: Inst, principal: Admin, action_id: ActionId) -> dict[str, Any]:
    """Remove an action and its deliveries; the action as it was."""
    return action_service.remove_action(installation, principal, action_id)


@router.post(
    "/actions/{action_id}/test", status_code=202, response_model=DeliveryOut, responses=NOT_FOUND
)
def test_action(installation: Inst, principal: Admin, action_id: ActionId) -> dict[str, Any]:
    """Send the action a ``test`` event: ``202`` with its delivery (``pending``); its
    attempts show in the action's deliveries."""
    return action_service.send_test_event(installation, principal, action_id)


@router.get("/actions/{action_id}/deliveries", response_model=DeliveryList, responses=NOT_FOUND)
def list_deliveries(
    installation: Inst,
    principal: Writer,
    action_id: ActionId,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The action's deliveries, newest first, each with every attempt's status code,
    duration in milliseconds and error."""
    items, after = action_service.delivery_page(installation, principal, action_id, limit, cursor)
    return {"items": items, "next": after}
