"""Jobs side by side in one process: each build's context carries its own date, and the cache of
opened snapshot indexes is an owned, thread-safe object (on the fixture repository of
:mod:`tests.test_build`)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from couturier.core.starter import Starter
from couturier.debian.index import load_catalog
from couturier.debian.snapshots import SnapshotCache, SnapshotStore
from couturier.oci.layout import Layout
from couturier.services.build import BuildResult, ImageRequest, StageEvent, build
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.fixture_repo import SigningKey
from tests.test_build import (  # noqa: F401 - fixtures
    RELEASES,
    STARTER_DATE,
    image_members,
    repo,
    settings_in,
    starter,
)


@pytest.fixture
def settings(tmp_path: Path, repo: Path, signing_key: SigningKey) -> Settings:  # noqa: F811
    """A machine whose catalogs are loaded (refreshed) already."""
    made = settings_in(tmp_path / "env", repo, signing_key)
    context = build_context(made)
    for release in RELEASES:
        context.catalogs(release, "amd64")
    return made


def test_two_builds_with_their_own_dates_run_side_by_side(
    tmp_path: Path,
    settings: Settings,
    starter: Starter,  # noqa: F811
) -> None:
    epochs = {"a": STARTER_DATE - 86_400, "b": STARTER_DATE - 2 * 86_400}
    # Both builds wait for each other once they have started, so they overlap for sure.
    together = threading.Barrier(len(epochs), timeout=120)

    def run(name: str) -> BuildResult:
        started = threading.Event()

        def on_stage(event: StageEvent) -> None:
            if event.stage == "resolving" and not started.is_set():
                started.set()
                together.wait()

        context = build_context(
            settings, output=tmp_path / name, epoch=epochs[name], on_stage=on_stage
        )
        return build(context, ImageRequest(starter, "tiny"))

    with ThreadPoolExecutor(max_workers=len(epochs)) as pool:
        results = dict(zip(epochs, pool.map(run, epochs), strict=True))
    for name, epoch in epochs.items():
        assert results[name].status == "created", results[name].to_json()
        layout = Layout(tmp_path / name)
        created = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for line in ("1", "2"):
            members = image_members(layout, line)
            # Every package file is clamped to this build's date (some generated entries carry
            # none, 0); the other build's date is nowhere.
            assert members["usr/bin/tool"][0].mtime == epoch, name
            assert {info.mtime for info, _ in members.values()} <= {epoch, 0}, name
            assert layout.config(line)["created"].startswith(created), name
    digests = [{line.version: line.digest for line in r.lines} for r in results.values()]
    assert digests[0]["1"] != digests[1]["1"]


def test_a_snapshot_cache_keeps_the_indexes_it_opened(settings: Settings) -> None:
    cache = SnapshotCache()
    first = load_catalog(settings, "oldrel", "amd64", snapshots=cache)
    again = load_catalog(settings, "oldrel", "amd64", snapshots=cache)
    assert [p.index for p in again.parts] == [p.index for p in first.parts]
    assert all(a.index is b.index for a, b in zip(first.parts, again.parts, strict=True))
    uncached = load_catalog(settings, "oldrel", "amd64")
    assert all(a.index is not b.index for a, b in zip(first.parts, uncached.parts, strict=True))
    # Dropping a snapshot through a store that shares the cache forgets its index.
    sha = first.parts[0].index.sha256
    path = settings.snapshot_dir / sha
    SnapshotStore(settings.snapshot_dir, cache=cache).drop(sha)
    assert cache.get(path) is None


def test_a_snapshot_cache_is_safe_to_share_between_threads(settings: Settings) -> None:
    cache = SnapshotCache(limit=1)  # every load evicts the other release's index

    def load(release: str) -> list[str]:
        catalog = load_catalog(settings, release, "amd64", snapshots=cache)
        return [p.version for p in catalog.versions("tool")]

    releases = [release for _ in range(20) for release in RELEASES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(load, releases))
    want = {"oldrel": ["1.4-1"], "newrel": ["2.1-1"]}
    assert found == [want[release] for release in releases]
