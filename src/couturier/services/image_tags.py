"""The tag history of a private image (``GET /v1/images/{tenant}/{name}/tags``).

Each move of a mutable tag (``latest``, ``3``, ``3.13``, ``3.13.5``) by a build is kept by the
registry sink (:mod:`couturier.services.registry_sink`): which digest the tag named, from when
(``since``) until when (``until``, null while it still does) and the trace ID of the build
that moved it there. Immutable timestamp tags never move, so they have no history; they are
listed by the registry's tags list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from couturier.services.images import find_image
from couturier.services.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from couturier.services.registry_sink import image_repository
from couturier.store.registry import RegistryRecords, TagEvent

if TYPE_CHECKING:
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = ["tag_history_page"]


def _event_json(event: TagEvent) -> dict[str, Any]:
    return {
        "tag": event.tag,
        "digest": event.digest,
        "since": event.since.isoformat(),
        "until": event.until.isoformat() if event.until is not None else None,
        "trace_id": event.trace_id,
    }


def tag_history_page(
    installation: Installation,
    principal: Principal,
    image: tuple[str, str],
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tag history of the tenant's image ``image`` (``(tenant, name)``), newest
    move first, and the next page's cursor. Raises :class:`NotFoundError` for an image the
    tenant lacks, :class:`SpecError` for a malformed cursor or limit."""
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    if after is not None and not after[0].isdigit():
        raise bad_cursor(cursor or "")
    with installation.store.unit() as uow:
        found = find_image(uow, principal, *image)
        repository = image_repository(found.tenant_id, found.name)
        before = int(after[0]) if after is not None else None
        events = RegistryRecords(uow.session).tag_events(repository, limit + 1, before)
        items = [_event_json(event) for event in events[:limit]]
        more = len(events) > limit
        last = str(events[limit - 1].id) if more else None
    return items, encode_cursor((last,) if last is not None else None)
