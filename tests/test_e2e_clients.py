"""Images built from Debian's mirror are accepted by tools no one here wrote.

One line (python 3.13, amd64) is built once for the module and checked by:

- ``dpkg`` on the unpacked image (``umoci unpack``): it lists exactly the packages the planner
  resolved, all ``ii``; ``--audit`` and ``--verify`` (every file's md5sum) report nothing; every
  path of every file list exists. The bookworm ``base`` line is checked the same way, because
  bookworm packages still ship ``/bin`` and ``/lib`` and their lists are rewritten to merged-/usr.
- ``skopeo``: ``inspect`` reports the config we wrote; ``copy`` to another layout and to a
  ``dir:`` keeps the manifest and layer digests.
- a real registry (Debian's ``docker-registry``, started by the test): ``skopeo copy`` pushes the
  image, the registry serves it under our manifest digest, ``podman`` pulls and runs it. A line
  built for amd64 and arm64 is pushed whole (``skopeo copy --all``) and served as an image index.

Podman keeps its images under the test's temporary directory (``--root``/``--runroot``) so it
neither sees nor disturbs anyone else's storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from couturier.core.planner import LinePlan, plan_line
from couturier.oci.documents import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from couturier.oci.layout import Layout
from couturier.services import catalog as catalog_service
from couturier.services.build import ImageRequest, LineResult, build
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.oci_unpack import unpack
from tests.starters import starter_named

if TYPE_CHECKING:  # a conftest plugin: importing it twice defeats pytest's assert rewriting
    from tests.registry import Registry

pytestmark = [pytest.mark.network, pytest.mark.e2e]


@dataclass(frozen=True)
class BuiltLine:
    """One line of ``starter`` built into ``layout`` (tag ``label``), its build result, and the
    plan that planning the same amd64 catalog again gives (the set dpkg must agree with)."""

    starter: str
    label: str
    layout: Path
    result: LineResult
    plan: LinePlan


def _build_line(
    settings: Settings, starter_name: str, label: str, output: Path, architectures: list[str]
) -> BuiltLine:
    starter = starter_named(starter_name)
    result = build(
        build_context(settings, output=output),
        ImageRequest(starter=starter, name=starter_name),
        architectures=architectures,
        lines=[label],
    )
    assert result.status == "created", result.to_json()
    line = next(line for line in starter.lines if line.version == label)
    catalog = catalog_service.catalog(settings, line.release, "amd64", lambda message: None)
    plan = plan_line(catalog, starter, line)
    return BuiltLine(starter_name, label, output, result.lines[0], plan)


@pytest.fixture(scope="module")
def python_line(mirror_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> BuiltLine:
    output = tmp_path_factory.mktemp("python") / "layout"
    return _build_line(mirror_settings, "python", "3.13", output, ["amd64"])


@pytest.fixture(scope="module")
def bookworm_base_line(
    mirror_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> BuiltLine:
    output = tmp_path_factory.mktemp("base12") / "layout"
    return _build_line(mirror_settings, "base", "12", output, ["amd64"])


@pytest.fixture(scope="module", params=["python_line", "bookworm_base_line"])
def unpacked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BuiltLine, Path]:
    """A built line and its root filesystem, unpacked by umoci."""
    built: BuiltLine = request.getfixturevalue(request.param)
    rootfs = unpack(built.layout, built.label, tmp_path_factory.mktemp("bundle") / "bundle")
    return built, rootfs


def _run(*command: str, env: dict[str, str] | None = None) -> str:
    """Run ``command``; fails the test with its stderr unless it exits 0. Returns stdout."""
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr[-3000:]}"
    return done.stdout


# --- dpkg on the unpacked image ------------------------------------------------------------------


def _dpkg_query(rootfs: Path, *args: str) -> str:
    return _run("dpkg-query", f"--admindir={rootfs / 'var/lib/dpkg'}", *args)


def test_dpkg_lists_exactly_the_resolved_packages(unpacked: tuple[BuiltLine, Path]) -> None:
    built, rootfs = unpacked
    listing = _dpkg_query(
        rootfs, "-W", "-f", "${Package} ${Version} ${Architecture} ${db:Status-Abbrev}\n"
    )
    rows = [line.split() for line in listing.splitlines()]
    assert all(row[3:] == ["ii"] for row in rows), [row for row in rows if row[3:] != ["ii"]]
    installed = {(name, version, arch) for name, version, arch, *_ in rows}
    planned = {(p.name, p.version, p.architecture) for p in built.plan.packages}
    assert installed == planned
    assert len(rows) == built.result.packages


def test_dpkg_audit_and_verify_report_nothing(unpacked: tuple[BuiltLine, Path]) -> None:
    _, rootfs = unpacked
    for check in ("--audit", "--verify"):  # --verify: every listed file against its md5sum
        done = subprocess.run(
            ["dpkg", f"--root={rootfs}", check], capture_output=True, text=True, check=False
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), check


def test_every_listed_path_exists(unpacked: tuple[BuiltLine, Path]) -> None:
    built, rootfs = unpacked
    names = [p.name for p in built.plan.packages]
    listed = {line for line in _dpkg_query(rootfs, "-L", *names).splitlines() if line}
    assert len(listed) > 100
    # Bookworm's lists keep /lib/... as shipped (as on a merged-/usr Debian system): they resolve
    # through the image's /lib -> usr/lib. lexists: a listed absolute symlink counts as present.
    missing = sorted(p for p in listed if not os.path.lexists(rootfs / p.lstrip("/")))
    assert missing == []


def test_sboms_validate_and_list_exactly_what_dpkg_sees(
    unpacked: tuple[BuiltLine, Path], tmp_path: Path
) -> None:
    """The SPDX and CycloneDX referrers of a real image pass their validators and name the
    packages (name, version, architecture) that dpkg's database in the image lists."""
    built, rootfs = unpacked
    listing = _dpkg_query(rootfs, "-W", "-f", "${Package} ${Version} ${Architecture}\n")
    seen = {tuple(line.split()) for line in listing.splitlines()}
    layout = Layout(built.layout)
    referrers = layout.referrers(built.result.digest)
    documents = {r.artifact_type: json.loads(layout.read_artifact(r)) for r in referrers}
    spdx, cdx = documents["application/spdx+json"], documents["application/vnd.cyclonedx+json"]

    path = tmp_path / "image.spdx.json"
    path.write_text(json.dumps(spdx))
    assert validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3") == []
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(cdx)) is None

    def arch_of(purl: str) -> str:
        return purl.partition("arch=")[2].partition("&")[0]

    spdx_packages = {
        (p["name"], p["versionInfo"], arch_of(ref["referenceLocator"]))
        for p in spdx["packages"]
        for ref in p.get("externalRefs", [])
        if ref["referenceType"] == "purl" and ref["referenceLocator"].startswith("pkg:deb/")
    }
    cdx_packages = {
        (c["name"], c["version"], arch_of(c["purl"]))
        for c in cdx["components"]
        if c.get("purl", "").startswith("pkg:deb/")
    }
    assert spdx_packages == seen
    assert cdx_packages == seen


# --- skopeo on the layout ------------------------------------------------------------------------


def _layer_digests(manifest: dict[str, Any]) -> list[str]:
    return [layer["digest"] for layer in manifest["layers"]]


def test_skopeo_inspect_reports_our_config(python_line: BuiltLine) -> None:
    layout = Layout(python_line.layout)
    report = json.loads(_run("skopeo", "inspect", f"oci:{python_line.layout}:{python_line.label}"))
    config = layout.config(python_line.label)
    assert report["Digest"] == python_line.result.digest
    assert (report["Os"], report["Architecture"]) == ("linux", "amd64")
    assert report["Layers"] == _layer_digests(layout.manifest(python_line.label))
    assert report["Env"] == config["config"]["Env"]
    assert "PYTHONUNBUFFERED=1" in report["Env"]
    assert report["Labels"]["org.opencontainers.image.version"] == python_line.result.full_version
    assert report["Labels"]["io.couturier.starter"] == "python"
    assert report["Labels"]["io.couturier.line"] == "3.13"


def test_skopeo_copy_keeps_the_digests(python_line: BuiltLine, tmp_path: Path) -> None:
    source = f"oci:{python_line.layout}:{python_line.label}"
    ours = _layer_digests(Layout(python_line.layout).manifest(python_line.label))

    other = tmp_path / "other"
    _run("skopeo", "copy", source, f"oci:{other}:{python_line.label}")
    copied = Layout(other)
    assert copied.manifest_descriptor(python_line.label).digest == python_line.result.digest
    assert _layer_digests(copied.manifest(python_line.label)) == ours
    copied.verify()

    directory = tmp_path / "dir"
    _run("skopeo", "copy", source, f"dir:{directory}")
    manifest_bytes = (directory / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == python_line.result.digest
    assert _layer_digests(json.loads(manifest_bytes)) == ours
    for digest in ours:  # the dir: transport names blobs by their hex digest
        blob = (directory / digest.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == digest


# --- a real registry, and podman pulling from it --------------------------------------------------


@dataclass(frozen=True)
class Podman:
    """podman with storage of its own under a temporary directory."""

    root: Path
    env: dict[str, str]

    def __call__(self, *args: str) -> str:
        storage = ["--root", str(self.root / "root"), "--runroot", str(self.root / "run")]
        return _run("podman", *storage, *args, env=self.env)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./run-tests installs podman and runc")
    root = tmp_path_factory.mktemp("podman")
    conf = root / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    client = Podman(root, {**os.environ, "CONTAINERS_CONF": str(conf)})
    yield client
    client("rmi", "--all", "--force")


def _push(registry: Registry, source: str, repository: str, tag: str, *extra: str) -> str:
    """Push ``source`` to ``repository:tag`` of ``registry``; returns the registry reference."""
    target = registry.reference(repository, tag)
    _run("skopeo", "copy", *extra, "--dest-tls-verify=false", source, target)
    return target


def _registry_get(registry: Registry, path: str, accept: str) -> tuple[str, dict[str, Any]]:
    """GET ``/v2/<path>``: the Docker-Content-Digest header and the parsed JSON body."""
    request = urllib.request.Request(f"{registry.url}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        digest = response.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    return digest, json.loads(body)


def test_pushed_image_is_pulled_and_run_by_podman(
    python_line: BuiltLine, docker_registry: Registry, podman: Podman
) -> None:
    tag = python_line.label
    target = _push(docker_registry, f"oci:{python_line.layout}:{tag}", "tenant/python", tag)
    remote = json.loads(_run("skopeo", "inspect", "--tls-verify=false", target))
    assert remote["Digest"] == python_line.result.digest

    image = target.removeprefix("docker://")
    podman("pull", "--quiet", "--tls-verify=false", image)
    assert podman("image", "inspect", "--format", "{{.Digest}}", image).strip() == (
        python_line.result.digest
    )
    # The image's own entrypoint (/usr/bin/python3) with --version as its arguments.
    out = podman("run", "--rm", image, "--version")
    assert out.strip() == f"Python {python_line.result.full_version}"


@pytest.fixture(scope="module")
def multiarch_line(
    mirror_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> BuiltLine:
    """The newest base line (small) for amd64 and arm64: one image index."""
    label = starter_named("base").lines[-1].version
    output = tmp_path_factory.mktemp("multiarch") / "layout"
    return _build_line(mirror_settings, "base", label, output, ["amd64", "arm64"])


def test_multiarch_index_is_pushed_whole(
    multiarch_line: BuiltLine, docker_registry: Registry, podman: Podman
) -> None:
    tag = multiarch_line.label
    source = f"oci:{multiarch_line.layout}:{tag}"
    target = _push(docker_registry, source, "tenant/base", tag, "--all")

    accept = f"{INDEX_MEDIA_TYPE}, {MANIFEST_MEDIA_TYPE}"
    digest, index = _registry_get(docker_registry, f"tenant/base/manifests/{tag}", accept)
    assert (digest, index["mediaType"]) == (multiarch_line.result.digest, INDEX_MEDIA_TYPE)
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "arm64")}
    for entry in index["manifests"]:  # each platform's manifest is served under its digest
        child_digest, child = _registry_get(
            docker_registry, f"tenant/base/manifests/{entry['digest']}", MANIFEST_MEDIA_TYPE
        )
        assert (child_digest, child["mediaType"]) == (entry["digest"], MANIFEST_MEDIA_TYPE)

    arm = json.loads(
        _run("skopeo", "inspect", "--tls-verify=false", "--override-arch", "arm64", target)
    )
    assert arm["Architecture"] == "arm64"
    # podman picks this machine's platform out of the index.
    image = target.removeprefix("docker://")
    podman("pull", "--quiet", "--tls-verify=false", image)
    assert podman("image", "inspect", "--format", "{{.Architecture}}", image).strip() == "amd64"
