"""Session fixtures over Debian's real mirror, for tests marked ``network``.

Indexes are refreshed (and verified) by Couturier itself into a cache directory that outlives the
test run (``$XDG_CACHE_HOME/couturier-tests``), so a second run downloads only the ``InRelease``
files. Only amd64 is read: it is what the oracle tests compare.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from couturier.core.catalog import Catalog
from couturier.debian.index import load_catalog
from couturier.debian.refresh import refresh
from couturier.settings import Settings, load_settings

MIRROR_RELEASES = ("bookworm", "trixie")


def mirror_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "couturier-tests"


@pytest.fixture(scope="session")
def mirror_settings() -> Settings:
    cache = mirror_cache()
    env = {"COUTURIER_DATA_DIR": str(cache / "data"), "COUTURIER_CACHE_DIR": str(cache / "cache")}
    return load_settings(None, env)


@pytest.fixture(scope="session")
def mirror_catalogs(mirror_settings: Settings) -> dict[str, Catalog]:
    refresh(mirror_settings, releases=list(MIRROR_RELEASES), architectures=["amd64"])
    return {r: load_catalog(mirror_settings, r, "amd64") for r in MIRROR_RELEASES}


ALL_RELEASES = ("bookworm", "trixie", "forky")
ALL_ARCHITECTURES = ("amd64", "arm64")


@pytest.fixture(scope="session")
def mirror_catalogs_all(mirror_settings: Settings) -> dict[tuple[str, str], Catalog]:
    """Catalogs of every default release for amd64 and arm64, keyed by (release, arch)."""
    refresh(mirror_settings, releases=list(ALL_RELEASES), architectures=list(ALL_ARCHITECTURES))
    return {
        (release, arch): load_catalog(mirror_settings, release, arch)
        for release in ALL_RELEASES
        for arch in ALL_ARCHITECTURES
    }
