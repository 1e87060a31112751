"""Words for why a request cannot be resolved: the steps of an explanation and its sentence.

The resolver (``couturier.core.resolver``) finds *where* a search failed; this module says it in
words a user understands. An explanation is a list of steps, each a dict with ``kind`` (one of
``requested``, ``depends``, ``missing``, ``version``, ``multiarch``, ``conflicts``, ``breaks``,
``pulled-in``, ``virtual``, ``budget``), ``text`` (one clause) and the names involved
(``package``, plus ``target``/``other``/``provider`` where they apply). :func:`sentence` joins
the clauses from the request to the clash, e.g. "you asked for postfix; postfix conflicts with
mail-transport-agent, which exim4-daemon-light provides; you also asked for exim4-daemon-light".

Pure: reads only the catalog handed in, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from couturier.core.catalog import Catalog, Package
from couturier.core.relations import Dependency, Relation

__all__ = [
    "Step",
    "clash_steps",
    "dependency_text",
    "depends_step",
    "pulled_in_step",
    "request_clash_step",
    "request_step",
    "sentence",
    "unsatisfiable_step",
]

Step = dict[str, Any]


def dependency_text(dependency: Dependency) -> str:
    """``a (>= 1) | b`` as a Depends field writes it."""
    return " | ".join(str(relation) for relation in dependency)


def request_step(relation: Relation, provider: str | None = None) -> Step:
    """The first step of every chain: what the user asked for."""
    text = f"you asked for {_request_text(relation)}"
    if provider is not None:
        text += f", which only {provider} provides"
    step: Step = {"kind": "requested", "text": text, "package": relation.name}
    if provider is not None:
        step["provider"] = provider
    return step


def depends_step(parent: Package, field: str, dependency: Dependency, chosen: Package) -> Step:
    """``parent`` needs ``dependency`` and ``chosen`` was picked for it."""
    verb = "pre-depends on" if field == "Pre-Depends" else "depends on"
    text = f"{parent.name} {verb} {dependency_text(dependency)}"
    named = {relation.name for relation in dependency}
    if chosen.name not in named:
        text += f", which {chosen.name} provides"
    return {
        "kind": "depends",
        "text": text,
        "package": parent.name,
        "target": chosen.name,
        "dependency": dependency_text(dependency),
    }


def unsatisfiable_step(
    catalog: Catalog,
    chosen: Mapping[str, Package],
    parent: Package,
    field: str,
    dependency: Dependency,
) -> Step:
    """Why no package can be picked for ``dependency`` of ``parent``: missing, version or arch."""
    release = catalog.release
    text = dependency_text(dependency)
    names = [relation.name for relation in dependency]
    known = [n for n in names if catalog.versions(n) or catalog.providers(n)]
    verb = "pre-depends on" if field == "Pre-Depends" else "depends on"
    base: Step = {"package": parent.name, "dependency": text, "target": names[0]}
    if not known:
        absent = (
            f"which {release} does not have" if len(names) == 1 else f"none of which {release} has"
        )
        return {
            **base,
            "kind": "missing",
            "text": f"{parent.name} {verb} {text}, {absent}",
        }
    if all(r.arch == "any" for r in dependency) and all(
        _exists_without_arch(catalog, r) for r in dependency
    ):
        return {
            **base,
            "kind": "multiarch",
            "text": f"{parent.name} {parent.version} needs {text}, but in {release} "
            f"{_join(names)} {'is' if len(names) == 1 else 'are'} not Multi-Arch: allowed",
        }
    parts = [
        _available(catalog, chosen, relation, single=len(dependency) == 1)
        for relation in dependency
    ]
    return {
        **base,
        "kind": "version",
        "text": f"{parent.name} {parent.version} needs {text}, {release} has {'; '.join(parts)}",
    }


def request_clash_step(relation: Relation, chosen: Package) -> Step:
    """Two requests name one package at different versions."""
    return {
        "kind": "version",
        "text": f"{_request_text(relation)} cannot be installed together with "
        f"{chosen.name} {chosen.version}",
        "package": relation.name,
        "other": chosen.name,
    }


def clash_steps(
    kind: str,
    subject: Package,
    relation: Relation,
    *,
    other: Package,
    via_provides: bool,
    newcomer: Package,
    reasons: Mapping[str, str | None],
) -> list[Step]:
    """``subject`` conflicts with (or breaks) ``other``; then why the one already chosen is there.

    ``newcomer`` is the package being added (``subject`` or ``other``); the other one was chosen
    earlier and its ``reasons`` chain says who pulled it in.
    """
    verb = "conflicts with" if kind == "conflicts" else "breaks"
    text = f"{subject.name} {verb} {relation}"
    if via_provides:
        text += f", which {other.name} provides"
    elif relation.op is not None:
        text += f" ({other.name} {other.version})"
    step: Step = {
        "kind": kind,
        "text": text,
        "package": subject.name,
        "other": other.name,
        "relation": str(relation),
    }
    earlier = other if newcomer is subject else subject
    return [step, pulled_in_step(earlier.name, reasons)]


def pulled_in_step(name: str, reasons: Mapping[str, str | None]) -> Step:
    """Who pulled ``name`` in: "exim4 is needed by default-mta, which you asked for"."""
    chain = []
    current: str | None = reasons.get(name)
    seen = {name}
    while current is not None and current not in seen:
        chain.append(current)
        seen.add(current)
        current = reasons.get(current)
    if not chain:
        text = f"you also asked for {name}"
    else:
        text = f"{name} is needed by " + ", which is needed by ".join(chain)
        text += ", which you asked for"
    return {"kind": "pulled-in", "text": text, "package": name, "chain": chain}


def sentence(steps: Sequence[Step]) -> str:
    """Join the steps' clauses into one sentence."""
    return "; ".join(step["text"] for step in steps)


def _request_text(relation: Relation) -> str:
    if relation.op == "=" and relation.version is not None:
        return f"{relation.name}={relation.version}"
    return str(relation)


def _join(names: Sequence[str]) -> str:
    return ", ".join(names)


def _exists_without_arch(catalog: Catalog, relation: Relation) -> bool:
    plain = Relation(relation.name, relation.op, relation.version)
    versions = [p.version for p in catalog.versions(relation.name)]
    provided = [prov.version for _, prov in catalog.providers(relation.name)]
    return any(plain.allows(v) for v in versions) or any(plain.allows(v) for v in provided)


def _available(
    catalog: Catalog, chosen: Mapping[str, Package], relation: Relation, *, single: bool
) -> str:
    """What the release offers for ``relation``'s name, e.g. ``2.1`` or ``libbar 2.1, 2.0``."""
    name = relation.name
    versions = [p.version for p in catalog.versions(name)]
    providers = sorted(
        {f"{p.name} provides {prov}" for p, prov in catalog.providers(name) if p.name != name}
    )
    if versions:
        offered = ", ".join(versions)
        text = offered if single else f"{name} {offered}"
    elif providers:
        text = "; ".join(providers)
    else:
        text = f"no {name}"
    taken = chosen.get(name)
    if taken is not None and not relation.allows(taken.version):
        text += f" but {name} {taken.version} is already chosen"
    return text
