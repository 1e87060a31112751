"""Maintainer scripts of real packages: the audit of the starters and the warnings of a plan.

Both read the control archives of ``.deb`` files fetched through the job's context (its
fetcher: the verified, content-addressed download cache of :mod:`couturier.assembly.fetch`; a
build needs the same files, so nothing is downloaded twice), classify them
(:mod:`couturier.core.maintscripts`) and judge each action with the build's
:class:`~couturier.core.replay.ReplayPolicy` (:func:`build_policy`).

- :func:`added_warnings`: for the packages a user adds to a line (not the starter's: those are
  the audit's), one :class:`~couturier.core.replay.ScriptWarning` per action that is not
  replayed, for ``plan``. A build judges the scripts it read while assembling instead (kept in
  the generated layer's cache note, so a warm build reads no package), with the same policy.
- :func:`audit_starters`: every package of every line of every starter (one architecture:
  maintainer scripts do not differ by architecture), with its actions; :func:`audit_markdown`
  renders ``docs/maintainer-scripts.md`` from it and :func:`unjudged` lists what the policy
  neither handles nor waives (a test requires it to be empty).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from couturier.assembly.deb import fetched_deb, read_deb_control
from couturier.assembly.generated import (
    ALTERNATIVES,
    NOBODY,
    NONROOT,
    ROOT,
    WWW_DATA,
)
from couturier.core.catalog import Package
from couturier.core.distro import multiarch_triplet
from couturier.core.maintscripts import CLASSES, ScriptAction, script_actions
from couturier.core.planner import LinePlan, plan_line
from couturier.core.replay import ReplayPolicy, ScriptWarning, replay_policy, script_warnings
from couturier.core.replay_starters import STARTER_RULES
from couturier.core.starter import Starter
from couturier.debian.index import IndexCatalog
from couturier.errors import CouturierError
from couturier.services.context import BuildContext

__all__ = [
    "AuditedPackage",
    "added_warnings",
    "audit_markdown",
    "audit_starters",
    "build_policy",
    "package_actions",
    "unjudged",
]


def build_policy(architecture: str = "amd64") -> ReplayPolicy:
    """The replay policy of the build: the accounts and alternatives it generates
    (:mod:`couturier.assembly.generated`; alternatives by name, and by the packages that register
    them when a script computes the name) first, then the starter and class rules."""
    triplet = multiarch_triplet(architecture)
    accounts = {a.name for a in (ROOT, NONROOT, NOBODY, WWW_DATA)}
    accounts |= {a.group for a in (ROOT, NONROOT, NOBODY, WWW_DATA) if a.group}
    alternatives = {a.name.format(triplet=triplet): a.registered_by for a in ALTERNATIVES}
    return replay_policy(
        accounts, alternatives, registered_by=alternatives, starter_rules=STARTER_RULES
    )


def package_actions(
    context: BuildContext, catalog: IndexCatalog, packages: Sequence[Package]
) -> dict[str, tuple[ScriptAction, ...]]:
    """Package name → the actions of its maintainer scripts, for ``packages`` of ``catalog``.

    Fetches the ``.deb`` files with the context's fetcher (into the download cache, in
    parallel, verified) and reads only their control archives. Raises what the fetcher
    (:func:`couturier.assembly.fetch.fetch`) raises and :class:`IntegrityError` for a cached
    file that cannot be read.
    """
    if not packages:
        return {}
    paths = context.fetch(packages, catalog.url_of)

    def one(package: Package) -> tuple[str, tuple[ScriptAction, ...]]:
        name, data = fetched_deb(package, paths[package.name])
        members = read_deb_control(data, name).scripts
        return package.name, script_actions(package.name, members)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        return dict(pool.map(one, packages))


def added_warnings(
    context: BuildContext, catalog: IndexCatalog, plan: LinePlan
) -> tuple[ScriptWarning, ...]:
    """The warnings of ``plan``'s added packages: each action the build does not replay.

    Cost: fetching the added packages (cached) and reading their control archives; nothing
    for a plan without additions. Never raises for a package that cannot be fetched or read:
    the one warning returned then says the scripts were not checked (action ``unchecked``).
    """
    try:
        actions = package_actions(context, catalog, plan.added)
    except CouturierError as error:
        # The plan stays useful without them; say that they were not checked, and why.
        message = f"maintainer scripts of the added packages not checked: {error}"
        return (ScriptWarning("", "unchecked", message),)
    return script_warnings(actions, build_policy(plan.architecture))


@dataclass(frozen=True)
class AuditedPackage:
    """One package of the starters with its actions and the lines that install it
    (``python 3.13``). Versions are left out: the document must not change with every
    security update that leaves the scripts alone."""

    name: str
    lines: tuple[str, ...]
    actions: tuple[ScriptAction, ...]


def audit_starters(
    context: BuildContext, starters: Iterable[Starter], architecture: str = "amd64"
) -> tuple[AuditedPackage, ...]:
    """Every package of every line of ``starters`` on ``architecture``, with its actions,
    sorted by name (the context's catalogs and fetcher; progress to its ``say``). One package
    name seen in several releases is listed once; its actions are the union over its versions
    (each version's scripts are read).

    Raises what loading catalogs, resolving a starter line and fetching raise: a starter line
    that cannot be resolved is a broken starter, not something to skip.
    """
    found: dict[str, tuple[set[str], set[ScriptAction]]] = {}
    for starter in sorted(starters, key=lambda s: s.name):
        for line in starter.lines:
            context.say(f"auditing {starter.name} {line.version} ({line.release})")
            catalog = context.catalogs(line.release, architecture)
            plan = plan_line(catalog, starter, line)
            actions = package_actions(context, catalog, plan.starter)
            for package in plan.starter:
                labels, seen = found.setdefault(package.name, (set(), set()))
                labels.add(f"{starter.name} {line.version}")
                seen.update(actions[package.name])
    return tuple(
        AuditedPackage(name, tuple(sorted(labels)), tuple(sorted(actions)))
        for name, (labels, actions) in sorted(found.items())
    )


def unjudged(
    packages: Sequence[AuditedPackage], policy: ReplayPolicy
) -> list[tuple[str, ScriptAction]]:
    """(package, action) pairs that ``policy`` neither handles nor waives."""
    return [
        (package.name, action)
        for package in packages
        for action in package.actions
        if policy.verdict(package.name, action) is None
    ]


def audit_markdown(packages: Sequence[AuditedPackage], policy: ReplayPolicy) -> str:
    """``docs/maintainer-scripts.md``: per action class, what Couturier does; then per starter
    package, each action and its verdict. Deterministic: everything is sorted."""
    out = [
        "# Maintainer scripts and what Couturier does instead",
        "",
        "Couturier never runs a package's maintainer scripts. This page is generated by",
        "`scripts/audit-maintainer-scripts` from the control archives (`preinst`, `postinst`,",
        "`triggers`) of every package of every starter line (amd64: the scripts do not differ",
        "by architecture), classified by `couturier.core.maintscripts` and judged by",
        "`couturier.core.replay`. A test regenerates it and fails when a starter package has an",
        "action that is neither handled nor waived. For packages a user adds, `couturier plan`",
        "and `couturier build` warn, per line, about each action that is not replayed. Variables",
        "the scripts set and the words their loops go over are expanded; what only the running",
        "script would know is said as computed at install time.",
        "",
        "## Action classes",
        "",
        "| class | what the scripts do | what Couturier does |",
        "|---|---|---|",
    ]
    for action, meaning in sorted(CLASSES.items()):
        out.append(f"| `{action}` | {meaning} | {_class_policy(action, policy)} |")
    out += ["", "## Starter packages", ""]
    every = {label for package in packages for label in package.lines}
    quiet: list[str] = []
    for package in packages:
        if not package.actions:
            quiet.append(package.name)
            continue
        out += [f"### {package.name}", "", f"In {_lines_text(package.lines, every)}.", ""]
        out += ["| script | action | what it does | Couturier |", "|---|---|---|---|"]
        rows: dict[str, None] = {}  # two computed details read alike: one row
        for found in package.actions:
            rule = policy.rule(package.name, found)
            said = _cell(rule.verdict.text) if rule is not None else "**not replayed**"
            if rule is not None and rule.in_starter:
                said += " (in its starter; a user who adds the package is warned)"
            what = _cell(found.sentence)
            rows[f"| {found.script} | {found.action} | {what} | {said} |"] = None
        out += rows
        out.append("")
    out += ["## Packages whose scripts change nothing", ""]
    out += [", ".join(quiet) if quiet else "none", ""]
    return "\n".join(out)


def _lines_text(labels: Sequence[str], every: set[str]) -> str:
    """``every line`` or ``jre 17, 21; postgres 15`` for the starter lines ``labels``."""
    if set(labels) == every:
        return "every line of every starter"
    versions: dict[str, list[str]] = {}
    for label in labels:
        starter, _, version = label.partition(" ")
        versions.setdefault(starter, []).append(version)
    return "; ".join(f"{name} {', '.join(found)}" for name, found in sorted(versions.items()))


def _class_policy(action: str, policy: ReplayPolicy) -> str:
    """What the policy says for any package's ``action`` of that class with no detail known."""
    probe = ScriptAction(action, "postinst", "\0", "")
    verdict = policy.verdict("\0", probe)
    if verdict is not None:
        return _cell(verdict.text)
    return "per package and detail, below; otherwise not replayed (plan and build warn)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ")
