"""Pick the set of packages that installs a request, the way ``apt-get install`` does.

:func:`resolve` reads a :class:`~couturier.core.catalog.Catalog` and returns a
:class:`Resolution`: one version per package name, every Depends and Pre-Depends satisfied, no
Conflicts or Breaks between any two chosen packages. Recommends and Suggests are not followed.

Order of work mirrors apt's ``pkgDepCache::MarkInstall`` so that, whenever apt finds a set, we find
the same one:

* every requested package is chosen first (apt marks them all before auto-installing), then the
  dependencies of each request are expanded in request order;
* a chosen package's dependencies are handled right away, depth first, in field order
  (Pre-Depends, then Depends);
* a dependency already satisfied by the chosen set (any alternative, real or provided) needs no
  choice;
* otherwise the candidates are tried in apt's order: for each alternative from the left, the real
  package's newest version, then providers' newest versions ordered as apt's ``CompareProviders``
  does (Essential, then ``Important: yes``, then higher Priority, then the name apt would have
  allocated last, approximated by the name in reverse order). Older versions are tried only after
  every newest candidate failed; apt never tries them, we do so by backtracking.

When a choice leads to a clash (a Conflicts/Breaks in either direction, or a dependency nothing
can satisfy) the choice is undone through a trail and the next candidate is tried. The failure
reported when nothing works is the one the search got furthest with, the first one found among
equals, which is the most preferred path explored in depth.

Pure: no I/O; the catalog may be lazy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from couturier.core import explain
from couturier.core.catalog import Catalog, Package
from couturier.core.relations import Dependency, Relation
from couturier.core.suggest import close_names, did_you_mean
from couturier.errors import Code, NotFoundError, ResolutionError

__all__ = ["Resolution", "resolve"]

_SPELLING_HINT = "check the spelling"


@dataclass(frozen=True)
class Resolution:
    """A solution: ``packages`` sorted by name; ``reasons`` maps each package name to the name
    of the package whose dependency pulled it in, ``None`` for requested packages."""

    packages: tuple[Package, ...]
    reasons: Mapping[str, str | None]


# ---------------------------------------------------------------------------------------------
# The agenda: a persistent (shared-tail) stack of work items, so backtracking restores it in O(1).


class _Link:
    """One step of the chain that explains why an item is on the agenda (shared tails)."""

    __slots__ = ("step", "up")

    def __init__(self, step: explain.Step, up: _Link | None) -> None:
        self.step = step
        self.up = up

    def steps(self) -> list[explain.Step]:
        out: list[explain.Step] = []
        link: _Link | None = self
        while link is not None:
            out.append(link.step)
            link = link.up
        out.reverse()
        return out


@dataclass(frozen=True, slots=True)
class _Request:
    """Choose a package for a user request (the options were checked up front)."""

    relation: Relation
    options: tuple[Package, ...]
    chain: _Link


@dataclass(frozen=True, slots=True)
class _Expand:
    """Queue the dependencies of the chosen package ``name``."""

    name: str
    chain: _Link


@dataclass(frozen=True, slots=True)
class _Need:
    """Satisfy one dependency (an or-group) of ``parent``."""

    parent: Package
    field: str
    dependency: Dependency
    chain: _Link | None


_Item = _Request | _Expand | _Need


@dataclass(frozen=True, slots=True)
class _Node:
    item: _Item
    rest: _Node | None


@dataclass(slots=True)
class _Choice:
    """A choice point: the item, its options, the next one to try and the state to restore."""

    item: _Request | _Need
    options: tuple[Package, ...]
    index: int
    rest: _Node | None
    trail_length: int
    progress: int


@dataclass(frozen=True, slots=True)
class _Clash:
    kind: str  # "conflicts" or "breaks"
    subject: Package  # the package whose field names the other
    relation: Relation
    other: Package
    via_provides: bool


# ---------------------------------------------------------------------------------------------
# The chosen set, with a trail so that every change can be undone in reverse order.


@dataclass
class _State:
    catalog: Catalog
    chosen: dict[str, Package] = field(default_factory=dict)
    reasons: dict[str, str | None] = field(default_factory=dict)
    # virtual name -> chosen providers with their Provides term
    provided: dict[str, list[tuple[Package, Relation]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # name -> chosen packages whose Conflicts/Breaks name it
    negated: dict[str, list[tuple[Package, str, Relation]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    trail: list[Package] = field(default_factory=list)

    def add(self, package: Package, reason: str | None) -> None:
        self.chosen[package.name] = package
        self.reasons[package.name] = reason
        for provide in package.provides:
            self.provided[provide.name].append((package, provide))
        for kind, relations in (("conflicts", package.conflicts), ("breaks", package.breaks)):
            for relation in relations:
                self.negated[relation.name].append((package, kind, relation))
        self.trail.append(package)

    def undo_to(self, length: int) -> None:
        while len(self.trail) > length:
            package = self.trail.pop()
            del self.chosen[package.name]
            del self.reasons[package.name]
            # Entries were appended in add(); removing the newest one is always the last.
            for provide in reversed(package.provides):
                self.provided[provide.name].pop()
            for relations in (package.breaks, package.conflicts):
                for relation in reversed(relations):
                    self.negated[relation.name].pop()

    def satisfies(self, relation: Relation) -> bool:
        """Tell whether some chosen package (real or by Provides) satisfies ``relation``."""
        package = self.chosen.get(relation.name)
        if (
            package is not None
            and _arch_ok(package, relation, self.catalog.architecture)
            and relation.allows(package.version)
        ):
            return True
        return any(
            _arch_ok(provider, relation, self.catalog.architecture)
            and relation.allows(provide.version)
            for provider, provide in self.provided.get(relation.name, ())
        )

    def clash(self, package: Package) -> _Clash | None:
        """The first Conflicts/Breaks between ``package`` and the chosen set, either direction.

        A package never clashes with itself (Provides + Conflicts on a virtual name).
        """
        for kind, relations in (("conflicts", package.conflicts), ("breaks", package.breaks)):
            for relation in relations:
                other = self.chosen.get(relation.name)
                if (
                    other is not None
                    and other.name != package.name
                    and relation.allows(other.version)
                ):
                    return _Clash(kind, package, relation, other, via_provides=False)
                for provider, provide in self.provided.get(relation.name, ()):
                    if provider.name != package.name and relation.allows(provide.version):
                        return _Clash(kind, package, relation, provider, via_provides=True)
        targets: list[tuple[str, str | None, bool]] = [(package.name, package.version, False)]
        targets += [(p.name, p.version, True) for p in package.provides]
        for name, version, via in targets:
            for subject, kind, relation in self.negated.get(name, ()):
                if subject.name != package.name and relation.allows(version):
                    return _Clash(kind, subject, relation, package, via_provides=via)
        return None


def _arch_ok(package: Package, relation: Relation, native: str) -> bool:
    """Architecture qualifier check; the catalog already holds only native and ``all``.

    ``:any`` is satisfied only by Multi-Arch: allowed packages (dpkg's ``deparchsatisfied``; apt
    adds the implicit ``name:any`` Provides only for them, also for their Provides). ``all``
    packages count as native, so an explicit ``:<native>`` is the same as no qualifier.
    """
    if relation.arch is None or relation.arch == "native":
        return True
    if relation.arch == "any":
        return package.multi_arch == "allowed"
    return relation.arch == native


def _provider_order(package: Package) -> tuple[bool, bool, int]:
    """apt's CompareProviders for a fresh install on one architecture (smaller sorts first)."""
    important = package.fields.get("Important", "no") == "yes"
    return (not package.essential, not important, -package.priority_rank)


def _sorted_providers(packages: list[Package]) -> list[Package]:
    # apt's last tie-break is the higher package ID, i.e. the package its cache allocated last;
    # index files are sorted by name, so reverse name order approximates it deterministically.
    packages.sort(key=lambda p: p.name, reverse=True)
    packages.sort(key=_provider_order)
    return packages


# ---------------------------------------------------------------------------------------------


class _Search:
    def __init__(self, catalog: Catalog, max_steps: int) -> None:
        self.catalog = catalog
        self.state = _State(catalog)
        self.max_steps = max_steps
        self.steps = 0
        self.best: tuple[int, list[explain.Step]] | None = None

    # -- failures -------------------------------------------------------------------------------

    def fail(self, progress: int, chain: _Link | None, build: list[explain.Step]) -> None:
        """Keep the failure the search got furthest with (first one among equals)."""
        if self.best is None or progress > self.best[0]:
            steps = chain.steps() if chain is not None else []
            self.best = (progress, steps + build)

    def _clash_steps(self, clash: _Clash, newcomer: Package) -> list[explain.Step]:
        return explain.clash_steps(
            clash.kind,
            clash.subject,
            clash.relation,
            other=clash.other,
            via_provides=clash.via_provides,
            newcomer=newcomer,
            reasons=self.state.reasons,
        )

    # -- options ----------------------------------------------------------------------------------

    def options(self, dependency: Dependency) -> tuple[Package, ...]:
        """Candidates for an unsatisfied dependency, in apt's order, then older versions."""
        catalog, chosen = self.catalog, self.state.chosen
        newest: list[Package] = []
        older: list[Package] = []
        for relation in dependency:
            fresh: list[Package] = []
            old: list[Package] = []
            if relation.name not in chosen:
                for i, package in enumerate(catalog.versions(relation.name)):
                    if _arch_ok(package, relation, self.catalog.architecture) and relation.allows(
                        package.version
                    ):
                        (fresh if i == 0 else old).append(package)
            fresh_providers: list[Package] = []
            old_providers: list[Package] = []
            for package, provide in catalog.providers(relation.name):
                if package.name in chosen or package.name == relation.name:
                    continue
                if not (
                    _arch_ok(package, relation, self.catalog.architecture)
                    and relation.allows(provide.version)
                ):
                    continue
                candidate = catalog.versions(package.name)[0]
                (fresh_providers if package == candidate else old_providers).append(package)
            newest += fresh + _sorted_providers(fresh_providers)
            older += old + _sorted_providers(old_providers)
        return tuple(dict.fromkeys(newest + older))

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, agenda: _Node | None) -> Resolution:
        stack: list[_Choice] = []
        node = agenda
        progress = 0
        while True:
            if node is None:
                state = self.state
                packages = tuple(sorted(state.chosen.values(), key=lambda p: p.name))
                return Resolution(packages, dict(state.reasons))
            self._tick()
            item, rest = node.item, node.rest
            progress += 1
            choice: _Choice | None = None
            if isinstance(item, _Expand):
                node = self._expand(item, rest)
                continue
            if isinstance(item, _Need):
                if any(self.state.satisfies(r) for r in item.dependency):
                    node = rest
                    continue
                options = self.options(item.dependency)
                if not options:
                    step = explain.unsatisfiable_step(
                        self.catalog, self.state.chosen, item.parent, item.field, item.dependency
                    )
                    self.fail(progress, item.chain, [step])
            else:
                taken = self.state.chosen.get(item.relation.name)
                if taken is not None and item.relation.allows(taken.version):
                    node = rest
                    continue
                options = tuple(p for p in item.options if p.name not in self.state.chosen)
                if taken is not None:
                    steps = [
                        explain.request_clash_step(item.relation, taken),
                        explain.pulled_in_step(taken.name, self.state.reasons),
                    ]
                    self.fail(progress, item.chain, steps)
                    options = ()
            if options:
                choice = _Choice(item, options, 0, rest, len(self.state.trail), progress)
            # Try the choice; on a dead end, resume the most recent choice point with options left.
            while True:
                if choice is not None:
                    found = self._attempt(choice, stack)
                    if found is not None:
                        node, progress = found
                        break
                if not stack:
                    self._give_up()
                choice = stack.pop()
                self.state.undo_to(choice.trail_length)

    def _expand(self, item: _Expand, rest: _Node | None) -> _Node | None:
        package = self.state.chosen[item.name]
        node = rest
        needs = [("Pre-Depends", d) for d in package.relations("Pre-Depends")]
        needs += [("Depends", d) for d in package.relations("Depends")]
        for field_name, dependency in reversed(needs):
            node = _Node(_Need(package, field_name, dependency, item.chain), node)
        return node

    def _attempt(self, choice: _Choice, stack: list[_Choice]) -> tuple[_Node | None, int] | None:
        """Try the options of ``choice`` from ``choice.index``; return the new agenda or None."""
        item = choice.item
        while choice.index < len(choice.options):
            self._tick()
            package = choice.options[choice.index]
            choice.index += 1
            clash = self.state.clash(package)
            if clash is not None:
                if isinstance(item, _Need):
                    head = explain.depends_step(item.parent, item.field, item.dependency, package)
                    self.fail(
                        choice.progress, item.chain, [head, *self._clash_steps(clash, package)]
                    )
                else:
                    self.fail(choice.progress, item.chain, self._clash_steps(clash, package))
                continue
            if choice.index < len(choice.options):
                stack.append(choice)
            if isinstance(item, _Request):
                self.state.add(package, None)
                return choice.rest, choice.progress
            self.state.add(package, item.parent.name)
            step = explain.depends_step(item.parent, item.field, item.dependency, package)
            link = _Link(step, item.chain)
            return _Node(_Expand(package.name, link), choice.rest), choice.progress
        return None

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise ResolutionError(
                f"gave up after {self.max_steps} steps without finding a set of packages",
                [
                    {
                        "kind": "budget",
                        "text": f"the search stopped after {self.max_steps} steps",
                        "steps": self.max_steps,
                    }
                ],
            )

    def _give_up(self) -> None:
        steps = self.best[1] if self.best is not None else []
        raise ResolutionError(explain.sentence(steps) or "no installable set exists", steps)


def _request_options(
    catalog: Catalog, relation: Relation
) -> tuple[tuple[Package, ...], str | None]:
    """The packages a request may install, newest first, and the provider name for a virtual one.

    Raises :class:`NotFoundError` for an unknown name (its hint naming the nearest known
    names) or version, :class:`ResolutionError` for a virtual package with several providers
    (apt asks the user to pick one).
    """
    release = catalog.release
    facts = {"package": relation.name, "release": release, "architecture": catalog.architecture}
    if relation.arch not in (None, "native", "any", "all", catalog.architecture):
        raise NotFoundError(
            f"{relation} is not available: {release} is read for {catalog.architecture}",
            _SPELLING_HINT,
            code=Code.PACKAGE_NOT_FOUND,
            fields={**facts, "requested_architecture": relation.arch, "suggestions": []},
        )
    plain = Relation(relation.name, relation.op, relation.version)
    versions = catalog.versions(relation.name)
    if versions:
        fitting = tuple(p for p in versions if plain.allows(p.version))
        if not fitting:
            available = [p.version for p in versions]
            raise NotFoundError(
                f"{relation.name} {relation.version} is not in {release}",
                f"{release} has {relation.name} " + ", ".join(available),
                code=Code.VERSION_NOT_IN_RELEASE,
                fields={
                    **facts,
                    "operator": relation.op,
                    "version": relation.version,
                    "available": available,
                },
            )
        return fitting, None
    providers = [(p, prov) for p, prov in catalog.providers(relation.name)]
    if not providers:
        # A misspelt name gets the nearest real names in the hint ("did you mean python3?"):
        # one pass over the names, on this error path only. The hint, not the message: a line
        # skipped for a package its release lacks is not told about other names.
        near = close_names(relation.name, catalog.names())
        said = did_you_mean(relation.name, near).removeprefix("; ")
        hint = f"{said} {_SPELLING_HINT}" if said else _SPELLING_HINT
        raise NotFoundError(
            f"{relation.name} is not in {release}",
            hint,
            code=Code.PACKAGE_NOT_FOUND,
            fields={**facts, "suggestions": near},
        )
    fitting_providers = [p for p, prov in providers if plain.allows(prov.version)]
    names = sorted({p.name for p in fitting_providers})
    if not names:
        offered = sorted({f"{p.name} ({prov})" for p, prov in providers})
        raise NotFoundError(
            f"{relation} is not in {release}: no package provides that version",
            "providers: " + ", ".join(offered),
            code=Code.VERSION_NOT_IN_RELEASE,
            fields={
                **facts,
                "operator": relation.op,
                "version": relation.version,
                "providers": offered,
            },
        )
    if len(names) > 1:
        text = (
            f"{relation.name} is a virtual package provided by {', '.join(names)}; pick one of them"
        )
        raise ResolutionError(
            text,
            [
                {
                    "kind": "virtual",
                    "text": text,
                    "package": relation.name,
                    "providers": names,
                }
            ],
        )
    name = names[0]
    # apt installs the provider's candidate; older versions that still provide it come next.
    return tuple(p for p in catalog.versions(name) if p in fitting_providers), name


def resolve(
    catalog: Catalog, requests: Sequence[Relation], *, max_steps: int = 100_000
) -> Resolution:
    """Resolve ``requests`` (from :func:`~couturier.core.relations.parse_request`) against
    ``catalog`` with apt's semantics (see the module docstring).

    A request naming a purely virtual package installs its single provider. Returns the chosen
    packages sorted by name, with the reason each one is there.

    Cost: each step either expands a chosen package's dependencies, checks one dependency against
    the chosen set, or tries one candidate (a Conflicts/Breaks check costs the candidate's
    relations plus the chosen packages naming it). Undoing a choice costs the packages chosen
    since. Without clashes the work is linear in the size of the result; backtracking can be
    exponential and is bounded by ``max_steps``.

    Raises:
        NotFoundError: a requested name is neither a package nor provided by one, or a requested
            version does not exist.
        ResolutionError: no installable set exists (``explanation`` holds the steps from the
            request to the clash, ``sentence`` says it in words), a requested virtual package has
            several providers, or the search ran out of ``max_steps``.
    """
    items: list[_Item] = []
    expands: list[_Item] = []
    for relation in requests:
        options, provider = _request_options(catalog, relation)
        link = _Link(explain.request_step(relation, provider), None)
        items.append(
            _Request(
                relation if provider is None else _as_provider(relation, provider), options, link
            )
        )
        expands.append(_Expand(provider or relation.name, link))
    agenda: _Node | None = None
    for item in reversed(items + expands):
        agenda = _Node(item, agenda)
    return _Search(catalog, max_steps).run(agenda)


def _as_provider(relation: Relation, provider: str) -> Relation:
    """A request for a virtual name stands for its single provider, at any version."""
    return Relation(provider)
