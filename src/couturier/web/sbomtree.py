"""An SBOM as the image page shows it: a tree of the starter's packages, the added packages,
and under each added package what it pulled in.

Read from the line's CycloneDX document as ``GET /v1/images/{t}/{n}/lines/{l}/sbom?format=
cyclonedx`` serves it (:func:`couturier.core.sbom.cyclonedx_document`): each component's
properties ``couturier:group`` (``starter`` or ``added``), ``couturier:status``
(``installed`` or ``skipped``), ``couturier:pulled-in-by`` (the requested package whose
dependencies brought it in) and ``couturier:requested-as`` (the ``-auto`` request it is the
chosen member of).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SbomEntry", "SbomTree", "sbom_tree"]

_PROPERTY = "couturier:"


@dataclass
class SbomEntry:
    """One package: name, version (None for a skipped ``-auto``), status, the ``-auto``
    request it answers, and the packages it pulled in (added packages only)."""

    name: str
    version: str | None
    status: str
    requested_as: str | None = None
    pulled_in: list[SbomEntry] = field(default_factory=list)


@dataclass(frozen=True)
class SbomTree:
    """The starter's packages and the added ones (each with what it pulled in), by name."""

    starter: list[SbomEntry]
    added: list[SbomEntry]

    @property
    def pulled_in_count(self) -> int:
        return sum(len(entry.pulled_in) for entry in self.added)


def _facts(component: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(item.get("name", "")).removeprefix(_PROPERTY): str(item.get("value", ""))
        for item in component.get("properties") or ()
        if str(item.get("name", "")).startswith(_PROPERTY)
    }


def sbom_tree(document: Mapping[str, Any]) -> SbomTree:
    """The tree of a CycloneDX document of Couturier. A package pulled in by a package that is
    not in the document (which Couturier does not write) is listed as added at the top."""
    starter: list[SbomEntry] = []
    added: dict[str, SbomEntry] = {}
    parents: list[tuple[str, SbomEntry]] = []
    for component in document.get("components") or ():
        facts = _facts(component)
        version = component.get("version")
        entry = SbomEntry(
            name=str(component.get("name", "")),
            version=str(version) if version is not None else None,
            status=facts.get("status", "installed"),
            requested_as=facts.get("requested-as"),
        )
        if facts.get("group") == "starter":
            starter.append(entry)
        elif "pulled-in-by" in facts:
            parents.append((facts["pulled-in-by"], entry))
        else:
            added[entry.name] = entry
    # an -auto request is named by its request or by the member chosen for it
    by_request = {e.requested_as: e for e in added.values() if e.requested_as}
    for parent, entry in parents:
        owner = added.get(parent) or by_request.get(parent)
        if owner is None:
            added[entry.name] = entry
        else:
            owner.pulled_in.append(entry)
    for entry in added.values():
        entry.pulled_in.sort(key=lambda e: e.name)
    return SbomTree(
        sorted(starter, key=lambda e: e.name), sorted(added.values(), key=lambda e: e.name)
    )
