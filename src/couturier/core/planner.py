"""Plan one image line: which packages the starter brings and which the additions bring.

The starter's set is resolved alone first (its base packages, the line's primary package and the
line's extra packages); then the added packages are resolved *with every starter package pinned
to the version the starter chose*, so the starter's packages, and therefore its layer, are the
same in every private image of that line. Only when no such solution exists are the starter's
versions let go (the plan says so, and its starter layer will differ from the starter image's).

``<family>-auto`` requests are turned into a concrete member per line first
(:func:`couturier.core.families.choose_member`, with the starter's packages as they were
resolved); a line where no member fits installs nothing for it, and the plan records the auto
request with no member.

Pure: reads the catalog handed to it. Raises what :func:`resolve` raises.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from couturier.core.catalog import Catalog, Package
from couturier.core.families import FamilyIndexes, auto_family, choose_member
from couturier.core.relations import Relation, parse_request
from couturier.core.resolver import Resolution, resolve
from couturier.core.starter import ImageLine, Starter
from couturier.errors import ResolutionError

__all__ = ["LinePlan", "plan_line", "split_requests", "starter_requests", "starter_resolution"]


@dataclass(frozen=True)
class LinePlan:
    """The resolved packages of one line on one architecture.

    ``starter`` and ``added`` are disjoint and sorted by name; ``reasons`` maps every package to
    the package that pulled it in (None for a request); ``pinned`` tells whether the starter's
    versions were kept; ``autos`` maps each ``-auto`` request to the member chosen for this line
    (None when no member fits: nothing is installed for it).
    """

    line: ImageLine
    architecture: str
    starter: tuple[Package, ...]
    added: tuple[Package, ...]
    reasons: Mapping[str, str | None]
    pinned: bool = True
    autos: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def packages(self) -> tuple[Package, ...]:
        return self.starter + self.added

    def chain_root(self, name: str) -> str:
        """The package at the top of ``name``'s chain of reasons: the request (of the starter or
        the user) that pulled it in, ``name`` itself for a request.

        Cost: the length of the chain.
        """
        seen = {name}
        while (parent := self.reasons.get(name)) is not None and parent not in seen:
            seen.add(parent)
            name = parent
        return name

    def requested_by(self, name: str) -> str | None:
        """The user's request that brought ``name`` in: an added name itself, or the spec
        entry (``python3-requests-auto`` for its member) at the root of ``name``'s reasons; None
        for a starter package.

        Cost: the length of the chain of reasons.
        """
        if name not in self.reasons or any(p.name == name for p in self.starter):
            return None
        name = self.chain_root(name)
        for request, member in self.autos.items():
            if member == name:
                return request
        return name

    def primary(self) -> Package:
        """The line's primary package (its version names the line's full version)."""
        for package in self.starter:
            if package.name == self.line.primary:
                return package
        raise AssertionError(f"{self.line.primary} is not in the plan")  # resolve guarantees it


def starter_requests(starter: Starter, line: ImageLine) -> list[Relation]:
    """What the starter asks for on ``line``: base packages, primary package, line packages."""
    return [parse_request(name) for name in line.package_set(starter)]


def split_requests(packages: Sequence[str]) -> tuple[list[Relation], list[str]]:
    """Split a spec's package entries into plain requests (``name``, ``name=version``) and
    ``<family>-auto`` requests, keeping the order of each."""
    plain: list[Relation] = []
    autos: list[str] = []
    for text in packages:
        if auto_family(text.strip()) is not None:
            autos.append(text.strip())
        else:
            plain.append(parse_request(text))
    return plain, autos


def starter_resolution(catalog: Catalog, starter: Starter, line: ImageLine) -> Resolution:
    """The resolution of ``line``'s starter set on ``catalog``: what every plan of the line
    starts from. Raises what :func:`resolve` raises."""
    return resolve(catalog, starter_requests(starter, line))


def plan_line(
    catalog: Catalog,
    starter: Starter,
    line: ImageLine,
    added: Sequence[Relation] = (),
    autos: Sequence[str] = (),
    *,
    indexes: FamilyIndexes | None = None,
    base: Resolution | None = None,
    choices: MutableMapping[str, Package | None] | None = None,
) -> LinePlan:
    """Resolve ``line`` of ``starter`` with the ``added`` requests and the ``autos``
    (``<family>-auto`` names) on ``catalog``.

    ``indexes`` keeps the catalog's family index for the autos (the caller's, else one made
    for this call); ``base`` is the starter set's resolution on ``catalog``
    (:func:`starter_resolution`) when the caller keeps it for many plans of one line (a
    refresh re-planning many images); ``choices`` (family → the member chosen, or None)
    keeps the choices of this line on ``catalog`` with ``base`` across plans (a member's fit
    depends on nothing else). Cost: two resolutions (one given ``base``), plus one
    per auto member tried (none for a family in ``choices``). Raises
    :class:`ResolutionError` / :class:`NotFoundError` when the starter set or the additions
    cannot be installed; the message names the package.
    """
    if base is None:
        base = starter_resolution(catalog, starter, line)
    labels = [other.version for other in starter.lines]
    chosen: dict[str, str | None] = {}
    members: list[Relation] = []
    if autos and indexes is None:
        indexes = FamilyIndexes()  # one for every auto of this line
    for request in autos:
        family = auto_family(request)
        assert family is not None  # split_requests sorted it here
        if choices is not None and family in choices:
            member = choices[family]
        else:
            member = choose_member(catalog, family, line, labels, base.packages, indexes=indexes)
            if choices is not None:
                choices[family] = member
        chosen[request] = member.name if member is not None else None
        if member is not None:
            members.append(Relation(member.name, "=", member.version))
    added = [*added, *members]
    if not added:
        return LinePlan(line, catalog.architecture, base.packages, (), base.reasons, autos=chosen)
    pins = [Relation(p.name, "=", p.version) for p in base.packages]
    pinned = True
    try:
        full = resolve(catalog, [*pins, *added])
    except ResolutionError:
        # Perhaps an addition needs a newer starter package: let the versions go, but explain
        # the additions' own failure if even that does not help.
        full = resolve(catalog, [*starter_requests(starter, line), *added])
        pinned = False
    starter_names = {p.name for p in base.packages}
    ours = tuple(p for p in full.packages if p.name in starter_names)
    theirs = tuple(p for p in full.packages if p.name not in starter_names)
    reasons = dict(full.reasons)
    for package in ours:  # a pin is not a request of the user's; keep the starter's reasons
        reasons[package.name] = base.reasons.get(package.name)
    return LinePlan(line, catalog.architecture, ours, theirs, reasons, pinned, chosen)
