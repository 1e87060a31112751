"""A tenant's file bundles, as the service offers them: ``/v1/bundles``.

Each tenant has its own bundle store (:func:`couturier.services.bundles.store_root` with the
tenant's id), so what a tenant lists, reads, creates and deletes is its own alone; another
tenant's bundle is not found, as one that does not exist. The rules and limits are those of
``bundle create`` (:mod:`couturier.services.bundles`, :mod:`couturier.services.bundle_inputs`):
the service only hands over the uploaded files, saved under their own names (a plain name: no
``/``, no ``\\``, nothing hidden) in a private temporary directory, and says which upload a
violation is about by that name, never by where it was saved.

A version is deleted unless one of the tenant's images, or a build of it still in progress,
uses it: by a pinned reference (``corp-ca@3``) or, for the bundle's newest version, by an
unpinned one (``corp-ca``; deleting it would change what the image is built with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couturier.core.bundle import BundleError, check_name
from couturier.core.spec import SpecError, Violation, split_bundle_ref
from couturier.core.text import has_hidden, named
from couturier.errors import Code, NotFoundError
from couturier.services import bundles as bundle_service
from couturier.services.paging import check_limit, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from couturier.core.bundle import Bundle
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = [
    "Upload",
    "bundle_detail",
    "bundle_page",
    "check_upload_name",
    "create_from_uploads",
    "delete_version",
]

_NAME_MAX = 255  # bytes of a file name


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave it and where the interface saved it."""

    name: str
    path: Path


def check_upload_name(name: str | None) -> str | None:
    """Why ``name`` (an uploaded file's name) cannot name an input, None when it can: a plain
    file name, as ``bundle create`` takes a file's base name."""
    if not name:
        return "an uploaded file needs a file name (e.g. ca.pem, certs.tar.gz)"
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        return "must be a plain file name: no / or \\, not . or .."
    if has_hidden(name) or len(name.encode("utf-8", "surrogateescape")) > _NAME_MAX:
        return f"must be at most {_NAME_MAX} bytes of visible characters"
    return None


def create_from_uploads(
    installation: Installation,
    principal: Principal,
    name: str,
    kind: str,
    uploads: Sequence[Upload],
    *,
    target: str | None,
) -> Bundle:
    """The next version of the tenant's bundle ``name`` from ``uploads`` (files, directories
    are not uploaded; archives are read as ``bundle create`` reads them).

    Raises :class:`BundleError` listing every violation, each naming the upload by its name
    (nothing is stored then), and what :func:`~couturier.services.bundles.create_bundle`
    raises."""
    found = [
        Violation("files", upload.name[:200], problem)
        for upload in uploads
        if (problem := check_upload_name(upload.name)) is not None
    ]
    if found:
        raise BundleError([*check_name(name), *found], f"bundle {name}")
    try:
        return bundle_service.create_bundle(
            installation.settings,
            name,
            kind,
            [upload.path for upload in uploads],
            target,
            now=installation.clock(),
            tenant=principal.tenant_id,
        )
    except BundleError as error:
        raise BundleError(
            [_as_uploaded(v, uploads) for v in error.violations], f"bundle {name}"
        ) from None


def _as_uploaded(violation: Violation, uploads: Sequence[Upload]) -> Violation:
    """``violation`` naming each upload by its name instead of the path it was saved at (in
    its field, and in its rule: "lands at x.conf, as <another upload> does")."""
    field, rule = violation.field, violation.rule
    for upload in sorted(uploads, key=lambda u: len(str(u.path)), reverse=True):
        saved = str(upload.path)
        field = field.replace(saved, upload.name)
        rule = rule.replace(saved, upload.name)
    return Violation(field, violation.value, rule)


def _version_json(stored: bundle_service.StoredVersion) -> dict[str, Any]:
    body = bundle_service.bundle_json(stored.bundle) if stored.bundle else {}
    return {
        **body,
        "name": stored.name,
        "version": stored.version,
        "damaged": stored.problem or None,
    }


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"there is no bundle {named(name)}",
        "",
        code=Code.BUNDLE_NOT_FOUND,
        fields={"bundle": name[:200], "version": None, "what": "bundle"},
    )


def bundle_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's bundles by name: ``{"name", "type", "target", "versions",
    "newest", "created"}`` (``versions``: every version number; ``type``, ``target`` and
    ``created`` are the newest version's), and the next page's cursor. Reads each bundle's
    newest record, no file (``GET /v1/bundles/{name}`` verifies them)."""
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    settings, tenant = installation.settings, principal.tenant_id
    names = bundle_service.bundle_names(settings, tenant)
    if after is not None:
        names = [n for n in names if n > after[0]]
    page, more = names[:limit], len(names) > limit
    items = [bundle_service.bundle_summary(settings, name, tenant) for name in page]
    return items, encode_cursor((page[-1],) if more and page else None)


def bundle_detail(installation: Installation, principal: Principal, name: str) -> dict[str, Any]:
    """The tenant's bundle ``name`` with every version (``{"name", "versions": [...]}``, each
    version as ``bundle list --json`` shows it, ``damaged`` saying what is wrong with a damaged
    one, ``used_by`` naming the images, and builds in progress (``build TRACE_ID``), that use
    it: pinned, or unpinned for the newest). Raises :class:`NotFoundError` when the tenant
    has no such bundle."""
    if check_name(name):
        raise _not_found(name)
    stored = bundle_service.bundle_versions(installation.settings, principal.tenant_id, only=name)
    if not stored:
        raise _not_found(name)
    with installation.store.unit() as uow:
        users = uow.tenant(principal.tenant_id).bundle_users()
    newest = max(v.version for v in stored)
    return {
        "name": name,
        "versions": [
            {**_version_json(v), "used_by": _users_of(users, name, v.version, newest)}
            for v in stored
        ],
    }


def _users_of(
    users: Sequence[tuple[str, list[Any]]], name: str, version: int, newest: int
) -> list[str]:
    """What of ``users`` (``(what, bundle references)``) uses version ``version`` of bundle
    ``name``: a reference pinned to it, or an unpinned one when it is the newest."""
    found = []
    for what, refs in users:
        for ref in refs:
            parsed = split_bundle_ref(ref.strip()) if isinstance(ref, str) else None
            if parsed is None or parsed[0] != name:
                continue
            pinned = parsed[1]
            if pinned == version or (pinned is None and version == newest):
                found.append(what)
                break
    return found


def delete_version(
    installation: Installation, principal: Principal, name: str, version: int
) -> None:
    """Delete version ``version`` of the tenant's bundle ``name``, unless an image of the
    tenant (or a build of one in progress) uses it: :class:`ConflictError` (``bundle-in-use``,
    naming them) then. Raises :class:`NotFoundError` when there is no such version."""
    if version < 1:
        raise SpecError([Violation("version", version, "must be 1 or more")], source="request")

    def in_use(candidate: int, newest: int) -> list[str]:
        with installation.store.unit() as uow:
            users = uow.tenant(principal.tenant_id).bundle_users()
        return _users_of(users, name, candidate, newest)

    bundle_service.delete_bundle_version(
        installation.settings, name, version, principal.tenant_id, in_use=in_use
    )
