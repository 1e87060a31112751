"""The refresh of an installation: re-read every package source, re-plan every line of every
private image in scope (and, for the whole installation, of every starter image built:
:mod:`couturier.services.starter_refresh`), rebuild only the lines whose plan changed.

:func:`refresh` (the scheduler, ``couturier refresh``, ``POST /v1/refresh``) refreshes the
package sources (:func:`couturier.services.catalog.refresh`: only the indexes that changed
are downloaded), records a :class:`~couturier.store.freshness.RefreshRun`, and fans out one
``refresh-image`` job per image (lock key ``refresh:<image id>``), so many images spread over
every worker. Each job (:func:`check_image`) plans the image's lines on the catalogs its
worker keeps (:class:`Checker`: a release's catalog is opened once per worker and refresh run,
not once per image) and compares each line's fingerprint (:mod:`couturier.services.freshness`)
with the one its current image was built from:

- same fingerprint: the line is ``unchanged``, nothing is built;
- past its end-of-life date: ``end of life``, never rebuilt;
- otherwise the image gets a build with trigger ``refresh`` naming only the changed lines
  (:func:`couturier.services.builds.queue_build`; a build already waiting absorbs it).

Every check of an image whose tenant has an action listening to end-of-life events (asked
once per tenant and refresh run, :meth:`Checker.listening`) tells the actions service how far
each line is from its end of life (:func:`_emit_end_of_life`; the service tells each action
once, within its days); a rebuild whose change records name CVE IDs emits "a rebuild fixed
CVEs" when it is recorded (:mod:`couturier.services.builds`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from couturier.core.families import FamilyIndexes
from couturier.core.planner import LinePlan, plan_line, split_requests, starter_resolution
from couturier.core.resolver import Resolution
from couturier.errors import Code, CouturierError, NotFoundError, ResolutionError
from couturier.jobs import ClaimedJob
from couturier.services.registry_sink import starter_repository
from couturier.services.starter_refresh import LOCK_PREFIX as STARTER_LOCK_PREFIX
from couturier.services.starter_refresh import check_starter, starters_in_scope
from couturier.store.freshness import LineState, RefreshRun
from couturier.store.images import TenantImages
from couturier.store.models import Image, Job

if TYPE_CHECKING:
    from couturier.core.catalog import Package
    from couturier.core.starter import ImageLine, Starter
    from couturier.debian.index import IndexCatalog
    from couturier.debian.refresh import RefreshReport
    from couturier.debian.transport import Transport
    from couturier.services.builds import Builds
    from couturier.services.installation import Installation
    from couturier.store import UnitOfWork

__all__ = [
    "REFRESH_JOB",
    "Checker",
    "ImageCheck",
    "RefreshResult",
    "check_image",
    "images_in_scope",
    "line_fingerprints",
    "planned_fingerprint",
    "refresh",
    "run_refresh_job",
]

log = logging.getLogger("couturier.refresh")

REFRESH_JOB = "refresh-image"
_LOCK_PREFIX = "refresh:"


def _lock(image_id: int) -> str:
    return f"{_LOCK_PREFIX}{image_id}"


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: the sources' report (None when not refreshed) and the full names
    of the images whose check it queued."""

    report: RefreshReport | None
    queued: list[str]

    def to_json(self) -> dict[str, Any]:
        errors = [str(e) for e in self.report.errors] if self.report is not None else []
        return {"queued": self.queued, "count": len(self.queued), "source_errors": errors}


def images_in_scope(
    uow: UnitOfWork, tenant_id: int | None = None, name: str | None = None
) -> list[Image]:
    """The private images a refresh covers: every one, a tenant's, or one by name."""
    query = select(Image)
    if tenant_id is not None:
        query = query.where(Image.tenant_id == tenant_id)
    if name is not None:
        query = query.where(Image.name == name)
    return list(uow.session.scalars(query.order_by(Image.id)))


def refresh(
    builds: Builds,
    *,
    tenant_id: int | None = None,
    image: str | None = None,
    sources: bool = True,
    scheduled_for: dt.datetime | None = None,
    transport: Transport | None = None,
) -> RefreshResult:
    """Refresh the package sources (unless not ``sources``), then queue a check of every
    image in scope: the installation's, tenant ``tenant_id``'s, or the tenant's ``image``
    (a name). Raises :class:`NotFoundError` for an ``image`` the tenant does not have.
    Sources that fail to refresh keep their previous indexes (the report says which)."""
    from couturier.services import catalog as catalog_service
    from couturier.services.context import catalog_context

    installation = builds.installation
    if image is not None:
        with installation.store.unit() as uow:
            if not images_in_scope(uow, tenant_id, image):
                raise NotFoundError(
                    f"no image {tenant_id}/{image[:40]}",
                    "list the tenant's images with `couturier images list`",
                    code=Code.IMAGE_NOT_FOUND,
                    fields={"image": f"{tenant_id}/{image[:40]}"},
                )
    report = None
    if sources:
        context = catalog_context(installation.settings, transport=transport)
        report = catalog_service.refresh(context, None, None)
    scope = "installation" if tenant_id is None else f"tenant {tenant_id}"
    queued: list[str] = []
    with installation.store.unit(write=True) as uow:
        uow.session.add(
            RefreshRun(scheduled_for=scheduled_for, started_at=installation.clock(), scope=scope)
        )
        waiting = _queued_checks(builds, uow)
        for row in images_in_scope(uow, tenant_id, image):
            _queue_check(builds, uow, row.tenant_id, _lock(row.id), waiting)
            queued.append(f"{row.tenant_id}/{row.name}")
        if tenant_id is None:  # a tenant's refresh leaves the shared starters alone
            for name in starters_in_scope(uow):
                _queue_check(builds, uow, None, STARTER_LOCK_PREFIX + name, waiting)
                queued.append(starter_repository(name))
    builds.queue.notify()
    log.info("refresh (%s): %d images to check", scope, len(queued))
    return RefreshResult(report, queued)


def _queued_checks(builds: Builds, uow: UnitOfWork) -> set[str] | None:
    """The lock keys of the checks the embedded runner has waiting (one query, however many
    images), or None for procrastinate, whose queueing lock refuses a second one itself."""
    if builds.installation.settings.jobs == "procrastinate":
        return None
    query = select(Job.lock_key).where(Job.kind == REFRESH_JOB, Job.state == "queued")
    return {key for key in uow.session.scalars(query) if key}


def _queue_check(
    builds: Builds, uow: UnitOfWork, tenant_id: int | None, key: str, waiting: set[str] | None
) -> None:
    """Queue the check of lock key ``key`` (an image of tenant ``tenant_id``, or a starter
    with None) unless one already waits, which then checks it (``waiting``: the keys known
    to wait; None: ask the queue, a savepoint keeping a refused duplicate from undoing the
    others)."""

    def enqueue() -> None:
        builds.queue.enqueue(
            uow,
            kind=REFRESH_JOB,
            lock_key=key,
            tenant_id=tenant_id,
            build_id=None,
            now=builds.installation.clock(),
        )

    if waiting is not None:
        if key not in waiting:
            enqueue()
            waiting.add(key)
        return
    # procrastinate's queueing lock refuses a second waiting check: the one waiting stays.
    with contextlib.suppress(IntegrityError), uow.session.begin_nested():
        enqueue()


# -- checking one image --------------------------------------------------------------------


# The plans a worker keeps per refresh run (least recently used dropped first): images
# with the same packages on one line share one plan.
_PLANS_KEPT = 20_000


@dataclass
class Checker:
    """A worker's catalogs, family indexes, starter resolutions and plans for checks, kept
    per refresh run: the first check after a run opens a release's catalog and resolves each
    line's starter set; the next ones reuse them, and an image whose line has the packages
    of one planned before reuses that plan. Thread-safe."""

    installation: Installation
    loads: int = 0  # catalogs loaded: one per release and architecture per refresh run
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loading: threading.Lock = field(default_factory=threading.Lock)
    _run: int = -1
    _catalogs: dict[tuple[str, str], IndexCatalog] = field(default_factory=dict)
    _families: FamilyIndexes = field(default_factory=FamilyIndexes)
    _starters: dict[str, Starter] = field(default_factory=dict)
    _bases: dict[tuple[str, ...], Resolution] = field(default_factory=dict)
    _plans: OrderedDict[tuple[Any, ...], LinePlan | str] = field(default_factory=OrderedDict)
    _listening: dict[tuple[int, str], bool] = field(default_factory=dict)
    _members: dict[tuple[str, ...], dict[str, Package | None]] = field(default_factory=dict)

    def generation(self, run: int) -> None:
        """Forget what was kept when the newest refresh run is no longer ``run``'s."""
        with self._lock:
            if run != self._run:
                self._run, self._catalogs = run, {}
                self._families, self._starters = FamilyIndexes(), {}
                self._bases, self._plans, self._listening = {}, OrderedDict(), {}
                self._members = {}

    def plan(
        self, starter: Starter, line: ImageLine, architecture: str, packages: Sequence[str]
    ) -> LinePlan | str:
        """``line``'s plan with a spec's ``packages`` on ``architecture``, or the code of
        the problem that skips it (see :func:`couturier.core.planner.plan_line`)."""
        key = (starter.name, line.version, line.release, architecture, tuple(packages))
        with self._lock:
            found = self._plans.get(key)
            if found is not None:
                self._plans.move_to_end(key)
                return found
        try:
            catalog = self.catalog(line.release, architecture)
            plain, autos = split_requests(packages)
            found = plan_line(
                catalog,
                starter,
                line,
                plain,
                autos,
                indexes=self._families,
                base=self._base(catalog, starter, line),
                choices=self._members_of(starter, line, architecture),
            )
        except (ResolutionError, NotFoundError) as error:
            found = str(error.code)
        with self._lock:
            self._plans[key] = found
            while len(self._plans) > _PLANS_KEPT:
                self._plans.popitem(last=False)
        return found

    def _members_of(
        self, starter: Starter, line: ImageLine, architecture: str
    ) -> dict[str, Package | None]:
        """The auto members chosen so far for ``line`` on ``architecture`` (family →
        member): each family's choice is made once per worker and refresh run."""
        key = (starter.name, line.version, line.release, architecture)
        with self._lock:
            return self._members.setdefault(key, {})

    def _base(self, catalog: IndexCatalog, starter: Starter, line: ImageLine) -> Resolution:
        key = (starter.name, line.version, line.release, catalog.architecture)
        with self._lock:
            found = self._bases.get(key)
        if found is None:
            found = starter_resolution(catalog, starter, line)
            with self._lock:
                found = self._bases.setdefault(key, found)
        return found

    def catalog(self, release: str, architecture: str) -> IndexCatalog:
        """The catalog of ``release`` on ``architecture``: its index snapshots are loaded by
        the first check of a refresh run that needs them (checks at once wait for that one
        load) and counted in :attr:`loads` and the log."""
        from couturier.services import catalog as catalog_service

        key = (release, architecture)
        with self._lock:
            found = self._catalogs.get(key)
        if found is not None:
            return found
        with self._loading:
            with self._lock:
                found = self._catalogs.get(key)
            if found is None:
                found = catalog_service.catalog(
                    self.installation.settings, release, architecture, lambda message: None
                )
                with self._lock:
                    self._catalogs[key] = found
                    self.loads += 1
                log.info(
                    "refresh run %d: index snapshots of %s/%s loaded (%d loads by this worker)",
                    self._run,
                    release,
                    architecture,
                    self.loads,
                )
        return found

    def listening(self, uow: UnitOfWork, tenant_id: int, event: str) -> bool:
        """Whether an action of tenant ``tenant_id`` listens to ``event``: asked once per
        tenant and refresh run (an action added during a run hears from the next one)."""
        from couturier.store.actions import TenantActions

        key = (tenant_id, event)
        with self._lock:
            found = self._listening.get(key)
        if found is None:
            found = bool(TenantActions(uow.session, tenant_id).listening(event))
            with self._lock:
                self._listening[key] = found
        return found

    @property
    def families(self) -> FamilyIndexes:
        return self._families

    def starter(self, name: str) -> Starter | None:
        from couturier.services.starters import starters

        with self._lock:
            if not self._starters:
                self._starters = dict(starters(self.installation.settings))
            return self._starters.get(name)


@dataclass(frozen=True)
class ImageCheck:
    """The outcome of one image's check: line label → ``unchanged``, ``changed`` or
    ``end of life``; the trace id of the build queued for the changed lines (or None)."""

    lines: dict[str, str]
    trace_id: str | None


def planned_fingerprint(
    checker: Checker,
    *,
    starter: Starter,
    line: ImageLine,
    packages: Sequence[str],
    architectures: Sequence[str],
    inputs: Any,
) -> str:
    """``line``'s fingerprint with a spec's ``packages`` as planned now on ``architectures``
    (``inputs``: the :class:`~couturier.services.freshness.ImageInputs` of the image or
    starter), or its skip's fingerprint when one architecture cannot be planned."""
    from couturier.services.freshness import planned_line, skipped_fingerprint

    plans = []
    for arch in architectures:
        plan = checker.plan(starter, line, arch, packages)
        if isinstance(plan, str):
            return skipped_fingerprint(plan)
        plans.append(plan)
    return planned_line(inputs, plans)[0]


def line_fingerprints(
    checker: Checker, tenant_id: int, spec: dict[str, Any], today: dt.date
) -> dict[str, str | None]:
    """Each line's fingerprint for image ``spec`` of tenant ``tenant_id`` as planned now on
    the checker's catalogs (None for a line past its end of life, which is not planned; a
    line that cannot be planned has its skip's fingerprint). Empty for an unknown starter."""
    from couturier.services.build import ImageRequest
    from couturier.services.builds import image_spec_of
    from couturier.services.bundles import get_bundle
    from couturier.services.freshness import image_inputs

    settings = checker.installation.settings
    starter = checker.starter(str(spec.get("starter")))
    if starter is None:
        return {}
    image_spec = image_spec_of(spec)
    try:
        bundles = tuple(get_bundle(settings, ref, tenant=tenant_id) for ref in image_spec.bundles)
    except CouturierError as error:  # a bundle gone: the build says so, line by line
        log.warning("refresh: image %s: %s", image_spec.name, error.message)
        bundles = ()
    request = ImageRequest(starter=starter, name=image_spec.name, bundles=bundles)
    inputs = image_inputs(spec, request)
    architectures = list(spec.get("architectures") or settings.architectures)
    return {
        line.version: None
        if line.eol < today
        else planned_fingerprint(
            checker,
            starter=starter,
            line=line,
            packages=image_spec.packages,
            architectures=architectures,
            inputs=inputs,
        )
        for line in starter.lines
    }


def check_image(builds: Builds, checker: Checker, tenant_id: int, image_id: int) -> ImageCheck:
    """Re-plan every line of image ``image_id`` and queue a ``refresh`` build of the lines
    whose fingerprint changed (see the module docstring); the others are recorded as checked.
    An image deleted meanwhile is an empty check."""
    from couturier.services.freshness import END_OF_LIFE, UNCHANGED

    installation = builds.installation
    now = installation.clock()
    with installation.store.unit() as uow:
        run = uow.session.scalar(select(func.max(RefreshRun.id))) or 0
        image = TenantImages(uow.session, tenant_id).image_by_id(image_id)
        if image is None:
            return ImageCheck({}, None)
        spec = dict(image.spec)
        query = select(LineState.line, LineState.fingerprint, LineState.outcome)
        rows = uow.session.execute(query.where(LineState.image_id == image_id)).all()
        kept = {line: fingerprint for line, fingerprint, _ in rows}
        before = {line: outcome for line, _, outcome in rows}
        checker.generation(run)
        listening = checker.listening(uow, tenant_id, "line-end-of-life")
    outcomes: dict[str, str] = {}
    for label, fingerprint in line_fingerprints(checker, tenant_id, spec, now.date()).items():
        if fingerprint is None:
            outcomes[label] = END_OF_LIFE
        else:
            outcomes[label] = UNCHANGED if kept.get(label) == fingerprint else "changed"
    starter = checker.starter(str(spec.get("starter")))
    ends = {line.version: line.eol for line in starter.lines} if starter and listening else {}
    trace_id = _record_check(builds, tenant_id, image_id, outcomes, before, ends, now)
    if trace_id is not None:
        builds.queue.notify()
    return ImageCheck(outcomes, trace_id)


def _record_check(  # noqa: PLR0917 - one check's outcome, handed over whole
    builds: Builds,
    tenant_id: int,
    image_id: int,
    outcomes: dict[str, str],
    before: dict[str, str],
    ends: dict[str, dt.date],
    now: dt.datetime,
) -> str | None:
    """Record the lines checked (unchanged, end of life; ``before`` the outcomes recorded
    so far), emit the end-of-life events (``ends``: each line's date) and queue the build
    of the changed ones; the trace id of that build, or None.
    Lines with a state are updated by one statement per outcome: an unchanged image costs
    one small write."""
    from couturier.services.builds import queue_build
    from couturier.services.freshness import END_OF_LIFE

    changed = [label for label, outcome in outcomes.items() if outcome == "changed"]
    checked: dict[str, list[str]] = {}
    with builds.installation.store.unit(write=True) as uow:
        _emit_end_of_life(uow, builds.installation, image_id, tenant_id, ends)
        for label, outcome in outcomes.items():
            if outcome != "changed" and label in before:
                checked.setdefault(outcome, []).append(label)
            elif outcome == END_OF_LIFE:
                uow.session.add(
                    LineState(
                        tenant_id=tenant_id,
                        image_id=image_id,
                        line=label,
                        fingerprint="",
                        packages={},
                        outcome=END_OF_LIFE,
                        checked_at=now,
                    )
                )
        for outcome, labels in checked.items():
            uow.session.execute(
                update(LineState)
                .where(LineState.image_id == image_id, LineState.line.in_(labels))
                .values(outcome=outcome, checked_at=now)
            )
        row = TenantImages(uow.session, tenant_id).image_by_id(image_id) if changed else None
        if row is None:
            return None
        build = queue_build(builds, uow, row, "refresh", now)
        if build.trigger == "refresh":
            wanted = sorted(set(build.spec.get("lines") or ()) | set(changed))
            build.spec = {**build.spec, "lines": wanted}
        return build.trace_id


def _emit_end_of_life(
    uow: UnitOfWork,
    installation: Installation,
    image_id: int,
    tenant_id: int,
    ends: dict[str, dt.date],
) -> None:
    """Tell the tenant's actions how far each line of the image is from its end of life
    (``ends``: line → end-of-life date, empty when no action of the tenant listens); the
    actions service tells each action once per image, line and date, only within its
    ``end_of_life_days``."""
    from couturier.services import events

    if not ends:
        return
    image = TenantImages(uow.session, tenant_id).image_by_id(image_id)
    if image is None:
        return
    now = installation.clock()
    for line, date in ends.items():
        events.emit(
            uow, installation, events.end_of_life(image, line=line, date=date, occurred=now)
        )


def run_refresh_job(builds: Builds, checker: Checker, job: ClaimedJob) -> None:
    """The ``refresh-image`` job handler: check the image or starter its lock key names."""
    if job.lock_key is not None and job.lock_key.startswith(STARTER_LOCK_PREFIX):
        check_starter(builds, checker, job.lock_key.removeprefix(STARTER_LOCK_PREFIX))
        return
    if job.tenant_id is None or job.lock_key is None or not job.lock_key.startswith(_LOCK_PREFIX):
        return
    image_id = int(job.lock_key.removeprefix(_LOCK_PREFIX))
    check_image(builds, checker, job.tenant_id, image_id)


def job_handler(builds: Builds) -> Callable[[ClaimedJob], None]:
    """The ``refresh-image`` handler of one worker process (one :class:`Checker`)."""
    checker = Checker(builds.installation)
    return lambda job: run_refresh_job(builds, checker, job)
