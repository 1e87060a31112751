"""The spec file: how a private image is declared (see DESIGN.md, "The spec file").

:func:`parse_spec` checks a mapping (parsed YAML, or JSON from the API) against the product rules
and returns a frozen :class:`ImageSpec`; :func:`duplicate_violations` turns the keys a YAML
document writes twice (which YAML itself would silently collapse) into violations reported with
the rest. Every violation is collected before anything is raised, so the user sees all of them
at once in one :class:`SpecError`.

Every value is text as the user wrote it: YAML turns unquoted ``010`` into 8, ``1.10`` into
1.1, ``12:30:00`` into 45000, ``yes`` into true and ``2024-01-01`` into a date, so anything
but a string where text belongs is refused ("quote it"), never converted back. Text holds no
control or invisible character (:mod:`couturier.core.text`). A version after ``=`` is a Debian
version; an ``-auto`` request carries none. A misspelt starter is answered with the nearest.

Pure: the caller reads the file (:func:`couturier.services.specs.load_spec`) and hands in the
starters it offers, site starters included (:func:`couturier.services.starters.starters`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from couturier.core.relations import parse_request
from couturier.core.starter import Starter
from couturier.core.suggest import did_you_mean
from couturier.core.text import HIDDEN_RULE, has_hidden
from couturier.errors import Code, InputError

__all__ = [
    "BUNDLE_NAME",
    "BUNDLE_VERSION",
    "LISTED",
    "MAX_PACKAGES",
    "ImageSpec",
    "SpecCheck",
    "SpecError",
    "Violation",
    "duplicate_violations",
    "parse_spec",
    "split_bundle_ref",
    "violations_message",
]

MAX_PACKAGES = 100

_NAME = re.compile(r"[a-z][a-z0-9-]{0,38}[a-z]")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A bundle reference, NAME or NAME@VERSION; couturier.core.bundle checks names by the same rule:
# 2-40 characters, lowercase letters, digits and hyphens, a letter first, a letter or digit last.
BUNDLE_NAME = r"[a-z][a-z0-9-]{0,38}[a-z0-9]"
BUNDLE_VERSION = r"[1-9][0-9]{0,8}"  # versions as the bundle store names them
_BUNDLE_REF = re.compile(rf"({BUNDLE_NAME})(?:@({BUNDLE_VERSION}))?")
_SHOWN = 80  # characters of a value shown in a violation
_SHOWN_FIELD = 600  # characters of its field (a path can be long)
LISTED = 50  # violations an error's message lists (all are in its violations)
_NO_CONTROL = HIDDEN_RULE
_FIELDS = ("name", "description", "starter", "packages", "env", "bundles")
_REQUIRED = ("name", "starter")
AUTO_SUFFIX = "-auto"  # as couturier.core.families names it (not imported: it loads the resolver)


# A check that needs more than the spec itself (the catalog for ``-auto`` packages, the bundle
# store): given the starter and the well-formed package and bundle entries, it returns
# (field, entry, rule) for each entry it refuses, ``field`` being "packages" or "bundles".
SpecCheck = Callable[["Starter", Sequence[str], Sequence[str]], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class Violation:
    """One broken rule: the spec ``field`` (``packages[2]``, ``env.PATH``), the offending
    ``value`` as written (``None`` when missing) and the ``rule`` in words."""

    field: str
    value: Any
    rule: str

    def __str__(self) -> str:
        if self.value is None:
            return f"{_shown(self.field, plain=True)}: {self.rule}"
        return f"{_shown(self.field, plain=True)} {_shown(self.value)}: {self.rule}"


def _shown(value: Any, *, plain: bool = False) -> str:
    """``value`` as a message shows it: its repr cut to :data:`_SHOWN` characters, since a
    value can be a whole list or a line of a megabyte; or, ``plain`` (a field: a path, a key),
    printable text as it is, cut to :data:`_SHOWN_FIELD`."""
    if plain and isinstance(value, str) and value.isprintable():
        text, limit = value, _SHOWN_FIELD
    else:
        limit = _SHOWN_FIELD if plain else _SHOWN
        try:
            text = repr(value)
        except ValueError:  # an int of more than 4300 digits has no repr
            text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def violations_message(source: str, violations: Sequence[Violation]) -> str:
    """``<source> has N problems: <violation>; <violation>...``, listing the first
    :data:`LISTED` violations and counting the rest."""
    count = len(violations)
    noun = "problem" if count == 1 else "problems"
    listed = "; ".join(str(v) for v in violations[:LISTED])
    if count > LISTED:
        listed += f"; and {count - LISTED} more"
    return f"{source} has {count} {noun}: {listed}"


class SpecError(InputError):
    """A spec breaks one or more rules; ``violations`` lists every one of them."""

    default_code = Code.SPEC_INVALID

    def __init__(self, violations: list[Violation], source: str = "spec") -> None:
        super().__init__(
            violations_message(source, violations),
            "fix each one and try again",
            fields={"source": source, "violations": len(violations)},
        )
        self.violations = violations


@dataclass(frozen=True)
class ImageSpec:
    """A validated private image declaration (frozen; ``env`` is read-only)."""

    name: str
    starter: str
    description: str = ""
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bundles: tuple[str, ...] = ()


def parse_spec(
    raw: Any,
    starters: Mapping[str, Starter],
    *,
    source: str = "spec",
    duplicates: list[Violation] | None = None,
    checks: Sequence[SpecCheck] = (),
    also_fields: Sequence[str] = (),
) -> ImageSpec:
    """Check ``raw`` against every rule of a spec and return it as an :class:`ImageSpec`.

    ``starters`` are the ones the deployment offers, by name (the caller's: shipped and site
    starters, :func:`couturier.services.starters.starters`). ``duplicates`` are violations
    found while reading (keys written twice, :func:`duplicate_violations`), reported together
    with the rest. ``checks`` run when the starter is known, on the well-formed package and
    bundle entries; what they refuse is reported with the rest. ``also_fields`` are fields
    the caller reads itself and took out of ``raw`` (the API's ``architectures``): they are
    named with the spec's own when a key is not a field. Raises :class:`SpecError` listing
    every violation.
    """
    found: list[Violation] = list(duplicates or ())
    if not isinstance(raw, Mapping):
        raise SpecError([Violation("spec", None, "must be a mapping of fields")], source)
    known = ", ".join((*_FIELDS, *also_fields))
    for key in raw:
        if key not in _FIELDS:
            found.append(Violation(_key(key), None, f"is not a field (fields: {known})"))
    for key in _REQUIRED:
        if raw.get(key) is None:
            found.append(Violation(key, None, "is required"))

    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        found.append(
            Violation(
                "name",
                name,
                "must be 2-40 characters, lowercase letters, digits and hyphens, starting and "
                "ending with a lowercase letter",
            )
        )
    description = raw.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str):
        found.append(Violation("description", description, "must be text"))
        description = ""
    elif _has_control(description.strip()):
        found.append(Violation("description", description, f"must be one line; {_NO_CONTROL}"))
    starter_name = raw.get("starter")
    starter: Starter | None = None
    if starter_name is not None:
        starter = starters.get(starter_name) if isinstance(starter_name, str) else None
        if starter is None:
            known = ", ".join(sorted(starters))
            near = did_you_mean(starter_name, starters) if isinstance(starter_name, str) else ""
            found.append(Violation("starter", starter_name, f"is not a starter{near} ({known})"))

    packages = _packages(raw.get("packages"), found)
    env = _env(raw.get("env"), starter, found)
    bundles = _bundles(raw.get("bundles"), found)
    if starter is not None:
        for check in checks:
            for kind, entry, rule in check(starter, packages, bundles):
                found.append(Violation(_where(raw.get(kind), kind, entry), entry, rule))
    if found:
        raise SpecError(found, source)
    assert isinstance(name, str) and isinstance(starter_name, str)
    return ImageSpec(
        name=name,
        starter=starter_name,
        description=description.strip(),
        packages=packages,
        env=MappingProxyType(env),
        bundles=bundles,
    )


def _key(key: Any) -> str:
    """A mapping key as a field names it (a key may be a number YAML or JSON gave)."""
    try:
        return str(key)
    except ValueError:  # an int of more than 4300 digits
        return f"<a {type(key).__name__} too long to show>"


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control or invisible character (:mod:`couturier.core.text`):
    what an image's configuration and labels must not carry."""
    return has_hidden(text)


def _where(entries: Any, kind: str, entry: str) -> str:
    """The field of ``entry`` in the raw list ``entries`` (``packages[3]``)."""
    if isinstance(entries, list):
        for position, raw in enumerate(entries):
            if isinstance(raw, str) and raw.strip() == entry:
                return f"{kind}[{position}]"
    return kind


def _list(value: Any, field_name: str, found: list[Violation]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        found.append(Violation(field_name, value, "must be a list"))
        return []
    return value


def _packages(value: Any, found: list[Violation]) -> tuple[str, ...]:
    entries = _list(value, "packages", found)
    if len(entries) > MAX_PACKAGES:
        found.append(
            Violation("packages", len(entries), f"at most {MAX_PACKAGES} packages may be added")
        )
    result: list[str] = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(entries):
        where = f"packages[{position}]"
        if not isinstance(entry, str):
            found.append(Violation(where, entry, "must be NAME or NAME=VERSION"))
            continue
        try:
            relation = parse_request(entry)
        except InputError as error:
            relation = None
            # A version that is not a Debian version says so; anything else is a shape.
            if "=" in entry and "is not a Debian version" in error.message:
                rule = f"must be NAME=VERSION with a Debian version: {error.hint}"
                found.append(Violation(where, entry, rule))
                continue
        if relation is None or relation.arch is not None:
            found.append(
                Violation(
                    where, entry, "must be NAME or NAME=VERSION, e.g. curl or python3-rsa=4.9-2"
                )
            )
            continue
        if relation.version is not None and relation.name.endswith(AUTO_SUFFIX):
            found.append(
                Violation(
                    where,
                    entry,
                    f"an {AUTO_SUFFIX} package takes no version: it picks the member that fits "
                    f"each line; write {relation.name}, or NAME=VERSION for one member",
                )
            )
            continue
        if relation.name in seen:
            found.append(
                Violation(
                    where,
                    entry,
                    f"repeats package {relation.name} of packages[{seen[relation.name]}]",
                )
            )
            continue
        seen[relation.name] = position
        result.append(entry.strip())
    return tuple(result)


def _env(value: Any, starter: Starter | None, found: list[Violation]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        found.append(Violation("env", value, "must be a mapping of NAME: value"))
        return {}
    reserved = starter.env_keys if starter is not None else frozenset()
    env: dict[str, str] = {}
    for key, text in value.items():
        where = f"env.{_key(key)}"
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
            found.append(
                Violation(where, key, "is not a POSIX name (letters, digits, _; not a digit first)")
            )
            continue
        if key in reserved:
            assert starter is not None
            found.append(Violation(where, text, f"is set by the {starter.name} starter"))
            continue
        if text is None or text == "":
            found.append(Violation(where, text, "needs a non-empty value"))
            continue
        if not isinstance(text, str):
            # YAML reads 010 as 8, 1.10 as 1.1, 12:30:00 as 45000, yes as True: only the text
            # as written is the value, so numbers are refused as booleans and dates are.
            found.append(
                Violation(where, text, "must be a text value (quote it, numbers included)")
            )
            continue
        value = text
        if _has_control(value):
            found.append(Violation(where, text, _NO_CONTROL))
            continue
        env[key] = value
    return env


def split_bundle_ref(ref: str) -> tuple[str, int | None] | None:
    """``corp-ca`` → (``corp-ca``, None: the newest); ``corp-ca@3`` → (``corp-ca``, 3); None
    when ``ref`` is not a bundle reference."""
    found = _BUNDLE_REF.fullmatch(ref)
    if found is None:
        return None
    name, version = found.groups()
    return name, int(version) if version else None


def _bundles(value: Any, found: list[Violation]) -> tuple[str, ...]:
    result: list[str] = []
    seen: set[str] = set()
    for position, entry in enumerate(_list(value, "bundles", found)):
        where = f"bundles[{position}]"
        ref = split_bundle_ref(entry) if isinstance(entry, str) else None
        if ref is None:
            found.append(Violation(where, entry, "must be a bundle name, optionally @VERSION"))
            continue
        name = ref[0]
        if name in seen:
            found.append(Violation(where, entry, f"repeats bundle {name}"))
            continue
        seen.add(name)
        result.append(entry)
    return tuple(result)


def duplicate_violations(raw: Any, duplicates: Sequence[tuple[Any, int]]) -> list[Violation]:
    """One violation per key written twice (``duplicates``: key and line, as
    :class:`~couturier.core.yamltext.YamlDocument` records them) in the spec document ``raw``:
    a key of ``env`` is named ``env.KEY``, any other by itself."""
    env = raw.get("env") if isinstance(raw, Mapping) else None
    return [
        Violation(
            f"env.{_key(key)}" if isinstance(env, Mapping) and key in env else _key(key),
            key,
            f"is written more than once (line {line})",
        )
        for key, line in duplicates
    ]
