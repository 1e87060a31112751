"""A build's progress in the database (``build_events``), on SQLite and on a real PostgreSQL:
numbered in order, a detail update replacing the one that waits, an attempt's events after
the earlier attempt's (which it drops), at most MAX_EVENTS per attempt, pruned after the build
ends, gone with the build. Streaming them across processes is tests/test_workers.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select

from couturier.services import build_progress
from couturier.services.build_progress import (
    ATTEMPT_SPAN,
    KEEP_AFTER_END,
    ProgressLog,
    progress_after,
    prune_progress,
)
from couturier.services.installation import FirstStart, Installation
from couturier.store.build_events import BuildEvent
from couturier.store.models import Build, Image

Installed = tuple[Installation, FirstStart]
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _build(installation: Installation, name: str = "img") -> int:
    with installation.store.unit(write=True) as uow:
        image = Image(
            tenant_id=1, name=name, starter="tiny", spec={}, created_at=NOW, updated_at=NOW
        )
        uow.session.add(image)
        uow.session.flush()
        build = Build(
            tenant_id=1,
            image_id=image.id,
            trace_id=f"{image.id:032x}",
            status="in progress",
            trigger="create",
            attempts=1,
            spec={},
            created_at=NOW,
        )
        uow.session.add(build)
        uow.session.flush()
        return build.id


def _event(stage: str, detail: str = "", line: str = "1") -> dict[str, Any]:
    return {"line": line, "release": "r", "stage": stage, "detail": detail, "arch": ""}


def _log(installation: Installation, build_id: int, attempt: int = 1) -> ProgressLog:
    # A flush interval longer than the test: only final stages and flush() write.
    log = ProgressLog(installation.store, build_id, attempt, clock=lambda: NOW, flush_seconds=600)
    log.begin()
    return log


def test_events_are_numbered_in_order_and_a_detail_update_replaces_the_waiting_one(
    installed: Installed,
) -> None:
    installation, _ = installed
    build_id = _build(installation)
    log = _log(installation, build_id)
    first = ATTEMPT_SPAN + 1
    log.add(_event("resolving"), final=False)  # the first is written at once
    assert progress_after(installation.store, build_id, 0) == [(first, _event("resolving"))]
    log.add(_event("fetching", "1/3"), final=False)  # then at most one write per interval
    log.add(_event("fetching", "2/3"), final=False)  # replaces 1/3: nothing read it yet
    assert len(progress_after(installation.store, build_id, 0)) == 1
    log.add(_event("created", "1.0"), final=True)  # a final stage is written at once
    assert progress_after(installation.store, build_id, 0) == [
        (first, _event("resolving")),
        (first + 1, _event("fetching", "2/3")),
        (first + 2, _event("created", "1.0")),
    ]
    assert [seq for seq, _ in progress_after(installation.store, build_id, first)] == [
        first + 1,
        first + 2,
    ]


def test_an_attempt_numbers_after_the_last_and_drops_its_events(installed: Installed) -> None:
    installation, _ = installed
    build_id = _build(installation)
    log = _log(installation, build_id)
    log.add(_event("resolving"), final=False)
    log.flush()
    again = _log(installation, build_id, attempt=2)
    assert progress_after(installation.store, build_id, 0) == []
    again.add(_event("resolving"), final=False)
    again.flush()
    (seq, _), *_ = progress_after(installation.store, build_id, ATTEMPT_SPAN + 1)
    assert seq == 2 * ATTEMPT_SPAN + 1


def test_an_attempt_keeps_at_most_max_events_then_final_stages_only(
    installed: Installed, monkeypatch: Any
) -> None:
    installation, _ = installed
    monkeypatch.setattr(build_progress, "MAX_EVENTS", 3)
    build_id = _build(installation)
    log = _log(installation, build_id)
    for stage in ("waiting", "resolving", "fetching", "unpacking", "layering"):
        log.add(_event(stage), final=False)
    log.add(_event("created"), final=True)
    stages = [data["stage"] for _, data in progress_after(installation.store, build_id, 0)]
    assert stages == ["waiting", "resolving", "fetching", "created"]


def test_events_are_pruned_after_their_build_ended_and_go_with_their_build(
    installed: Installed,
) -> None:
    installation, _ = installed
    ended, running, deleted = (_build(installation, name) for name in ("a", "b", "c"))
    for build_id in (ended, running, deleted):
        _log(installation, build_id).add(_event("created"), final=True)
    with installation.store.unit(write=True) as uow:
        uow.session.get_one(Build, ended).finished_at = NOW
    prune_progress(installation.store, NOW + KEEP_AFTER_END / 2)  # kept for a while
    assert progress_after(installation.store, ended, 0) != []
    prune_progress(installation.store, NOW + KEEP_AFTER_END * 2)
    assert progress_after(installation.store, ended, 0) == []
    assert progress_after(installation.store, running, 0) != []
    with installation.store.unit(write=True) as uow:
        uow.session.execute(delete(Build).where(Build.id == deleted))
    with installation.store.unit() as uow:
        rows = uow.session.scalar(
            select(func.count()).select_from(BuildEvent).where(BuildEvent.build_id == deleted)
        )
    assert rows == 0
