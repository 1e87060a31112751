"""SLSA provenance v1 of a built line: what was asked, from what, by whom, when.

The predicate follows https://slsa.dev/spec/v1.0/provenance: ``buildDefinition`` holds the
``buildType``, the ``externalParameters`` a user chose (the spec: name, starter, packages as
written, env, bundles; the line and architecture), the ``internalParameters`` Couturier chose
(the release), and ``resolvedDependencies``: every index snapshot the line was planned from
(by its sha256) and every installed package (a ``pkg:deb`` purl with the ``.deb``'s sha256
from the index). ``runDetails`` names the builder (``couturier`` and its version) and the
build: its trace ID as the invocation ID and its date.

Pure: the values come in, a JSON-ready mapping goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from couturier.core.sbom import deb_purl

__all__ = [
    "BUILDER_ID",
    "BUILD_TYPE",
    "SLSA_PROVENANCE_V1",
    "BuiltPackage",
    "LineProvenance",
    "slsa_provenance",
]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://couturier.dev/build/line/v1"
BUILDER_ID = "https://couturier.dev/builder"


@dataclass(frozen=True)
class BuiltPackage:
    """One installed package: name, version, architecture and its ``.deb``'s sha256 (hex)."""

    name: str
    version: str
    architecture: str
    sha256: str


@dataclass(frozen=True)
class LineProvenance:
    """What the provenance of one line's image says. ``build_date`` is RFC 3339."""

    spec: Mapping[str, Any]
    starter: str
    line: str
    release: str
    architectures: Sequence[str]
    snapshots: Sequence[str]
    packages: Sequence[BuiltPackage]
    build_date: str
    trace_id: str
    builder_version: str
    distro: str = "debian"
    extra: Mapping[str, str] = field(default_factory=dict)


def slsa_provenance(facts: LineProvenance) -> dict[str, Any]:
    """The SLSA provenance v1 predicate of ``facts`` (JSON-ready; dependencies sorted, so the
    same facts give the same bytes)."""
    snapshots = [
        {"name": "index snapshot", "digest": {"sha256": digest}}
        for digest in sorted(set(facts.snapshots))
    ]
    packages = [
        {
            "uri": deb_purl(
                package.name, package.version, package.architecture, facts.release, facts.distro
            ),
            "name": package.name,
            "digest": {"sha256": package.sha256},
        }
        for package in sorted(facts.packages, key=lambda p: (p.name, p.architecture, p.version))
    ]
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "spec": dict(facts.spec),
                "starter": facts.starter,
                "line": facts.line,
                "architectures": list(facts.architectures),
            },
            "internalParameters": {"release": facts.release, **facts.extra},
            "resolvedDependencies": snapshots + packages,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"couturier": facts.builder_version}},
            "metadata": {
                "invocationId": facts.trace_id,
                "startedOn": facts.build_date,
                "finishedOn": facts.build_date,
            },
        },
    }
