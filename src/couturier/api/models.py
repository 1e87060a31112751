"""The request and response bodies of ``/v1``, as pydantic models (they make the OpenAPI
document, and check what comes in)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from couturier.core.tokens import SCOPES
from couturier.services.tokens import MAX_DESCRIPTION, MAX_EXPIRY_DAYS

__all__ = [
    "LineOut",
    "StarterDetail",
    "StarterList",
    "StarterSummary",
    "TokenCreated",
    "TokenList",
    "TokenOut",
    "TokenRequest",
]

Scope = Literal["pull", "write", "admin"]
assert SCOPES == ("pull", "write", "admin")  # the Literal above


class _Body(BaseModel):
    # strict: JSON's true is not 1 day, nor "30" or 30.0 a number of days (a spec's values are
    # taken as written, too)
    model_config = ConfigDict(extra="forbid", strict=True)


class TokenRequest(_Body):
    scope: Scope
    expires_days: int | None = Field(
        None, ge=1, le=MAX_EXPIRY_DAYS, description="days until it expires; never if left out"
    )
    description: str = Field("", max_length=MAX_DESCRIPTION)


class TokenOut(BaseModel):
    id: str
    scope: Scope
    description: str
    created: dt.datetime
    expires: dt.datetime | None
    revoked: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the token's text: shown this once, kept nowhere")


class TokenList(BaseModel):
    items: list[TokenOut]
    next: str | None


class StarterSummary(BaseModel):
    name: str
    description: str
    lines: list[str]
    newest: str


class StarterList(BaseModel):
    items: list[StarterSummary]
    next: str | None


class LineProblem(BaseModel):
    """Why a line has no version now: ``{"code", "message", "fields"}`` (docs/errors.md)."""

    code: str
    message: str
    fields: dict[str, Any]


class LineOut(BaseModel):
    label: str
    release: str
    primary: str
    packages: list[str]
    env: dict[str, str]
    primary_version: str | None
    full_version: str | None
    eol: dt.date
    ended: bool
    newest: bool
    problem: LineProblem | None


class StarterDetail(BaseModel):
    name: str
    description: str
    packages: list[str]
    entrypoint: list[str]
    cmd: list[str]
    user: str
    uid: int
    workdir: str
    ports: list[str]
    env: dict[str, str]
    newest: str
    architecture: str
    lines: list[LineOut]
