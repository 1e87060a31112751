"""After a build: pushing its created lines to each of the tenant's destinations, and the
record of each push (part of the build record, ``GET /v1/builds/{trace_id}``).

:func:`push_created` runs in the build's worker once the build's lines are known and before
they are recorded. For each destination and created line it pushes the line's index (its
platform manifests, blobs and SBOM referrers) and tags with
:func:`couturier.oci.push.push`, each registry operation retried with backoff
(:class:`couturier.oci.registry.RetryPolicy`). The outcome is one ``build_pushes`` row per
line and destination: ``pushed`` (with what the push did) or ``failed`` (with the problem:
``push-unreachable``, ``push-denied``, ``push-rejected``, ``destination-invalid`` when the
host now resolves where it must not, ``secret-unreadable``). A push never changes a line's
status: a line that cannot be pushed stays ``created``, its image kept in Couturier.

Once a destination is unreachable or refuses the credentials, its remaining lines get the
same problem without trying again (they would wait through the same retries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from couturier.errors import Code, CouturierError, NotFoundError, Problem
from couturier.oci.documents import Descriptor
from couturier.oci.push import push
from couturier.oci.pushsource import PushItem, PushSource
from couturier.oci.registry import Credentials, RegistryClient, RetryPolicy
from couturier.services.destinations import repository_of, sealed_purpose, unsafe_host
from couturier.services.registry import RegistryReader
from couturier.store.destinations import BuildPush, Destination, TenantDestinations
from couturier.store.images import TenantImages

if TYPE_CHECKING:
    from couturier.services.build import LineResult
    from couturier.services.installation import Installation

__all__ = ["RepositoryPushSource", "push_build", "push_created", "push_records"]

log = logging.getLogger("couturier.pushes")

# Codes after which the destination's other lines are not tried again in this build.
_GIVE_UP = frozenset({Code.PUSH_UNREACHABLE, Code.PUSH_DENIED, Code.DESTINATION_INVALID})


class RepositoryPushSource:
    """One repository of Couturier's registry, as tenant ``tenant_id`` reads it through
    ``reader`` (the blob store and its records), as a push source
    (:class:`couturier.oci.pushsource.PushSource`). Raises :class:`NotFoundError` for content
    the repository does not have."""

    def __init__(self, reader: RegistryReader, tenant_id: int, repository: str) -> None:
        self._reader, self._tenant, self._repository = reader, tenant_id, repository

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"{digest} is not in {self._repository}",
            fields={"digest": digest, "repository": self._repository},
        )

    def manifest(self, digest: str) -> tuple[str, bytes]:
        found = self._reader.manifest(self._tenant, self._repository, digest)
        if found is None:
            raise self._missing(digest)
        return found.media_type, found.content

    def blob(self, digest: str) -> Path:
        found = self._reader.blob(self._tenant, self._repository, digest)
        if found is None:
            raise self._missing(digest)
        return found.path

    def referrers(self, digest: str) -> list[Descriptor]:
        found = self._reader.referrers(self._tenant, self._repository, digest) or []
        return [Descriptor.from_json(entry) for entry in found]


def _client(installation: Installation, row: Destination, retry: RetryPolicy) -> RegistryClient:
    """A client of ``row``'s registry with its credentials opened. Raises
    :class:`couturier.errors.StateError` (``secret-unreadable``) and, when the host now
    resolves where it must not, :class:`CouturierError` (``destination-invalid``)."""
    parts = urlsplit(row.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    problem = unsafe_host(parts.hostname or "", port)
    if problem is not None:
        raise CouturierError(
            f"destination {row.id} is not pushed to: {problem}",
            code=Code.DESTINATION_INVALID,
            fields={"destination": row.id, "url": row.url},
        )
    credentials = None
    if row.username:
        password = ""
        if row.password_sealed:
            password = installation.key.open(row.password_sealed, sealed_purpose(row.id)).decode()
        credentials = Credentials(row.username, password)
    return RegistryClient(
        row.url, credentials=credentials, ca_pem=row.ca_pem, retry=retry, guard=unsafe_host
    )


def _push_destination(
    installation: Installation,
    row: Destination,
    *,
    source: PushSource,
    repository: str,
    lines: Sequence[LineResult],
    mount_from: str,
    retry: RetryPolicy,
) -> list[BuildPush]:
    rows: list[BuildPush] = []
    given_up: Problem | None = None

    def record(line: LineResult, status: str, problem: Problem | None, report: Any) -> None:
        rows.append(
            BuildPush(
                destination_id=row.id,
                url=row.url,
                repository=repository,
                line=line.version,
                digest=line.digest,
                status=status,
                problem=problem.to_json() if problem else None,
                report=report,
                finished_at=installation.clock(),
            )
        )

    client: RegistryClient | None = None
    try:
        client = _client(installation, row, retry)
    except CouturierError as error:
        given_up = _problem(error, row)
    except Exception:  # a bug (the stored CA bundle was checked at registration)
        log.exception("destination %s: its client cannot be made", row.id)
        given_up = Problem(Code.INTERNAL, "internal error while preparing the push")
    try:
        for line in lines:
            if given_up is not None or client is None:
                record(line, "failed", given_up, None)
                continue
            try:
                item = PushItem(line.digest, tuple(line.tags))
                report = push(source, client, repository, [item], mount_from=mount_from)
                record(line, "pushed", None, report.to_json())
            except CouturierError as error:
                problem = _problem(error, row)
                log.warning("push of %s to destination %s: %s", line.version, row.id, problem)
                record(line, "failed", problem, None)
                if problem.code in _GIVE_UP:
                    given_up = problem
            except Exception:  # a bug: this push fails, the build and other pushes go on
                log.exception("push of %s to destination %s: internal error", line.version, row.id)
                record(line, "failed", Problem(Code.INTERNAL, "internal error while pushing"), None)
    finally:
        if client is not None:
            client.close()
    return rows


def _problem(error: CouturierError, row: Destination) -> Problem:
    return Problem(error.code, error.message, {**error.fields, "destination": row.id})


def push_build(
    installation: Installation,
    tenant_id: int | None,
    image_id: int,
    repository: str,
    *,
    trace_id: str,
    lines: Sequence[LineResult],
) -> None:
    """After build ``trace_id`` of image ``image_id`` (``repository`` of Couturier's registry,
    ``TENANT/NAME``): its created ``lines`` pushed from there by :func:`push_created`."""
    from couturier.services.registry_store import registry_reader

    if tenant_id is None:
        return
    owner = tenant_id
    push_created(
        installation,
        owner,
        image_id=image_id,
        trace_id=trace_id,
        lines=lines,
        source=lambda: RepositoryPushSource(registry_reader(installation), owner, repository),
    )


def push_created(
    installation: Installation,
    tenant_id: int,
    *,
    image_id: int,
    trace_id: str,
    lines: Sequence[LineResult],
    source: Callable[[], PushSource],
    retry: RetryPolicy | None = None,
) -> None:
    """Push the created ``lines`` of build ``trace_id`` (of image ``image_id``) from
    ``source()`` to each of the tenant's destinations and record the outcomes as the build's
    pushes. Never raises: whatever goes wrong (the database too) is logged and leaves the
    build as it is; a build or image gone meanwhile records nothing."""
    try:
        _push_created(
            installation,
            tenant_id,
            image_id=image_id,
            trace_id=trace_id,
            lines=lines,
            source=source,
            retry=retry,
        )
    except Exception:  # the build's lines are recorded whatever became of its pushes
        log.exception("build %s: pushing to its destinations failed", trace_id)


def _push_created(
    installation: Installation,
    tenant_id: int,
    *,
    image_id: int,
    trace_id: str,
    lines: Sequence[LineResult],
    source: Callable[[], PushSource],
    retry: RetryPolicy | None,
) -> None:
    created = [line for line in lines if line.status == "created" and line.digest]
    with installation.store.unit() as uow:
        image = TenantImages(uow.session, tenant_id).image_by_id(image_id)
        destinations = TenantDestinations(uow.session, tenant_id).all()
        if image is None or not destinations or not created:
            return
        repo = TenantDestinations(uow.session, tenant_id)
        plans = []
        for row in destinations:
            repository = repository_of(row, image.name)
            plans.append((row, repository, repo.pushed_repository(row.id, repository)))
    opened = source()
    rows: list[BuildPush] = []
    for row, repository, mount_from in plans:
        rows += _push_destination(
            installation,
            row,
            source=opened,
            repository=repository,
            lines=created,
            mount_from=mount_from,
            retry=retry or RetryPolicy(),
        )
    with installation.store.unit(write=True) as uow:
        build = TenantImages(uow.session, tenant_id).build(trace_id)
        if build is None or build.image_id != image_id:
            return
        TenantDestinations(uow.session, tenant_id).replace_pushes(build.id, rows)


def push_records(session: Session, tenant_id: int, build_id: int) -> list[dict[str, Any]]:
    """The pushes of the tenant's build ``build_id`` as the API answers them."""
    return [
        {
            "line": row.line,
            "destination": row.destination_id,
            "url": row.url,
            "repository": row.repository,
            "digest": row.digest,
            "status": row.status,
            "problem": row.problem,
            "report": row.report,
            "finished": row.finished_at.isoformat(),
        }
        for row in TenantDestinations(session, tenant_id).pushes(build_id)
    ]
