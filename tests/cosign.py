"""Debian's ``cosign`` for tests marked ``network``: the real verifier of signatures.

The ``.deb`` of trixie's ``cosign`` (it runs on bookworm: a static Go binary) is found in
Couturier's own catalog of Debian's mirror and downloaded by Couturier's own fetcher (verified
against the index sha256) into the network tests' cache (``tests/mirror.py``); the binary is
extracted once per session with ``dpkg-deb``. :class:`Cosign` runs it with no transparency log
(``--insecure-ignore-tlog=true``: Rekor needs the internet) against plain-HTTP registries
on 127.0.0.1 (``--allow-insecure-registry``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from couturier.assembly.fetch import fetch
from couturier.debian.index import load_catalog
from couturier.debian.refresh import refresh
from couturier.settings import Settings

__all__ = ["Cosign", "cosign", "docker_login"]

LOCAL = ["--allow-insecure-registry", "--insecure-ignore-tlog=true"]


@dataclass(frozen=True)
class Cosign:
    """The extracted ``cosign`` binary; its runs see a private HOME (no docker config)."""

    binary: Path
    home: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "DOCKER_CONFIG": str(self.home / ".docker"),
            "SIGSTORE_NO_CACHE": "1",
            "TUF_ROOT": str(self.home / "tuf"),
            **(env or {}),
        }
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )

    def verify(self, key: Path, image: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("verify", "--key", str(key), *LOCAL, *extra, image)

    def verify_attestation(
        self, key: Path, image: str, kind: str, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "verify-attestation", "--key", str(key), "--type", kind, *LOCAL, *extra, image
        )


def _write_docker_config(home: Path, host: str, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = home / ".docker"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))


def docker_login(cosign: Cosign, host: str, user: str, password: str) -> None:
    """Credentials for ``host`` in cosign's docker config (what ``cosign login`` writes)."""
    _write_docker_config(cosign.home, host, user, password)


def _binary(settings: Settings, directory: Path) -> Path:
    refresh(settings, releases=["trixie"], architectures=["amd64"])
    catalog = load_catalog(settings, "trixie", "amd64")
    (package,) = catalog.versions("cosign")[:1]
    debs = fetch([package], catalog.url_of, settings.cache_dir / "debs")
    subprocess.run(["dpkg-deb", "-x", str(debs["cosign"]), str(directory)], check=True)
    return directory / "usr" / "bin" / "cosign"


@pytest.fixture(scope="session")
def cosign(mirror_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Cosign:
    """Trixie's cosign, through Couturier's catalog and fetcher (cached across runs)."""
    directory = tmp_path_factory.mktemp("cosign")
    binary = _binary(mirror_settings, directory / "root")
    home = directory / "home"
    home.mkdir()
    return Cosign(binary, home)
