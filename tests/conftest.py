"""Shared test fixtures: throwaway signing keys and settings pointing at a fixture repository."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import yaml

from couturier.settings import Settings, load_settings
from tests.fixture_repo import SigningKey, make_signing_key


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningKey]:
    """The key that signs fixture repositories (its public key is what settings trust)."""
    key = make_signing_key(tmp_path_factory.mktemp("keys"))
    yield key
    key.close()


def make_settings(
    tmp_path: Path,
    repo_root: Path,
    keyring: Path,
    releases: Mapping[str, Sequence[str]] | None = None,
    architectures: Sequence[str] = ("amd64", "arm64"),
) -> Settings:
    """Write a couturier YAML settings file reading ``repo_root`` over file:// and load it.

    ``releases`` maps a release name to its suites (default ``testing``: ``testing`` and
    ``testing-updates``); data and cache live under ``tmp_path``.
    """
    releases = releases or {"testing": ["testing", "testing-updates"]}
    body = {
        "data_dir": str(tmp_path / "data"),
        "cache_dir": str(tmp_path / "cache"),
        "architectures": list(architectures),
        "mirrors": {"fixture": {"url": repo_root.resolve().as_uri(), "keyring": str(keyring)}},
        "releases": {
            name: {"suites": [{"mirror": "fixture", "suite": s} for s in suites]}
            for name, suites in releases.items()
        },
    }
    path = tmp_path / "couturier.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_settings(path, env={})


# Fixtures over Debian's real mirror (network tests) live in their own module.
pytest_plugins = [
    "tests.mirror",
    "tests.registry",
    "tests.postgres",
    "tests.service",
    "tests.console",
]
