"""A tenant's private images: create, read, edit, delete, and the gallery.

A request's spec is the spec file's shape as JSON (:mod:`couturier.core.spec`), plus
``architectures``, which may narrow the installation's. It is checked whole before anything is
stored (the spec's own rules, the catalogs and bundles, :func:`couturier.services.specs.
spec_checks`, and the tenant's entitlements), every violation at once in one
:class:`~couturier.core.spec.SpecError`. Creating, editing and rebuilding queue a build
(:func:`couturier.services.builds.queue_build`) in the same transaction that stores the image.

An image is named ``<tenant>/<name>``; a ``tenant`` that is not the caller's is not found,
exactly as a name the tenant does not use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy.exc import IntegrityError

from couturier.core.spec import ImageSpec, SpecError, Violation, parse_spec
from couturier.core.suggest import close_names
from couturier.core.text import named
from couturier.errors import Code, ConflictError, NotFoundError
from couturier.services import events
from couturier.services.builds import (
    Builds,
    build_json,
    full_name,
    queue_build,
)
from couturier.services.context import catalog_context
from couturier.services.paging import check_limit, decode_cursor, encode_cursor
from couturier.services.registry_sink import image_repository
from couturier.services.specs import spec_checks
from couturier.services.starters import starters
from couturier.store.cards import card_json, card_page
from couturier.store.images import TenantImages
from couturier.store.models import Image
from couturier.store.registry import RegistryRecords

if TYPE_CHECKING:
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal
    from couturier.store import UnitOfWork

__all__ = [
    "card_page_items",
    "create_image",
    "delete_image",
    "edit_image",
    "find_image",
    "find_image_id",
    "get_image",
    "image_page",
    "image_spec_yaml",
    "rebuild_image",
]

_SUGGEST_AMONG = 5_000  # image names compared for a did-you-mean: bounded work per 404


def image_not_found(tenant: str, name: str, known: Sequence[str] = ()) -> NotFoundError:
    """The image ``tenant/name`` is not the asking tenant's; ``known``: the tenant's own image
    names, to suggest the nearest (never another tenant's: they would tell it exists)."""
    shown = f"{tenant[:20]}/{name[:60]}"
    suggestions = [f"{tenant}/{near}" for near in close_names(name[:60], known)]
    hint = f"did you mean {' or '.join(suggestions)}?" if suggestions else ""
    return NotFoundError(
        f"no private image {named(shown, 81)}",  # a NUL or a right-to-left override escaped
        hint or "list your images to see their names",
        code=Code.IMAGE_NOT_FOUND,
        fields={"image": shown, "suggestions": suggestions},
    )


def _architectures(value: Any, configured: tuple[str, ...], found: list[Violation]) -> list[str]:
    """The ``architectures`` entry of a request: a list of configured architectures, each once
    (empty or missing: the installation's)."""
    if value is None:
        return []
    rule = f"must be a list of configured architectures, each once ({', '.join(configured)})"
    if (
        not isinstance(value, list)
        or len(value) > len(configured)
        or not all(isinstance(a, str) for a in value)
    ):
        found.append(Violation("architectures", value, rule))
        return []
    seen: set[str] = set()
    for index, arch in enumerate(value):
        if arch not in configured or arch in seen:
            found.append(Violation(f"architectures[{index}]", arch, rule))
        seen.add(arch)
    return [a for a in configured if a in seen]


def check_request(
    installation: Installation,
    principal: Principal,
    raw: Any,
    current: Image | None = None,
) -> tuple[ImageSpec, dict[str, Any]]:
    """The spec ``raw`` asks for (``current``: the image it edits, whose name and starter it
    may not change) and its document as stored. Raises :class:`SpecError` with every
    violation."""
    settings = installation.settings
    if not isinstance(raw, Mapping):
        raise SpecError([Violation("body", None, "must be a spec: a JSON object")], "request")
    raw = dict(raw)
    found: list[Violation] = []
    archs = _architectures(raw.pop("architectures", None), settings.architectures, found)
    if current is not None:
        for key in ("name", "starter"):
            value = raw.get(key)
            if value is not None and value != getattr(current, key):
                rule = f"cannot change after the image is made (it is {getattr(current, key)!r})"
                found.append(Violation(key, value, rule))
    offered = starters(settings)
    with installation.store.unit() as uow:
        entitled = uow.tenant(principal.tenant_id).entitlements()
    allowed = {name: offered[name] for name in entitled if name in offered}
    checks = spec_checks(
        catalog_context(settings), archs[0] if archs else None, principal.tenant_id
    )
    # An edit that changes the starter is refused: its packages are not checked against
    # another starter's releases.
    moved = current is not None and raw.get("starter") not in (None, current.starter)
    spec: ImageSpec | None = None
    try:
        spec = parse_spec(
            raw,
            allowed,
            source="request",
            checks=() if moved else checks,
            also_fields=("architectures",),
        )
    except SpecError as error:
        for violation in error.violations:
            value = violation.value
            if violation.field == "starter" and isinstance(value, str) and value in offered:
                rule = (
                    "is a starter your tenant is not entitled to (yours: "
                    f"{', '.join(sorted(allowed)) or 'none'}; an admin entitles tenants)"
                )
                found.append(Violation("starter", value, rule))
            else:
                found.append(violation)
    if found or spec is None:
        raise SpecError(found, "request")
    document: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "starter": spec.starter,
        "packages": list(spec.packages),
        "env": dict(spec.env),
        "bundles": list(spec.bundles),
    }
    if archs:
        document["architectures"] = archs
    return spec, document


def _accepted(image: Image, trace_id: str, status: str) -> dict[str, Any]:
    return {"name": full_name(image), "build": {"trace_id": trace_id, "status": status}}


def create_image(builds: Builds, principal: Principal, raw: Any) -> dict[str, Any]:
    """Store the private image ``raw`` declares and queue its first build: ``{"name",
    "build": {"trace_id", "status"}}``. Raises :class:`SpecError` (every violation) or
    :class:`ConflictError` when the tenant has an image of that name."""
    installation = builds.installation
    spec, document = check_request(installation, principal, raw)
    now = installation.clock()
    taken = ConflictError(
        f"you have a private image called {spec.name} already",
        "edit it, or choose another name",
        fields={"image": f"{principal.tenant_id}/{spec.name}"},
    )
    try:
        with installation.store.unit(write=True) as uow:
            repo = TenantImages(uow.session, principal.tenant_id)
            if repo.image(spec.name) is not None:
                raise taken
            image = repo.add_image(
                Image(
                    tenant_id=principal.tenant_id,
                    name=spec.name,
                    starter=spec.starter,
                    description=spec.description,
                    spec=document,
                    created_at=now,
                    updated_at=now,
                )
            )
            build = queue_build(builds, uow, image, "create", now)
            answer = _accepted(image, build.trace_id, build.status)
    except IntegrityError:  # made at the same moment by another request
        raise taken from None
    builds.queue.notify()
    return answer


def find_image(uow: UnitOfWork, principal: Principal, tenant: str, name: str) -> Image:
    """The tenant's image ``tenant/name`` in ``uow``; :class:`NotFoundError` otherwise (for
    another tenant's too)."""
    return _image(TenantImages(uow.session, principal.tenant_id), principal, tenant, name)


def _image(uow_repo: TenantImages, principal: Principal, tenant: str, name: str) -> Image:
    if tenant != str(principal.tenant_id):
        raise image_not_found(tenant, name)
    image = uow_repo.image(name)
    if image is None:
        raise image_not_found(tenant, name, uow_repo.image_names(_SUGGEST_AMONG))
    return image


def find_image_id(installation: Installation, principal: Principal, tenant: str, name: str) -> int:
    """The id of the tenant's image ``tenant/name``; :class:`NotFoundError` otherwise."""
    with installation.store.unit() as uow:
        return _image(TenantImages(uow.session, principal.tenant_id), principal, tenant, name).id


def edit_image(
    builds: Builds, principal: Principal, tenant: str, name: str, raw: Any
) -> dict[str, Any]:
    """Replace the description, packages, env, bundles (and architectures) of the image with
    those of the spec ``raw`` and queue a rebuild. Raises :class:`NotFoundError`, or
    :class:`SpecError` (a changed name or starter among the violations)."""
    installation = builds.installation
    with installation.store.unit() as uow:
        current = _image(TenantImages(uow.session, principal.tenant_id), principal, tenant, name)
    _, document = check_request(installation, principal, raw, current)
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        image = _image(repo, principal, tenant, name)
        image.spec, image.description, image.updated_at = document, document["description"], now
        build = queue_build(builds, uow, image, "edit", now)
        answer = _accepted(image, build.trace_id, build.status)
    builds.queue.notify()
    return answer


def rebuild_image(builds: Builds, principal: Principal, tenant: str, name: str) -> dict[str, Any]:
    """Queue a rebuild of the image now (the build waiting to run, if one does)."""
    installation = builds.installation
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        image = _image(repo, principal, tenant, name)
        build = queue_build(builds, uow, image, "rebuild", now)
        answer = _accepted(image, build.trace_id, build.status)
    builds.queue.notify()
    return answer


def delete_image(installation: Installation, principal: Principal, tenant: str, name: str) -> None:
    """Remove the image, its builds (and their jobs), and its registry repository's tags and
    manifests, in one transaction: it is no longer pullable once this returns. Its blobs go
    at the next garbage collection (:mod:`couturier.services.gc`) unless another repository
    references them. A build running meanwhile finds its image gone when it commits and
    publishes nothing."""
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        image = _image(repo, principal, tenant, name)
        # Two deletes at once (two API processes on PostgreSQL): the second waits here for
        # the first and then finds the image gone, instead of answering 204 and telling
        # the actions a second time.
        if not repo.lock_image(image):
            raise image_not_found(tenant, name)
        events.emit(uow, installation, events.image_deleted(image, occurred=installation.clock()))
        RegistryRecords(uow.session).remove_repository(
            image_repository(image.tenant_id, image.name)
        )
        repo.remove_image(image)


def _cards(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[Sequence[str], str | None]:
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    with installation.store.reading() as connection:
        page = card_page(connection, principal.tenant_id, limit, after)
    return page.items, encode_cursor(page.after)


def image_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> bytes:
    """A page of the tenant's gallery, by name, as the JSON body of ``GET /v1/images``:
    ``{"items": [card, ...], "next": cursor-or-null}``, each card as the API's
    ``ImageSummary`` (:func:`couturier.store.cards.card_json`). The cards are the stored
    JSON texts, joined undecoded: one statement, outside any transaction. Raises
    :class:`SpecError` for a bad limit or cursor."""
    cards, following = _cards(installation, principal, limit, cursor)
    tail = f'],"next":{json.dumps(following)}}}'
    return f'{{"items":[{",".join(cards)}{tail}'.encode()


def card_page_items(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The same page of the gallery as :func:`image_page`, its cards decoded (for the
    console), and the next page's cursor."""
    cards, following = _cards(installation, principal, limit, cursor)
    return [json.loads(card) for card in cards], following


def get_image(
    installation: Installation, principal: Principal, tenant: str, name: str
) -> dict[str, Any]:
    """One image: its card, its spec, and its last build whole (every line with its status,
    problem, digest, tags and timings)."""
    with installation.store.unit() as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        image = _image(repo, principal, tenant, name)
        last = repo.latest_builds([image.id], finished=False).get(image.id)
        done = repo.latest_builds([image.id], finished=True).get(image.id)
        ids = [b.id for b in (last, done) if b is not None]
        lines = repo.lines(ids)
        card = card_json(image, last, done, lines)
        card["spec"] = dict(image.spec)
        card["last_build"] = (
            build_json(last, full_name(image), lines[last.id]) if last is not None else None
        )
    return card


def image_spec_yaml(
    installation: Installation, principal: Principal, tenant: str, name: str
) -> str:
    """The image's spec as a YAML spec file (what ``couturier plan`` and ``apply`` read)."""
    with installation.store.unit() as uow:
        image = _image(TenantImages(uow.session, principal.tenant_id), principal, tenant, name)
        document = {k: v for k, v in image.spec.items() if v not in ("", [], {}) or k == "name"}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
