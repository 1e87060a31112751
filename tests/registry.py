"""A real OCI registry for tests: Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1.

:func:`running_registry` writes a config YAML (filesystem storage in a temporary directory, plain
HTTP on a free loopback port, no auth; or, when asked, TLS with a given certificate and key and
basic auth from an htpasswd file), starts ``docker-registry serve``, waits until ``/v2/``
answers, and stops the process on exit. The ``docker_registry`` fixture wraps it for a test
module. Clients reach it without TLS: ``skopeo --dest-tls-verify=false``, ``podman
--tls-verify=false``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["Registry", "docker_registry", "running_registry"]

# How long the registry may take to answer its first request; it starts in well under a second.
STARTUP_SECONDS = 30.0
# Binding a free port and handing it to the registry can race with another process taking it.
START_ATTEMPTS = 3


@dataclass(frozen=True)
class Registry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``, ``storage`` its blob directory."""

    host: str
    storage: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def reference(self, repository: str, tag: str) -> str:
        """A ``docker://`` transport reference to ``repository:tag`` in this registry."""
        return f"docker://{self.host}/{repository}:{tag}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_config(
    directory: Path, port: int, tls: tuple[Path, Path] | None, htpasswd: Path | None
) -> Path:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if tls is not None:
        config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd)}}
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _answers(url: str) -> bool:
    """Whether the registry answers ``/v2/`` (a 401 of one with auth is an answer too); its
    certificate is not checked here: the tests check it through their clients."""
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=2, context=unchecked) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        return error.code == 401
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait_until_ready(process: subprocess.Popen[bytes], url: str) -> bool:
    """True once ``url`` answers; False if the process died first (e.g. its port was taken)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers(url):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"docker-registry did not answer {url}/v2/ in {STARTUP_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_registry(
    directory: Path, *, tls: tuple[Path, Path] | None = None, htpasswd: Path | None = None
) -> Iterator[Registry]:
    """Run ``docker-registry`` with its config and storage under ``directory`` until exit;
    ``tls``: its certificate and key files (HTTPS then); ``htpasswd``: a bcrypt htpasswd file
    whose users alone may pull and push (basic auth).

    Raises :class:`FileNotFoundError` when ``docker-registry`` is not installed and
    :class:`RuntimeError` (with its log) when it does not start.
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        raise FileNotFoundError("docker-registry is not installed: ./run-tests installs it")
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "registry.log"
    for _ in range(START_ATTEMPTS):
        port = _free_port()
        config = _write_config(directory, port, tls, htpasswd)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            scheme = "https" if tls is not None else "http"
            if _wait_until_ready(process, f"{scheme}://127.0.0.1:{port}"):
                yield Registry(f"127.0.0.1:{port}", directory / "storage", scheme)
                return
        finally:
            _stop(process)
    raise RuntimeError(f"docker-registry did not start:\n{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry of the test module's own, empty when the module starts."""
    with running_registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry
