"""Fixtures of the service tests: an installation on SQLite and on a real PostgreSQL
(:mod:`tests.postgres`), and a clock the tests move."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from couturier.services.installation import FirstStart, Installation, open_installation
from couturier.settings import Settings, load_settings

__all__ = ["Clock", "database_url", "installed", "plain_settings"]

START = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database of one test: a SQLite file in its data directory, or a new database of
    the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'couturier.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


def plain_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    """Default settings with data and cache under ``tmp_path`` and ``database_url``."""
    env = {
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    settings = load_settings(None, env=env)
    return replace(settings, database_url=database_url) if database_url else settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def installed(
    tmp_path: Path, database_url: str, clock: Clock
) -> Iterator[tuple[Installation, FirstStart]]:
    """A new installation on ``database_url`` (closed after the test), and its first start."""
    settings = plain_settings(tmp_path, database_url)
    installation, first = open_installation(settings, clock=clock)
    assert first is not None
    try:
        yield installation, first
    finally:
        installation.close()
