"""The refresh of the starter images' own lines (repositories ``starters/<name>``): an
installation's refresh (``couturier refresh`` without ``--image``, the scheduled one) re-plans
every line of every starter whose lines were built, as it does a private image's.

A tenant's refresh (``POST /v1/refresh``, ``couturier refresh --image``) leaves the starters
alone: they are shared by every tenant entitled to them, so one tenant's request does not
rebuild them (docs/refresh.md).

Each starter is checked by a ``refresh-image`` job of its own (lock key
``refresh:starter:<name>``), on the worker's :class:`~couturier.services.refresh.Checker`: a
line's fingerprint (its planned package set on every architecture and the starter's
definition, :func:`~couturier.services.starter_lines.starter_inputs`) is compared with the one
recorded by the build that made it. A line with the same fingerprint records ``unchanged``; a
line past its end of life ``end of life``; the others are marked ``changed`` and the
starter's build is queued for them only (:func:`~couturier.services.starter_lines.
run_starter_build`), unless a build of the starter already waits or runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from couturier.services.freshness import CHANGED, END_OF_LIFE, UNCHANGED
from couturier.services.starter_lines import (
    locked_starter_build,
    queue_starter_build,
    starter_inputs,
)
from couturier.store.freshness import RefreshRun
from couturier.store.starter_builds import StarterBuild

if TYPE_CHECKING:
    from couturier.services.builds import Builds
    from couturier.services.refresh import Checker
    from couturier.store import UnitOfWork

__all__ = ["LOCK_PREFIX", "check_starter", "starters_in_scope"]

log = logging.getLogger("couturier.refresh")

LOCK_PREFIX = "refresh:starter:"


def starters_in_scope(uow: UnitOfWork) -> list[str]:
    """The starters an installation's refresh checks: those whose lines were built (a
    starter never asked for, or whose build waits, runs or created nothing, is built from
    the current indexes when next asked for)."""
    query = select(StarterBuild.starter).where(StarterBuild.status == "built")
    return list(uow.session.scalars(query.order_by(StarterBuild.starter)))


def check_starter(builds: Builds, checker: Checker, name: str) -> dict[str, str]:
    """Re-plan every line of starter ``name`` and queue the build of the lines whose
    fingerprint changed (see the module docstring); line label → ``unchanged``,
    ``changed`` or ``end of life``. Empty when the starter is gone from the installation's
    files or its lines are not built (a build waits or runs: it plans on the new indexes)."""
    from couturier.services.refresh import planned_fingerprint

    installation = builds.installation
    now = installation.clock()
    starter = checker.starter(name)
    with installation.store.unit() as uow:
        run = uow.session.scalar(select(func.max(RefreshRun.id))) or 0
        row = uow.session.get(StarterBuild, name)
        if starter is None or row is None or row.status != "built":
            return {}
        recorded = {line["line"]: line.get("fingerprint") for line in row.lines}
    checker.generation(run)
    inputs = starter_inputs(starter)
    architectures = list(installation.settings.architectures)
    outcomes: dict[str, str] = {}
    for line in starter.lines:
        if line.eol < now.date():
            outcomes[line.version] = END_OF_LIFE
            continue
        fingerprint = planned_fingerprint(
            checker,
            starter=starter,
            line=line,
            packages=(),
            architectures=architectures,
            inputs=inputs,
        )
        same = recorded.get(line.version) == fingerprint
        outcomes[line.version] = UNCHANGED if same else CHANGED
    if _record(builds, name, outcomes, now.isoformat()):
        builds.queue.notify()
    return outcomes


def _record(builds: Builds, name: str, outcomes: dict[str, str], checked_at: str) -> bool:
    """Write each line's outcome into the starter's build record and queue the build of the
    changed lines; whether one was queued (not when a build was asked for meanwhile)."""
    installation = builds.installation
    with installation.store.unit(write=True) as uow:
        row = locked_starter_build(uow, name)
        if row is None or row.status != "built":
            return False
        lines: list[dict[str, Any]] = []
        for line in row.lines:
            outcome = outcomes.get(line["line"])
            lines.append(line if outcome is None else {**line, "outcome": outcome})
            if outcome is not None and outcome != CHANGED:
                lines[-1]["checked_at"] = checked_at
        known = {line["line"] for line in row.lines}
        for label, outcome in outcomes.items():
            if label not in known and outcome == CHANGED:  # a line new in the definition
                lines.append({"line": label, "status": "queued", "outcome": CHANGED})
        row.lines = lines
        changed = sorted(label for label, outcome in outcomes.items() if outcome == CHANGED)
        if not changed:
            return False
        queue_starter_build(builds.queue, uow, row, installation.clock())
    log.info("refresh: starter %s: lines %s changed, queued", name, ", ".join(changed))
    return True
