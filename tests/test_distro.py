"""Source-aware metadata: purls, SBOM ``distro`` and ``/etc/os-release`` follow the package source.

Built end to end on signed fixture repositories whose ``InRelease`` says ``Origin: Ubuntu`` (or
``Debian``), and on one whose vendor only the settings declare; the purls are checked with
``packageurl-python`` (an oracle no one here wrote).
"""

from __future__ import annotations

import datetime as dt
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packageurl import PackageURL

from couturier.core.distro import DEBIAN, Distro, distro_of, vendor_of
from couturier.core.sbom import deb_purl
from couturier.core.starter import Starter, parse_starter
from couturier.debian.index import release_distro
from couturier.oci.layout import Layout
from couturier.services.build import BuildResult, ImageRequest, build
from couturier.services.context import build_context
from couturier.settings import Settings, load_settings
from tests.debs import Content, File, build_suites
from tests.fixture_repo import SigningKey, build_repo
from tests.test_sbom import validate_cyclonedx, validate_spdx

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DATE = 1_600_000_000
SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
STARTER_DOC: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny fixture starter",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/tool"],
    "lines": [{"version": "1", "release": "jammy", "primary": "tool", "eol": "2031-01-01"}],
}


def _copyright(name: str) -> dict[str, Content]:
    return {f"usr/share/doc/{name}/copyright": f"{name}: public domain\n"}


PACKAGES: dict[str, list[tuple[dict[str, str], dict[str, Content], int]]] = {
    "jammy": [
        (
            {"Package": "base-files", "Version": "12ubuntu4"},
            {"etc/issue": "Tiny fixture\n", **_copyright("base-files")},
            DATE,
        ),
        (
            {"Package": "tool", "Version": "1.4-1ubuntu1", "Source": "toolsrc"},
            {"usr/bin/tool": File(b"#!/bin/sh\necho tool\n", 0o755), **_copyright("tool")},
            DATE,
        ),
    ]
}


# -- the rules ---------------------------------------------------------------------------------


def test_vendor_comes_from_settings_then_origin_then_debian() -> None:
    assert distro_of(None, "Ubuntu", "jammy", "22.04") == Distro(
        "ubuntu", "Ubuntu", "jammy", "22.04"
    )
    assert distro_of("", "Debian", "bookworm") == Distro("debian", "Debian", "bookworm")
    assert distro_of("ubuntu", "Couturier fixture", "noble").vendor == "ubuntu"
    assert distro_of("Acme", "", "stable") == Distro("acme", "Acme", "stable")
    assert distro_of(None, "", "bookworm") == Distro("debian", "Debian", "bookworm")
    assert vendor_of("Couturier fixture") == "couturier-fixture"
    assert vendor_of("  ") == ""


def test_purl_and_os_release_of_a_distribution() -> None:
    ubuntu = Distro("ubuntu", "Ubuntu", "jammy", "22.04")
    assert ubuntu.purl_distro() == "ubuntu-jammy"
    purl = deb_purl("libc6", "2.35-0ubuntu3", "amd64", "jammy", "ubuntu")
    assert purl == "pkg:deb/ubuntu/libc6@2.35-0ubuntu3?arch=amd64&distro=ubuntu-jammy"
    assert PackageURL.from_string(purl).to_string() == purl
    assert ubuntu.os_release() == {
        "PRETTY_NAME": "Ubuntu 22.04 (jammy)",
        "NAME": "Ubuntu",
        "ID": "ubuntu",
        "ID_LIKE": "debian",
        "VERSION_ID": "22.04",
        "VERSION_CODENAME": "jammy",
    }
    assert DEBIAN.os_release() == {"PRETTY_NAME": "Debian", "NAME": "Debian", "ID": "debian"}
    # Unchanged for Debian: the default vendor.
    assert deb_purl("libc6", "2.36-9", "arm64", "bookworm") == (
        "pkg:deb/debian/libc6@2.36-9?arch=arm64&distro=debian-bookworm"
    )


# -- end to end ------------------------------------------------------------------------------------


def _repo(root: Path, key: SigningKey, origin: str, version: str = "") -> Path:
    suites = build_suites(root / "pool" / "main", PACKAGES)
    return build_repo(root, suites, key=key, arch=("amd64",), origin=origin, version=version)


def _settings(
    directory: Path,
    repo: Path,
    key: SigningKey,
    vendor: str | None = None,
    cache: Path | None = None,
) -> Settings:
    mirror: dict[str, Any] = {"url": repo.resolve().as_uri(), "keyring": str(key.keyring)}
    if vendor is not None:
        mirror["vendor"] = vendor
    body = {
        "data_dir": str(directory / "data"),
        "cache_dir": str(cache or directory / "cache"),
        "architectures": ["amd64"],
        "mirrors": {"fixture": mirror},
        "releases": {"jammy": {"suites": [{"mirror": "fixture", "suite": "jammy"}]}},
    }
    path = directory / "couturier.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_settings(path, env={})


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_distro.py", releases=("jammy",))


def _build(settings: Settings, starter: Starter, output: Path) -> BuildResult:
    result = build(build_context(settings, output=output, now=NOW), ImageRequest(starter, "tiny"))
    assert result.status == "created", result.to_json()
    return result


def _sboms(output: Path, digest: str) -> dict[str, dict[str, Any]]:
    layout = Layout(output)
    return {
        kind: json.loads(layout.read_artifact(layout.referrers(digest, kind)[0]))
        for kind in (SPDX, CYCLONEDX)
    }


def _purls(sboms: dict[str, dict[str, Any]]) -> list[str]:
    spdx = [
        ref["referenceLocator"]
        for package in sboms[SPDX]["packages"]
        for ref in package.get("externalRefs", [])
        if ref["referenceLocator"].startswith("pkg:deb/")
    ]
    cdx = [c["purl"] for c in sboms[CYCLONEDX]["components"] if "purl" in c]
    cdx += [
        a["purl"]
        for c in sboms[CYCLONEDX]["components"]
        for a in c.get("pedigree", {}).get("ancestors", [])
    ]
    return spdx + cdx


def _os_release(output: Path) -> str:
    layout = Layout(output)
    for layer in reversed(layout.manifest("latest")["layers"]):
        with tarfile.open(layout.blob_path(layer["digest"]), "r:gz") as tar:
            for info in tar.getmembers():
                if info.name.removeprefix("./").strip("/") == "usr/lib/os-release":
                    handle = tar.extractfile(info)
                    assert handle is not None
                    return handle.read().decode()
    raise AssertionError("no usr/lib/os-release in the image")


def test_an_ubuntu_source_gives_ubuntu_purls_and_os_release(
    tmp_path: Path, signing_key: SigningKey, starter: Starter
) -> None:
    repo = _repo(tmp_path / "repo", signing_key, "Ubuntu", "22.04")
    settings = _settings(tmp_path, repo, signing_key)
    result = _build(settings, starter, tmp_path / "out")
    assert release_distro(settings, "jammy", "amd64") == Distro(
        "ubuntu", "Ubuntu", "jammy", "22.04"
    )

    sboms = _sboms(tmp_path / "out", result.lines[0].digest)
    assert validate_spdx(sboms[SPDX], tmp_path) == []
    assert validate_cyclonedx(sboms[CYCLONEDX]) is None
    purls = _purls(sboms)
    assert len(purls) == 6  # two packages in SPDX; two and their two sources in CycloneDX
    for purl in purls:
        parsed = PackageURL.from_string(purl)
        assert (parsed.type, parsed.namespace) == ("deb", "ubuntu"), purl
        assert parsed.qualifiers["distro"] == "ubuntu-jammy", purl
    assert "pkg:deb/ubuntu/toolsrc@1.4-1ubuntu1?arch=source&distro=ubuntu-jammy" in purls
    image = sboms[SPDX]["packages"][0]
    assert image["comment"] == "tiny line 1, built from Ubuntu jammy for amd64"
    facts = {p["name"]: p["value"] for p in sboms[CYCLONEDX]["metadata"]["component"]["properties"]}
    assert facts["couturier:distro"] == "ubuntu-jammy"

    # base-files ships no os-release here: Couturier writes the source's facts.
    assert _os_release(tmp_path / "out") == (
        'PRETTY_NAME="Ubuntu 22.04 (jammy)"\nNAME="Ubuntu"\nID="ubuntu"\nID_LIKE="debian"\n'
        'VERSION_ID="22.04"\nVERSION_CODENAME="jammy"\n'
    )


def test_the_settings_vendor_wins_over_the_origin(
    tmp_path: Path, signing_key: SigningKey, starter: Starter
) -> None:
    repo = _repo(tmp_path / "repo", signing_key, "Couturier fixture")
    settings = _settings(tmp_path, repo, signing_key, vendor="ubuntu")
    result = _build(settings, starter, tmp_path / "out")
    purls = _purls(_sboms(tmp_path / "out", result.lines[0].digest))
    assert purls and all(p.startswith("pkg:deb/ubuntu/") for p in purls)
    assert all(p.endswith("distro=ubuntu-jammy") for p in purls)
    assert 'ID="ubuntu"\n' in _os_release(tmp_path / "out")


def test_a_debian_source_keeps_debian_purls_and_layers_differ_by_source(
    tmp_path: Path, signing_key: SigningKey, starter: Starter
) -> None:
    debian_repo = _repo(tmp_path / "debian-repo", signing_key, "Debian", "12.8")
    ubuntu_repo = _repo(tmp_path / "ubuntu-repo", signing_key, "Ubuntu", "22.04")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cache = tmp_path / "cache"  # one layer cache for both machines
    debian_settings = _settings(tmp_path / "a", debian_repo, signing_key, cache=cache)
    debian = _build(debian_settings, starter, tmp_path / "d")
    purls = _purls(_sboms(tmp_path / "d", debian.lines[0].digest))
    assert purls and all(p.startswith("pkg:deb/debian/") for p in purls)
    assert all(p.endswith("distro=debian-jammy") for p in purls)
    assert 'ID="debian"\n' in _os_release(tmp_path / "d")
    assert "ID_LIKE" not in _os_release(tmp_path / "d")
    # The same packages from another source: the generated layer (os-release) is not reused.
    ubuntu_settings = _settings(tmp_path / "b", ubuntu_repo, signing_key, cache=cache)
    ubuntu = _build(ubuntu_settings, starter, tmp_path / "u")
    assert ubuntu.lines[0].digest != debian.lines[0].digest
    assert 'ID="ubuntu"\n' in _os_release(tmp_path / "u")
