"""What Couturier does about each maintainer-script action: replays it natively, or why not.

Every :class:`~couturier.core.maintscripts.ScriptAction` gets a :class:`Verdict` from the first
:class:`Rule` of a :class:`ReplayPolicy` that matches it: ``handled`` names the module of the
build that makes the same files without running the script, ``waived`` says why the action is
not needed in an image. A rule matches an action class, and optionally package names and the
action's detail (``fnmatch`` patterns), so a class that is only partly replayed is judged on its
detail: an ``accounts`` action for a user the build does not write into ``/etc/passwd`` is not
handled. What no rule covers is *not replayed*: the audit of the starters fails on it
(``docs/maintainer-scripts.md``), and for a package a user adds, plan and build warn about it
(:func:`script_warnings`).

Rules are data, kept in three groups, most specific first: what the build generates (made by
the service from the build's own tables: accounts, alternatives), the starters' packages
(:data:`couturier.core.replay_starters.STARTER_RULES`, each with its reason), and whole classes
(:data:`CLASS_RULES`).

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from couturier.core.maintscripts import ScriptAction

__all__ = [
    "CLASS_RULES",
    "ReplayPolicy",
    "Rule",
    "ScriptWarning",
    "Verdict",
    "handled",
    "replay_policy",
    "script_warnings",
    "waived",
]


@dataclass(frozen=True)
class Verdict:
    """``handled_by`` names the module that replays an action natively; ``waived`` says why it
    is not needed. Exactly one is set."""

    handled_by: str = ""
    waived: str = ""

    @property
    def text(self) -> str:
        return f"handled by {self.handled_by}" if self.handled_by else f"waived: {self.waived}"


def handled(module: str) -> Verdict:
    return Verdict(handled_by=module)


def waived(reason: str) -> Verdict:
    return Verdict(waived=reason)


@dataclass(frozen=True)
class Rule:
    """``verdict`` for actions of class ``action`` whose package name matches ``packages`` and
    whose detail matches ``detail`` (``fnmatch`` patterns, case-sensitive).

    ``in_starter`` marks a verdict that holds only where the package is part of its starter
    (the starter makes the directories, runs as the user, or ships nothing that needs the
    action): for a package a user adds, such a rule does not apply and the action is warned
    about."""

    action: str
    verdict: Verdict
    packages: str = "*"
    detail: str = "*"
    in_starter: bool = False

    def matches(self, package: str, action: ScriptAction, *, added: bool = False) -> bool:
        return (
            not (added and self.in_starter)
            and action.action == self.action
            and fnmatchcase(package, self.packages)
            and fnmatchcase(action.detail, self.detail)
        )


_GENERATED = "assembly/generated.py"
# Every detail the script computes at install time holds a "$" (see maintscripts.computed).
COMPUTED = "$"
_NO_INIT = (
    "no init system runs in a container: services are neither enabled nor started, the "
    "image's entrypoint runs the program"
)

# Whole classes, for any package (a package a user adds included).
CLASS_RULES: tuple[Rule, ...] = (
    Rule("ldconfig", handled("assembly/ldcache.py (/etc/ld.so.cache, via assembly/generated.py)")),
    Rule("ca-certificates", handled(f"{_GENERATED} ca_bundle")),
    Rule("java-truststore", handled("assembly/truststore.py (via assembly/generated.py)")),
    Rule("php-modules", handled("assembly/php.py")),
    Rule(
        "debconf",
        waived(
            "no questions are asked: every package takes its default answers, as with "
            "DEBIAN_FRONTEND=noninteractive; what the answers lead to is listed as its own action"
        ),
    ),
    Rule("service", waived(_NO_INIT)),
    Rule(
        "conffile-moves",
        waived(
            "dpkg-maintscript-helper acts only when upgrading from the versions it names; an "
            "image is always a fresh install"
        ),
    ),
    Rule(
        "cleanup",
        waived(
            "removes what earlier versions (or the package's own upgrade) left behind; an image "
            "is a fresh install with nothing earlier to remove"
        ),
    ),
    Rule(
        "python-bytecode",
        waived(
            "Python compiles a module when it first imports it; running from the sources is "
            "correct, only the first start is slower"
        ),
    ),
    Rule("binfmt", waived("binary formats are registered in the host's kernel, not in an image")),
    Rule(
        "apparmor",
        waived("AppArmor profiles are loaded into the host's kernel, not stored in an image"),
    ),
    Rule(
        "selinux",
        waived("SELinux labels are set by the host's container runtime, not stored in layers"),
    ),
    Rule(
        "cache:fontconfig",
        waived("fontconfig scans the font directories itself when it finds no cache"),
    ),
    Rule("cache:man", waived("documentation and man pages are dropped from images")),
    Rule("cache:info", waived("documentation and info pages are dropped from images")),
    Rule(
        "cache:desktop",
        waived("desktop menus are for desktop sessions, which images do not run"),
    ),
    Rule("cache:icons", waived("icon theme caches are for desktop sessions")),
)


@dataclass(frozen=True)
class ReplayPolicy:
    """Ordered rules; the first that matches an action decides."""

    rules: tuple[Rule, ...]

    def rule(self, package: str, action: ScriptAction, *, added: bool = False) -> Rule | None:
        """The first rule that judges ``package``'s ``action``, or None when none does;
        ``added`` for a package a user adds (rules ``in_starter`` do not apply to it)."""
        for rule in self.rules:
            if rule.matches(package, action, added=added):
                return rule
        return None

    def verdict(self, package: str, action: ScriptAction, *, added: bool = False) -> Verdict | None:
        """The verdict on ``package``'s ``action``, or None when it is not replayed."""
        rule = self.rule(package, action, added=added)
        return rule.verdict if rule is not None else None


def replay_policy(
    accounts: Iterable[str] = (),
    alternatives: Iterable[str] = (),
    *,
    registered_by: Mapping[str, Sequence[str]] | None = None,
    starter_rules: Sequence[Rule] = (),
    class_rules: Sequence[Rule] = CLASS_RULES,
) -> ReplayPolicy:
    """The policy of a build that writes ``accounts`` (user and group names) into
    ``/etc/passwd`` and ``/etc/group`` and makes the ``alternatives`` (group names) it knows,
    then ``starter_rules`` and ``class_rules``.

    An alternative is judged by its name (``php``, ``java``); one whose name the script
    computes (``$i`` of a loop over a list the script reads at install time) by the package
    that registers it: ``registered_by`` maps an alternative's name to the ``fnmatch``
    patterns of the packages whose postinst registers it (``java`` → ``openjdk-*-jre-headless``,
    from :data:`couturier.assembly.generated.ALTERNATIVES`), and a computed registration of such a
    package is handled, the verdict naming what the build makes."""
    generated: list[Rule] = []
    for name in sorted(set(accounts)):
        verdict = handled(f"{_GENERATED} accounts")
        generated += [Rule("accounts", verdict, detail=name)]
        generated += [Rule("accounts", verdict, detail=f"{name}:*")]
    for name in sorted(set(alternatives)):
        generated.append(Rule("alternatives", handled(f"{_GENERATED} ALTERNATIVES"), detail=name))
    by_package: dict[str, list[str]] = {}
    for name, patterns in sorted((registered_by or {}).items()):
        for pattern in patterns:
            by_package.setdefault(pattern, []).append(name)
    for pattern, names in sorted(by_package.items()):
        made = ", ".join(names)
        verdict = handled(f"{_GENERATED} ALTERNATIVES ({made}, the names {pattern} registers)")
        generated.append(Rule("alternatives", verdict, packages=pattern, detail=f"*{COMPUTED}*"))
    return ReplayPolicy((*generated, *starter_rules, *class_rules))


@dataclass(frozen=True)
class ScriptWarning:
    """An action of an added package that the build does not replay, said for a user:
    ``libfoo: postinst adds the system user foo; not replayed``."""

    package: str
    action: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"package": self.package, "action": self.action, "message": self.message}


def script_warnings(
    actions: Mapping[str, Sequence[ScriptAction]], policy: ReplayPolicy
) -> tuple[ScriptWarning, ...]:
    """One warning per action of each package (``actions``: package name → its actions) that
    ``policy`` neither handles nor waives, sorted by package then message.

    A ``triggers`` line whose class a script of the same package already shows (libglib's
    interest in ``/usr/share/glib-2.0/schemas`` beside its postinst's glib-compile-schemas) is
    one thing said twice: it gets no warning of its own."""
    found: set[ScriptWarning] = set()
    for package, listed in actions.items():
        missing = [a for a in listed if policy.verdict(package, a, added=True) is None]
        scripted = {a.action for a in missing if a.script != "triggers"}
        for action in missing:
            if action.script == "triggers" and action.action in scripted:
                continue
            message = f"{package}: {action.script} {action.sentence}; not replayed"
            found.add(ScriptWarning(package, action.action, message))
    return tuple(sorted(found, key=lambda w: (w.package, w.message)))
