"""The gallery's cards, kept ready as JSON: table ``image_cards``, one row per private image.

A card is what ``GET /v1/images`` shows of an image (:func:`card_json`): its full name,
starter, label, description, timestamps and architectures, its last build's status and trace
ID, and the lines of its last finished build. Making one needs the image, two "newest build"
queries and the lines, with their JSON and timestamps decoded; for a page of 50 that was most
of a request's time. So each card is stored as its JSON text whenever the image or one of its
builds changes, in the same transaction, and a gallery page is one keyset query over
``(tenant_id, name)`` whose texts are joined into the answer undecoded (:func:`card_page`).

Keeping them is the job of :class:`CardKeepingSession`, the session of every unit of work
(:meth:`couturier.store.database.Store.unit`): after each flush it notes the images whose
``Image``, ``Build`` or ``BuildLine`` rows were added, changed or deleted (and any that
:func:`note_image` named, for changes made by bulk statements), and before the commit it
re-makes their cards from the rows as the transaction sees them (:func:`refresh_cards`).
A card is made from rows read back through the column types (timestamps in UTC), so it equals
what a card made later from the same rows would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import Base, Build, BuildLine, Image
from couturier.store.repositories import Page

__all__ = [
    "LABEL",
    "SBOM_FORMATS",
    "CardKeepingSession",
    "ImageCard",
    "card_json",
    "card_page",
    "line_json",
    "note_image",
    "refresh_cards",
    "sbom_links",
]

LABEL = "private image"
SBOM_FORMATS = ("spdx", "cyclonedx")
_TOUCHED = "couturier_cards_touched"  # Session.info key: image ids whose cards are stale


class ImageCard(Base):
    """An image's gallery card as JSON text (:func:`card_json`), by tenant and name."""

    __tablename__ = "image_cards"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))  # the image's name, the gallery's order
    card: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_image_cards_tenant_name"),)


# -- the card's shape ------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def sbom_links(full_name: str, line: str) -> dict[str, str]:
    """The API paths of a created line's SBOMs, by format."""
    base = f"/v1/images/{full_name}/lines/{line}/sbom"
    return {name: f"{base}?format={name}" for name in SBOM_FORMATS}


def line_json(row: Any) -> dict[str, Any]:
    """A build line (a :class:`BuildLine` or a row of its columns) as the API answers it:
    ``{line, status, full_version, tags, digest, problem, started, finished, seconds, smoke}``
    (ISO 8601 timestamps; ``seconds`` between them, to the millisecond; ``smoke`` the line's
    smoke test, ``services/smoke.py``, None for a line never built)."""
    seconds = None
    if row.started_at is not None and row.finished_at is not None:
        seconds = round((row.finished_at - row.started_at).total_seconds(), 3)
    return {
        "line": row.line,
        "status": row.status,
        "full_version": row.full_version,
        "tags": list(row.tags or []),
        "digest": row.digest,
        "problem": row.problem,
        "started": _iso(row.started_at),
        "finished": _iso(row.finished_at),
        "seconds": seconds,
        "smoke": row.smoke,
    }


def card_json(
    image: Any, last: Any, done: Any, lines: Mapping[int, Sequence[Any]]
) -> dict[str, Any]:
    """An image as the gallery shows it (``ImageSummary`` of the API): ``image`` an
    :class:`Image` or a row of its columns, ``last`` its newest build, ``done`` its newest
    finished build (either None), ``lines`` build lines by build id. The lines are those of
    ``done``; a created line links its SBOMs."""
    full_name = f"{image.tenant_id}/{image.name}"
    shown = lines.get(done.id, []) if done is not None else []
    return {
        "name": full_name,
        "starter": image.starter,
        "label": LABEL,
        "description": image.description,
        "created": image.created_at.isoformat(),
        "updated": image.updated_at.isoformat(),
        "architectures": list(image.spec.get("architectures") or []),
        "build": ({"trace_id": last.trace_id, "status": last.status} if last is not None else None),
        "lines": [
            {
                **line_json(row),
                "sbom": sbom_links(full_name, row.line) if row.status == "created" else None,
            }
            for row in shown
        ],
    }


def card_text(card: Mapping[str, Any]) -> str:
    """A card's stored text: compact JSON, non-ASCII kept (as the API's own answers)."""
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"))


# -- keeping them ----------------------------------------------------------------------------


def _latest(connection: Connection, image_ids: Sequence[int], finished: bool) -> dict[int, Any]:
    newest = select(func.max(Build.id)).where(Build.image_id.in_(image_ids))
    if finished:
        newest = newest.where(Build.finished_at.is_not(None))
    query = select(Build.__table__).where(Build.id.in_(newest.group_by(Build.image_id)))
    return {row.image_id: row for row in connection.execute(query)}


def refresh_cards(connection: Connection, image_ids: Iterable[int]) -> None:
    """Make the cards of ``image_ids`` again from their rows as ``connection``'s transaction
    sees them; an image that is gone loses its card. Six statements whatever the count."""
    ids = sorted(set(image_ids))
    if not ids:
        return
    # The images' rows are locked first (FOR UPDATE on PostgreSQL; a SQLite write unit holds
    # the database's write lock already): two transactions changing one image at once (an
    # edit, a build's result) make its card one after the other, the second from what the
    # first committed, instead of each from the rows without the other's change. PostgreSQL
    # reads at each statement what was committed before it (read committed), so the reads
    # below see it.
    locked = select(Image.__table__).where(Image.id.in_(ids)).order_by(Image.id).with_for_update()
    images = list(connection.execute(locked))
    last = _latest(connection, ids, finished=False)
    done = _latest(connection, ids, finished=True)
    lines: dict[int, list[Any]] = {build.id: [] for build in done.values()}
    if lines:
        query = (
            select(BuildLine.__table__)
            .where(BuildLine.build_id.in_(list(lines)))
            .order_by(BuildLine.id)
        )
        for row in connection.execute(query):
            lines[row.build_id].append(row)
    connection.execute(delete(ImageCard).where(ImageCard.image_id.in_(ids)))
    rows = [
        {
            "image_id": image.id,
            "tenant_id": image.tenant_id,
            "name": image.name,
            "card": card_text(card_json(image, last.get(image.id), done.get(image.id), lines)),
        }
        for image in images
    ]
    if rows:
        connection.execute(insert(ImageCard), rows)


def note_image(session: Session, image_id: int) -> None:
    """Have the card of ``image_id`` made again before ``session`` commits (for a change the
    session does not see as objects: a bulk statement)."""
    session.info.setdefault(_TOUCHED, set()).add(image_id)


class CardKeepingSession(Session):
    """A session that re-makes, before it commits, the cards of the images it changed."""


@event.listens_for(CardKeepingSession, "after_flush")
def _noted(session: Session, flush_context: Any) -> None:
    touched: set[int] = session.info.setdefault(_TOUCHED, set())
    builds: set[int] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Image):
            touched.add(instance.id)
        elif isinstance(instance, Build):
            touched.add(instance.image_id)
        elif isinstance(instance, BuildLine) and instance.build_id is not None:
            builds.add(instance.build_id)
    if builds:
        query = select(Build.image_id).where(Build.id.in_(builds))
        touched.update(session.connection().scalars(query))


@event.listens_for(CardKeepingSession, "before_commit")
def _refreshed(session: Session) -> None:
    if not session.info.get(_TOUCHED) and not _pending(session):
        return
    session.flush()
    touched = session.info.pop(_TOUCHED, set())
    touched.discard(None)
    if touched:
        refresh_cards(session.connection(), touched)


def _pending(session: Session) -> bool:
    return any(
        isinstance(instance, (Image, Build, BuildLine))
        for instance in (*session.new, *session.dirty, *session.deleted)
    )


# Made once (a page is read on every request of the gallery; building the statement cost more
# than running it on SQLite): the first page, and a page after a name.
_PAGE = (
    select(ImageCard.name, ImageCard.card)
    .where(ImageCard.tenant_id == bindparam("tenant_id"))
    .order_by(ImageCard.name)
    .limit(bindparam("limit"))
)
_PAGE_AFTER = _PAGE.where(ImageCard.name > bindparam("after"))


def card_page(
    connection: Connection, tenant_id: int, limit: int, after: tuple[str, ...] | None = None
) -> Page[str]:
    """A page of tenant ``tenant_id``'s cards (their JSON texts) by image name, after the
    name ``after[0]``: one query over ``uq_image_cards_tenant_name``."""
    values: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit + 1}
    if after is not None:
        values["after"] = after[0]
    rows = connection.execute(_PAGE if after is None else _PAGE_AFTER, values).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([row.card for row in rows], (rows[-1].name,) if more and rows else None)
