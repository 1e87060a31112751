"""The newest line of every shipped starter builds from Debian's mirror and runs under podman.

Real everything: indexes and packages from the mirror, the build engine, an OCI layout, and
podman (with runc and no default ulimits, as this machine needs) running the image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from couturier.core.starter import get_starter
from couturier.services.build import ImageRequest, build
from couturier.settings import Settings

pytestmark = [pytest.mark.network, pytest.mark.e2e]

# starter → the command that proves its main program runs, and what its output must contain.
# ``base`` has no program at all (like distroless/static); it is built and inspected only.
MAIN_COMMANDS: dict[str, tuple[list[str], str] | None] = {
    "base": None,
    "python": (["python3", "--version"], "Python 3."),
    "php": (["php", "--version"], "PHP 8."),
    "ruby": (["ruby", "--version"], "ruby 3."),
    "node": (["node", "--version"], "v"),
    "nginx": (["nginx", "-v"], "nginx version"),
    "postgres": (["postgres", "--version"], "PostgreSQL"),
    "jre": (["java", "-version"], "openjdk version"),
}


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./run-tests installs podman and runc")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def _podman_run(env: dict[str, str], image: str, *command: str) -> str:
    done = subprocess.run(
        ["podman", "run", "--rm", "--entrypoint", '["' + command[0] + '"]', image, *command[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr + done.stdout  # stdout last: podman reports its pulls on stderr


@pytest.mark.parametrize("starter_name", sorted(MAIN_COMMANDS))
def test_newest_line_builds_and_runs(
    starter_name: str, mirror_settings: Settings, podman_env: dict[str, str], tmp_path: Path
) -> None:
    starter = get_starter(starter_name)
    newest = starter.lines[-1].version
    output = tmp_path / "layout"
    result = build(
        mirror_settings,
        ImageRequest(starter=starter, name=starter.name),
        output,
        ["amd64"],
        lines=[newest],
    )
    assert result.status == "created", result.to_json()
    assert "latest" in result.lines[0].tags
    main = MAIN_COMMANDS[starter_name]
    if main is not None:
        command, expected = main
        assert expected in _podman_run(podman_env, f"oci:{output}:latest", *command)
    inspected = subprocess.run(
        ["skopeo", "inspect", f"oci:{output}:{newest}"], capture_output=True, text=True, check=True
    )
    assert result.lines[0].digest in inspected.stdout


def test_python_trusts_the_system_ca_bundle(
    mirror_settings: Settings, podman_env: dict[str, str], tmp_path: Path
) -> None:
    starter = get_starter("python")
    output = tmp_path / "layout"
    result = build(
        mirror_settings,
        ImageRequest(starter=starter, name="python"),
        output,
        ["amd64"],
        lines=[starter.lines[0].version],
    )
    assert result.status == "created"
    probe = "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
    out = _podman_run(podman_env, f"oci:{output}:latest", "python3", "-c", probe)
    assert int(out.strip().splitlines()[-1]) > 100  # Mozilla's roots from ca-certificates
