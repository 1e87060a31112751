"""SBOMs of a line image: SPDX 2.3 and CycloneDX 1.6, checked by the formats' own validators.

The packages are real ``.deb`` files (``dpkg-deb --build``) with DEP-5 copyright files; the plan
comes from the real planner on a catalog of their control stanzas, the licenses from the real
assembled tree, and the package list is compared with what ``dpkg-query`` reads from the dpkg
database the build writes. Oracles: ``spdx-tools`` (parser + full validation),
``cyclonedx-python-lib`` (strict JSON schema validation), ``packageurl-python`` (purls),
``license-expression`` via spdx-tools (every SPDX id the license mapping produces).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from couturier.assembly import licenses as licenses_module
from couturier.assembly.assemble import Assembly, assemble
from couturier.assembly.deb import DebContents, read_deb
from couturier.assembly.dpkgdb import dpkg_database
from couturier.assembly.licenses import copyright_license, package_licenses, spdx_license
from couturier.core.catalog import MemoryCatalog, Package
from couturier.core.entries import EntryType
from couturier.core.planner import LinePlan, plan_line
from couturier.core.relations import parse_request
from couturier.core.sbom import (
    SbomImage,
    SbomPackage,
    cyclonedx_document,
    deb_purl,
    normalize_license,
    sbom_json,
    sbom_packages,
    spdx_document,
)
from couturier.core.starter import Starter, full_version, parse_starter
from tests.debs import Content, Link, build_deb

EPOCH = 1_700_000_000
DIGEST = "sha256:" + "ab" * 32


def dep5(*paragraphs: tuple[str, str], header_license: str | None = None) -> str:
    """A machine-readable copyright file: (Files pattern or "" for a standalone License, name)."""
    lines = ["Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"]
    if header_license:
        lines.append(f"License: {header_license}")
    text = "\n".join(lines) + "\n"
    for files, name in paragraphs:
        head = f"Files: {files}\nCopyright: 2024 Someone\n" if files else ""
        text += f"\n{head}License: {name}\n the license text\n .\n goes here\n"
    return text


def doc(name: str, text: str) -> dict[str, Content]:
    return {f"usr/share/doc/{name}/copyright": text, f"usr/share/doc/{name}/README": "dropped\n"}


# (control fields, files): the starter (base-files, tool, libfoo1, libfoo-common), an added
# package with a two-level chain (fetcher → libfetch4 → libx++1), an auto member (tool1-ext).
PACKAGES: list[tuple[dict[str, str], dict[str, Content]]] = [
    (
        {"Package": "base-files", "Version": "12.4+deb12u5", "Architecture": "amd64"},
        {"etc/issue": "Debian\n", **doc("base-files", dep5(("*", "GPL-2+")))},
    ),
    (
        {
            "Package": "tool",
            "Version": "1:2.0-1",
            "Architecture": "amd64",
            "Source": "toolsrc (1:2.0-1)",
            "Depends": "libfoo1",
            "Description": "the line's tool\n with a long description",
        },
        {
            "bin/tool": b"#!/bin/sh\n",
            **doc(
                "tool",
                dep5(("*", "Expat"), ("lib/*", "BSD-3-clause"), ("", "Expat")),
            ),
        },
    ),
    (
        {
            "Package": "libfoo1",
            "Version": "1.0-1",
            "Architecture": "amd64",
            "Source": "libfoo",
            "Depends": "libfoo-common",
        },
        {
            "lib/x86_64-linux-gnu/libfoo.so.1": b"\x7fELF\n",
            "usr/share/doc/libfoo1": Link("libfoo-common"),  # Debian shares doc directories
        },
    ),
    (
        {"Package": "libfoo-common", "Version": "1.0-1", "Source": "libfoo"},
        doc("libfoo-common", dep5(("*", "GPL-2+ with OpenSSL exception"))),
    ),
    (
        {"Package": "fetcher", "Version": "7.0-1", "Architecture": "amd64", "Depends": "libfetch4"},
        {"usr/bin/fetcher": b"#!/bin/sh\n", **doc("fetcher", dep5(("*", "curl")))},
    ),
    (
        {
            "Package": "libfetch4",
            "Version": "7.0-1",
            "Architecture": "amd64",
            "Source": "fetcher",
            "Depends": "libx++1 (>= 0.9~), libfoo1",
        },
        {
            "usr/lib/libfetch.so.4": b"\x7fELF\n",
            **doc("libfetch4", "This package is free software; see the GPL.\n"),
        },
    ),
    (
        {"Package": "libx++1", "Version": "0.9~rc1-2", "Architecture": "amd64"},
        {"usr/lib/libx++.so.1": b"\x7fELF\n", **doc("libx++1", dep5(("*", "public-domain")))},
    ),
    (
        {"Package": "tool1-ext", "Version": "1.0-1", "Architecture": "amd64", "Depends": "tool"},
        {"usr/lib/tool/ext.so": b"\x7fELF\n", **doc("tool1-ext", dep5(("*", "Apache-2.0")))},
    ),
]

STARTER_DOC: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny fixture starter",
    "packages": ["base-files"],
    "lines": [{"version": "1", "release": "bookworm", "primary": "tool", "eol": "2031-01-01"}],
}


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DebContents]:
    out = tmp_path_factory.mktemp("sbom-debs")
    read = [read_deb(build_deb(out, control, files)) for control, files in PACKAGES]
    return {deb.name: deb for deb in read}


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "tiny.yaml", ("bookworm",))


@pytest.fixture(scope="module")
def plan(debs: dict[str, DebContents], starter: Starter) -> LinePlan:
    catalog = MemoryCatalog([Package(d.control) for d in debs.values()], "bookworm", "amd64")
    added = [parse_request("fetcher")]
    return plan_line(catalog, starter, starter.lines[0], added, ["tool-ext-auto", "frob-auto"])


@pytest.fixture(scope="module")
def assembly(debs: dict[str, DebContents], plan: LinePlan) -> Assembly:
    return assemble([debs[p.name] for p in (*plan.starter, *plan.added)])


@pytest.fixture(scope="module")
def image(plan: LinePlan, assembly: Assembly) -> SbomImage:
    packages = sbom_packages(plan, package_licenses(assembly))
    return SbomImage(
        name="53/sbom-demo",
        line=plan.line.version,
        full_version=full_version(plan.primary().version, plan.line.version),
        release=plan.line.release,
        architecture=plan.architecture,
        image_digest=DIGEST,
        created=EPOCH,
        packages=packages,
        starter="tiny",
        tool_version="1.2.3",
    )


def by_name(packages: Any, key: str = "name") -> dict[str, Any]:
    return {p[key]: p for p in packages}


# -- the package list ------------------------------------------------------------------------------


def test_licenses_come_from_the_copyright_files(assembly: Assembly) -> None:
    assert package_licenses(assembly) == {
        "base-files": "GPL-2.0-or-later",
        "tool": "MIT AND BSD-3-Clause",
        "libfoo1": "LicenseRef-GPL-2-plus-with-OpenSSL-exception",  # via the doc dir link
        "libfoo-common": "LicenseRef-GPL-2-plus-with-OpenSSL-exception",
        "fetcher": "curl",
        "libfetch4": None,  # not machine-readable: we do not guess
        "libx++1": "LicenseRef-public-domain",
        "tool1-ext": "Apache-2.0",
    }


def test_packages_say_their_group_and_who_pulled_them_in(image: SbomImage) -> None:
    packages = {p.name: p for p in image.packages}
    assert [p.name for p in image.packages] == [
        "base-files",
        "libfoo-common",
        "libfoo1",
        "tool",
        "fetcher",
        "libfetch4",
        "libx++1",
        "tool1-ext",
        "frob-auto",
    ]
    starter = {n for n, p in packages.items() if p.group == "starter"}
    assert starter == {"base-files", "tool", "libfoo1", "libfoo-common"}
    assert packages["libfoo-common"].pulled_in_by == "tool"  # tool → libfoo1 → libfoo-common
    assert packages["libfoo-common"].required_by == "libfoo1"
    assert packages["fetcher"].pulled_in_by is None
    assert packages["libx++1"].pulled_in_by == "fetcher"
    assert packages["libx++1"].required_by == "libfetch4"
    assert packages["tool1-ext"].requested_as == "tool-ext-auto"
    assert packages["tool1-ext"].pulled_in_by is None
    tool = packages["tool"]
    assert (tool.version, tool.source, tool.source_version) == ("1:2.0-1", "toolsrc", "1:2.0-1")
    assert tool.summary == "the line's tool"
    assert packages["libfetch4"].source == "fetcher"
    skipped = packages["frob-auto"]
    assert (skipped.version, skipped.status, skipped.group) == (None, "skipped", "added")
    assert skipped.summary == (
        "Universal package for frob - automatically detects and installs a compatible version"
    )


def test_sbom_lists_exactly_the_packages_dpkg_sees(
    image: SbomImage, assembly: Assembly, tmp_path: Path
) -> None:
    for entry in dpkg_database(assembly):
        target = tmp_path / entry.path
        if entry.type is EntryType.DIRECTORY:
            target.mkdir(parents=True, exist_ok=True)
        elif entry.type is EntryType.FILE:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)
    admindir = tmp_path / "var/lib/dpkg"
    query = ["dpkg-query", f"--admindir={admindir}", "-W", "-f", "${Package} ${Version}\\n"]
    listed = subprocess.run(query, check=True, capture_output=True, text=True).stdout
    dpkg = {tuple(line.split(" ")) for line in listed.splitlines()}
    spdx = spdx_document(image)
    installed = {
        (p["name"], p["versionInfo"])
        for p in spdx["packages"]
        if p["SPDXID"] != "SPDXRef-Image"
        if "versionInfo" in p
    }
    cdx = cyclonedx_document(image)
    components = {(c["name"], c["version"]) for c in cdx["components"] if "version" in c}
    assert installed == components == dpkg
    assert len(dpkg) == 8


# -- SPDX ------------------------------------------------------------------------------------------


def validate_spdx(document: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "image.spdx.json"
    path.write_bytes(sbom_json(document))
    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]


def test_spdx_document_validates_and_says_everything(image: SbomImage, tmp_path: Path) -> None:
    document = spdx_document(image)
    assert validate_spdx(document, tmp_path) == []
    parsed = parse_file(str(tmp_path / "image.spdx.json"))
    assert parsed.creation_info.spdx_version == "SPDX-2.3"
    assert parsed.creation_info.created.isoformat() == "2023-11-14T22:13:20"
    assert [str(c).split("-")[0] for c in parsed.creation_info.creators] == ["Tool: couturier"]
    assert len(parsed.packages) == 10  # the image and nine packages

    packages = by_name(document["packages"])
    assert packages["53/sbom-demo"]["primaryPackagePurpose"] == "CONTAINER"
    tool = packages["tool"]
    assert tool["versionInfo"] == "1:2.0-1"
    assert tool["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/tool@1:2.0-1?arch=amd64&distro=debian-bookworm",
        }
    ]
    assert tool["sourceInfo"] == "built from Debian source package toolsrc 1:2.0-1"
    assert tool["licenseDeclared"] == "MIT AND BSD-3-Clause"
    assert packages["libfetch4"]["licenseDeclared"] == "NOASSERTION"
    assert packages["libx++1"]["SPDXID"] == "SPDXRef-Package-deb-libx-1"
    assert packages["libx++1"]["comment"] == "added package, pulled in by fetcher"
    notes = {a["comment"] for a in packages["libx++1"]["annotations"]}
    assert notes == {
        "couturier:group=added",
        "couturier:status=installed",
        "couturier:pulled-in-by=fetcher",
    }
    assert packages["libfoo1"]["comment"] == "starter package, pulled in by tool"
    assert packages["tool1-ext"]["comment"] == "added package, requested as tool-ext-auto"

    skipped = packages["frob-auto"]
    assert "versionInfo" not in skipped and "externalRefs" not in skipped
    assert skipped["comment"].startswith("skipped: no member of frob fits this line")
    assert "couturier:status=skipped" in {a["comment"] for a in skipped["annotations"]}

    extracted = by_name(document["hasExtractedLicensingInfos"], "licenseId")
    assert set(extracted) == {
        "LicenseRef-GPL-2-plus-with-OpenSSL-exception",
        "LicenseRef-public-domain",
    }
    assert (
        "/usr/share/doc/libx++1/copyright" in extracted["LicenseRef-public-domain"]["extractedText"]
    )

    ids = {p["SPDXID"]: p["name"] for p in document["packages"]}
    relations = {
        (
            ids.get(r["spdxElementId"], r["spdxElementId"]),
            r["relationshipType"],
            ids[r["relatedSpdxElement"]],
        )
        for r in document["relationships"]
    }
    contained = {right for left, kind, right in relations if kind == "CONTAINS"}
    assert contained == {n for n in packages if n not in ("53/sbom-demo", "frob-auto")}
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "53/sbom-demo") in relations
    assert ("53/sbom-demo", "OTHER", "frob-auto") in relations
    assert ("libfetch4", "DEPENDS_ON", "libx++1") in relations
    assert ("fetcher", "DEPENDS_ON", "libfetch4") in relations


def test_spdx_validator_catches_an_undeclared_license_ref(image: SbomImage, tmp_path: Path) -> None:
    """The oracle can fail: without the extracted licensing infos the document is invalid."""
    document = spdx_document(image)
    del document["hasExtractedLicensingInfos"]
    messages = validate_spdx(document, tmp_path)
    assert any("LicenseRef-public-domain" in m for m in messages)


# -- CycloneDX -------------------------------------------------------------------------------------


def validate_cyclonedx(document: dict[str, Any]) -> object:
    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom_json(document).decode())


def test_cyclonedx_document_validates_and_says_everything(image: SbomImage) -> None:
    document = cyclonedx_document(image)
    assert validate_cyclonedx(document) is None
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert document["metadata"]["tools"]["components"][0]["name"] == "couturier"
    root = document["metadata"]["component"]
    assert (root["type"], root["name"], root["bom-ref"]) == ("container", "53/sbom-demo", "image")
    assert root["purl"] == f"pkg:oci/sbom-demo@{DIGEST}?arch=amd64&tag={image.full_version}"

    components = by_name(document["components"])
    fetch = components["libfetch4"]
    assert fetch["purl"] == "pkg:deb/debian/libfetch4@7.0-1?arch=amd64&distro=debian-bookworm"
    assert fetch["pedigree"]["ancestors"][0]["purl"] == (
        "pkg:deb/debian/fetcher@7.0-1?arch=source&distro=debian-bookworm"
    )
    assert "licenses" not in fetch
    assert components["tool"]["licenses"] == [
        {"expression": "MIT AND BSD-3-Clause", "acknowledgement": "declared"}
    ]
    props = {p["name"]: p["value"] for p in components["libx++1"]["properties"]}
    assert props == {
        "couturier:group": "added",
        "couturier:status": "installed",
        "couturier:pulled-in-by": "fetcher",
    }
    assert components["libx++1"]["purl"] == (
        "pkg:deb/debian/libx%2B%2B1@0.9~rc1-2?arch=amd64&distro=debian-bookworm"
    )
    skipped = components["frob-auto"]
    assert "version" not in skipped and "purl" not in skipped
    assert {p["name"]: p["value"] for p in skipped["properties"]}["couturier:status"] == "skipped"

    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert graph["image"] == ["deb:base-files", "deb:fetcher", "deb:tool", "deb:tool1-ext"]
    assert graph["deb:fetcher"] == ["deb:libfetch4"]
    assert graph["deb:libfetch4"] == ["deb:libx++1"]
    assert graph["deb:tool"] == ["deb:libfoo1"]
    assert "deb:frob-auto" not in graph


def test_cyclonedx_validator_catches_a_broken_document(image: SbomImage) -> None:
    document = cyclonedx_document(image)
    document["components"][0]["type"] = "debian-package"
    assert validate_cyclonedx(document) is not None


# -- identity and determinism ----------------------------------------------------------------------


def test_purls_are_canonical_package_urls(image: SbomImage) -> None:
    for package in image.packages:
        if package.version is None:
            continue
        parsed = PackageURL.from_string(package.purl)
        assert (parsed.type, parsed.namespace, parsed.name) == ("deb", "debian", package.name)
        assert parsed.version == package.version
        assert parsed.qualifiers == {"arch": package.architecture, "distro": "debian-bookworm"}
        assert parsed.to_string() == package.purl
    assert deb_purl("libc6", "2.36-9+deb12u4", "arm64") == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=arm64"
    )


def test_same_image_gives_the_same_bytes(image: SbomImage) -> None:
    shuffled = replace(image, packages=tuple(reversed(image.packages)))
    for make in (spdx_document, cyclonedx_document):
        assert sbom_json(make(image)) == sbom_json(make(shuffled))
    spdx, cdx = spdx_document(image), cyclonedx_document(image)
    later = replace(image, created=EPOCH + 1)
    assert spdx_document(later)["documentNamespace"] != spdx["documentNamespace"]
    assert cyclonedx_document(later)["serialNumber"] != cdx["serialNumber"]
    other = replace(image, image_digest="sha256:" + "cd" * 32)
    assert spdx_document(other)["documentNamespace"] != spdx["documentNamespace"]
    assert spdx["documentNamespace"].startswith("https://couturier.invalid/spdx/53-sbom-demo-1-")
    assert sbom_json(spdx).endswith(b"}\n")
    assert json.loads(sbom_json(cdx)) == cdx


def test_a_malformed_license_becomes_one_license_ref(image: SbomImage, tmp_path: Path) -> None:
    assert normalize_license("MIT AND (GPL-2.0-only OR BSD-3-Clause)") == (
        "MIT AND (GPL-2.0-only OR BSD-3-Clause)"
    )
    assert normalize_license("GPL 2 or later, see file") == "LicenseRef-GPL-2-or-later-see-file"
    assert normalize_license("MIT AND") == "LicenseRef-MIT-AND"
    assert normalize_license("   ") is None
    odd = SbomPackage("odd", "1", "all", "odd", "1", "MIT OR (", "added", None, release="bookworm")
    document = spdx_document(replace(image, packages=(*image.packages, odd)))
    assert validate_spdx(document, tmp_path) == []
    assert validate_cyclonedx(cyclonedx_document(replace(image, packages=(odd,)))) is None


def spdx_problems(expression: str) -> list[str]:
    """What spdx-tools' licensing finds wrong with ``expression``, LicenseRef ids allowed."""
    result = spdx_licensing.validate(expression)
    unknown = [s for s in result.invalid_symbols if not s.startswith("LicenseRef-")]
    if not unknown and all(e.startswith("Unknown license key") for e in result.errors):
        return []
    return [*result.errors, *unknown]


# -- license names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("GPLv3+", "GPL-3.0-or-later"),
        ("GPL-3.0-or-later", "GPL-3.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("LGPL-2", "LGPL-2.0-only"),
        ("AGPL-3+", "AGPL-3.0-or-later"),
        ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("bsd-2-clause", "BSD-2-Clause"),
        ("Expat", "MIT"),
        ("Apache-2.0", "Apache-2.0"),
        ("Apache-2", "Apache-2.0"),
        ("PSF-2", "PSF-2.0"),
        ("Zlib", "Zlib"),
        ("ISC", "ISC"),
        ("public-domain", "LicenseRef-public-domain"),
        ("Perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
        ("GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("GPL-3+ with GCC-exception-3.1", "GPL-3.0-or-later WITH GCC-exception-3.1"),
        ("GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"),
        ("GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-plus-with-OpenSSL-exception"),
        ("GPL", "LicenseRef-GPL"),
        ("GPL-4+", "LicenseRef-GPL-4-plus"),
        ("BSD-3-google", "LicenseRef-BSD-3-google"),
        ("Permission to use, copy", "LicenseRef-unnamed"),
    ],
)
def test_debian_license_names_map_to_spdx(name: str, expected: str) -> None:
    assert spdx_license(name) == expected


@pytest.mark.parametrize(
    ("paragraphs", "expected"),
    [
        ([("*", "GPL-2+ or Artistic")], "GPL-2.0-or-later OR Artistic-1.0"),
        (
            [("*", "GPL-1+ or Artistic, and BSD-3-clause")],
            "(GPL-1.0-or-later OR Artistic-1.0) AND BSD-3-Clause",
        ),
        (
            [("*", "LGPL-2.1+"), ("debian/*", "GPL-2+"), ("x/*", "LGPL-2.1+")],
            "LGPL-2.1-or-later AND GPL-2.0-or-later",
        ),
        (
            [("*", "GPL-2+ or Artistic"), ("src/*", "Expat")],
            "(GPL-2.0-or-later OR Artistic-1.0) AND MIT",
        ),
        # standalone License paragraphs count only for names no Files paragraph uses
        (
            [("*", "GPL-2+ or Artistic"), ("", "GPL-2+"), ("", "Artistic")],
            "GPL-2.0-or-later OR Artistic-1.0",
        ),
        ([("*", "Expat"), ("", "Zlib")], "MIT AND Zlib"),
        (
            [("*", "GPL-1+ or Artistic, and BSD-3-clause"), ("x/*", "BSD-3-clause")],
            "(GPL-1.0-or-later OR Artistic-1.0) AND BSD-3-Clause",
        ),
        ([("*", "Perl")], "Artistic-1.0-Perl OR GPL-1.0-or-later"),
        ([("*", "Perl"), ("a/*", "MIT")], "(Artistic-1.0-Perl OR GPL-1.0-or-later) AND MIT"),
        ([("*", "")], "LicenseRef-unnamed"),
    ],
)
def test_copyright_files_give_one_expression(
    paragraphs: list[tuple[str, str]], expected: str
) -> None:
    result = copyright_license(dep5(*paragraphs))
    assert result == expected
    assert spdx_problems(result) == []


def test_copyright_files_that_are_not_machine_readable_say_nothing() -> None:
    assert copyright_license("This is Debian's prepackaged version of foo.\n\nGPL-2.\n") is None
    assert copyright_license("") is None
    header_only = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    assert copyright_license(header_only) is None
    assert copyright_license(dep5(header_license="MIT")) == "MIT"
    old_dep5 = "Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn\n\n"
    assert copyright_license(old_dep5 + "Files: *\nLicense: GPL-2+\n") == "GPL-2.0-or-later"


def test_every_mapped_license_is_on_the_spdx_list() -> None:
    """Oracle: spdx-tools' licensing knows every SPDX id and exception the mapping produces."""
    produced = [*licenses_module._SIMPLE.values()]
    for variants in licenses_module._EXCEPTIONS.values():
        produced += [f"GPL-2.0-or-later WITH {exception}" for exception in variants.values()]
    for family, versions in licenses_module._GNU_VERSIONS.items():
        for version in versions:
            for plus in ("", "+"):
                name = f"{family}-{version}{plus}"
                produced.append(spdx_license(name))
                assert not spdx_license(name).startswith("LicenseRef-"), name
    for expression in produced:
        assert spdx_problems(expression) == [], expression


@pytest.mark.parametrize(
    "text",
    ["1:2.36-9+deb12u4", "libx++1", "a b/c?d#e&f=g%h", "café~1.0_x", "日本", "sha256:ab", ""],
)
def test_purl_encoding_is_urllib_quote_with_the_purl_punctuation(text: str) -> None:
    from urllib.parse import quote

    from couturier.core.sbom import _purl_quote

    assert _purl_quote(text) == quote(text, safe=".-_~:")


def test_the_creator_tool_is_the_version_handed_in(image: SbomImage) -> None:
    assert spdx_document(image)["creationInfo"]["creators"] == ["Tool: couturier-1.2.3"]
    (tool,) = cyclonedx_document(image)["metadata"]["tools"]["components"]
    assert tool == {"type": "application", "name": "couturier", "version": "1.2.3"}
