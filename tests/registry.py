"""A real OCI registry for tests: Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1.

:func:`running_registry` writes a config YAML (filesystem storage in a temporary directory, plain
HTTP on a free loopback port, no auth), starts ``docker-registry serve``, waits until ``/v2/``
answers, and stops the process on exit. The ``docker_registry`` fixture wraps it for a test
module. Clients reach it without TLS: ``skopeo --dest-tls-verify=false``, ``podman
--tls-verify=false``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def reference(self, repository: str, tag: str) -> str:
        """A ``docker://`` transport reference to ``repository:tag`` in this registry."""
        return f"docker://{self.host}/{repository}:{tag}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_config(directory: Path, port: int) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=2) as response:
            return bool(response.status == 200)
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
def running_registry(directory: Path) -> Iterator[Registry]:
    """Run ``docker-registry`` with its config and storage under ``directory`` until exit.

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
        config = _write_config(directory, port)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            if _wait_until_ready(process, f"http://127.0.0.1:{port}"):
                yield Registry(f"127.0.0.1:{port}", directory / "storage")
                return
        finally:
            _stop(process)
    raise RuntimeError(f"docker-registry did not start:\n{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry of the test module's own, empty when the module starts."""
    with running_registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry
