"""Starter images: the standard images shipped with Couturier, one YAML file each.

A :class:`Starter` is a frozen value read from ``couturier/starters/<name>.yaml`` (the format is
described in ``docs/starters.md``): a base package set, the OCI config (entrypoint, cmd, user,
workdir, env, exposed ports), what the build adds for the starter's job (directories its user
owns, links, files such as an entrypoint script) and one :class:`ImageLine` per maintained
version. :func:`parse_starter` validates one parsed document; a malformed one raises
:class:`ConfigError` naming the file and the field, so a broken starter never reaches a build.

:func:`full_version` turns the Debian version of a line's primary package into the version tag of
the line (``3.11.2-6+deb12u6`` → ``3.11.2``). Pure: reading the starter files, and the files
their ``files`` entries name, is :mod:`couturier.services.starters`' job, which also looks
starters up (shipped and site ones).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from couturier.core.suggest import close_names, did_you_mean
from couturier.errors import Code, ConfigError, NotFoundError

__all__ = [
    "HOMES",
    "MAX_STARTER_FILE",
    "NONROOT_ID",
    "USERS",
    "ImageLine",
    "ReadSource",
    "SourceUnreadable",
    "Starter",
    "StarterFile",
    "full_version",
    "parse_starter",
]

# The uid and gid of the user without privileges images run as, as in distroless.
NONROOT_ID = 65532
# The users an image can run as (the build writes both into /etc/passwd) and their homes.
USERS: Mapping[str, int] = MappingProxyType({"root": 0, "nonroot": NONROOT_ID})
HOMES: Mapping[str, str] = MappingProxyType({"root": "/root", "nonroot": "/home/nonroot"})

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.\-]+$")
_LABEL = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UPSTREAM = re.compile(r"^[0-9]+(?:\.[0-9]+)*")
_PORT = re.compile(r"^([0-9]{1,5})(?:/(tcp|udp))?$")
_PATH = re.compile(r"^(?:/[A-Za-z0-9._+@-]+)+$")
# A starter's file is read whole when the starter is loaded: bounded like a bundle's files.
MAX_STARTER_FILE = 1024 * 1024

_STARTER_FIELDS = frozenset(
    {
        "name",
        "description",
        "packages",
        "entrypoint",
        "cmd",
        "user",
        "workdir",
        "env",
        "ports",
        "writable",
        "links",
        "files",
        "smoke",
        "lines",
    }
)
_FILE_FIELDS = frozenset({"path", "source", "mode"})
_STARTER_REQUIRED = ("name", "description", "packages", "lines")
_LINE_FIELDS = frozenset({"version", "release", "primary", "packages", "eol", "env", "smoke"})
# A smoke command is a short argv run once inside each built image (no shell is assumed).
MAX_SMOKE_ARGS = 32
_LINE_REQUIRED = ("version", "release", "primary", "eol")


@dataclass(frozen=True)
class ImageLine:
    """One maintained version of a starter, built from one release.

    ``version`` is the label (``3.13``); ``env`` is added to (and overrides) the starter's env for
    this line only, e.g. a PATH naming ``/usr/lib/postgresql/17/bin``. ``smoke`` is the argv
    run once in every built image of the line before its tags move (the line's own, else the
    starter's ``smoke``; empty: none declared, the line is ``untested``).
    """

    version: str
    release: str
    primary: str
    packages: tuple[str, ...]
    eol: dt.date
    env: Mapping[str, str]
    smoke: tuple[str, ...] = ()

    def package_set(self, starter: Starter) -> tuple[str, ...]:
        """What the line installs: the starter's base packages, the primary, the line's own."""
        names = (*starter.packages, self.primary, *self.packages)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class StarterFile:
    """A file the build places in every image of a starter (e.g. an entrypoint script):
    ``path`` is absolute, ``data`` was read from the starter's ``source`` file."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Starter:
    """A standard image: base packages, OCI configuration and its image lines.

    ``ports`` are ``"8080/tcp"`` strings (the config's ExposedPorts); ``writable`` the absolute
    directories the build makes owned by the image's user; ``links`` absolute link path →
    target, made when the path is free; ``files`` placed as they are.
    """

    name: str
    description: str
    packages: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    workdir: str
    env: Mapping[str, str]
    lines: tuple[ImageLine, ...]
    ports: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    files: tuple[StarterFile, ...] = ()

    @property
    def uid(self) -> int:
        """Numeric user id the image runs as (``nonroot`` is 65532, as in distroless)."""
        return USERS[self.user]

    @property
    def home(self) -> str:
        """The home directory of the image's user (``/home/nonroot``, ``/root``)."""
        return HOMES[self.user]

    @property
    def definition_digest(self) -> str:
        """The sha256 (hex) of the starter's whole definition (its repr): what caches of work
        done for a starter are keyed by, since a site may edit its own starters."""
        return hashlib.sha256(repr(self).encode()).hexdigest()

    @property
    def env_keys(self) -> frozenset[str]:
        """Every env key the starter sets, in any line (a private image may not repeat one)."""
        return frozenset(self.env).union(*(line.env for line in self.lines))

    def line_env(self, line: ImageLine) -> dict[str, str]:
        """The env of ``line``: the starter's, then the line's own on top."""
        return {**self.env, **line.env}

    def line(self, version: str) -> ImageLine:
        """The line labelled ``version``; :class:`NotFoundError` listing the labels otherwise."""
        for line in self.lines:
            if line.version == version:
                return line
        labels = [line.version for line in self.lines]
        raise NotFoundError(
            f"starter {self.name} has no line {version!r}{did_you_mean(version, labels)}",
            f"lines: {', '.join(labels)}",
            code=Code.LINE_NOT_FOUND,
            fields={
                "starter": self.name,
                "lines": [version],
                "suggestions": close_names(version, labels),
                "known": labels,
            },
        )


def full_version(debian_version: str, label: str) -> str:
    """The version tag of a line from its primary package's Debian version.

    The epoch and the Debian revision are dropped and the upstream version is cut at the first
    character that is not a digit or a dot-separated number (``+dfsg``, ``~rc1``, ``+ds``...):
    ``3.11.2-6+deb12u6`` → ``3.11.2``, ``20.19.2+dfsg-1`` → ``20.19.2``, ``1:2.7`` → ``2.7``.
    When the result does not belong to ``label`` (neither equal to it nor starting with
    ``label.``), e.g. a primary package versioned independently of the line, ``label`` is
    returned, so a tag never contradicts the line.
    """
    text = debian_version.strip()
    _, colon, rest = text.partition(":")
    if colon:
        text = rest
    if "-" in text:
        text = text.rsplit("-", 1)[0]
    match = _UPSTREAM.match(text)
    upstream = match.group(0) if match else ""
    if upstream == label or upstream.startswith(label + "."):
        return upstream
    return label


def _fail(source: str, field: str, problem: str) -> ConfigError:
    return ConfigError(
        f"starter file {source}: {field} {problem}",
        "see docs/starters.md for the format",
        code=Code.STARTER_INVALID,
        fields={"path": source, "field": field, "rule": problem},
    )


def _strings(
    value: Any, source: str, field: str, pattern: re.Pattern[str] | None = None
) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, field, "must be a list of non-empty strings")
    for item in value:
        if _has_control(item):
            raise _fail(source, field, f"has {item!r}, which holds a control character")
    if pattern is not None:
        for item in value:
            if not pattern.fullmatch(item):
                raise _fail(source, field, f"has {item!r}, which is not a package name")
    return tuple(value)


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a character below 0x20 or 0x7f, which an OCI config or a
    command line would carry into the image."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _env(value: Any, source: str, field: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise _fail(source, field, "must be a mapping of NAME: value")
    for key, text in value.items():
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
            raise _fail(source, f"{field}.{key}", "is not a POSIX variable name")
        if not isinstance(text, str) or not text:
            raise _fail(source, f"{field}.{key}", "must be a non-empty string (quote numbers)")
        if _has_control(text):
            raise _fail(
                source, f"{field}.{key}", "must not hold control characters (NUL, newline...)"
            )
    return MappingProxyType(dict(value))


def _ports(value: Any, source: str) -> tuple[str, ...]:
    """``[8080, "53/udp"]`` → ``("8080/tcp", "53/udp")``: the keys of OCI's ExposedPorts."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(source, "ports", 'must be a list of port numbers (8080 or "53/udp")')
    ports: list[str] = []
    for item in value:
        match = _PORT.fullmatch(str(item)) if isinstance(item, (int, str)) else None
        if isinstance(item, bool) or match is None or not 0 < int(match.group(1)) < 65536:
            raise _fail(source, "ports", f"has {item!r}, which is not a port (8080 or 53/udp)")
        ports.append(f"{int(match.group(1))}/{match.group(2) or 'tcp'}")
    return tuple(dict.fromkeys(ports))


def _path(value: Any, source: str, field: str) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value) or "/../" in value + "/":
        raise _fail(source, field, f"has {value!r}, which is not a plain absolute path")
    return value


def _links(value: Any, source: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise _fail(source, "links", "must be a mapping of /absolute/link: target")
    links: dict[str, str] = {}
    for link, target in value.items():
        _path(link, source, "links")
        if not isinstance(target, str) or not target or "\0" in target:
            raise _fail(source, f"links.{link}", "must name a target")
        links[link] = target
    return MappingProxyType(links)


class SourceUnreadable(Exception):  # noqa: N818 - a reason, turned into a ConfigError
    """Raised by a :data:`ReadSource` for a file it refuses or cannot read: ``problem`` follows
    the field's name in the :class:`ConfigError` (``cannot be read (No such file or
    directory)``, ``leads out of /srv/starters (to /etc/shadow): ...``)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


# The contents of the file a starter's ``files[].source`` names (a plain relative name, beside
# the starter file): at most MAX_STARTER_FILE + 1 bytes; SourceUnreadable when it cannot be read.
ReadSource = Callable[[str], bytes]


def _files(value: Any, source: str, read_source: ReadSource | None) -> tuple[StarterFile, ...]:
    """Each ``{path, source, mode}`` with its content from ``read_source(source)``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(source, "files", "must be a list of {path, source, mode}")
    files: list[StarterFile] = []
    for i, item in enumerate(value):
        where = f"files[{i}]"
        raw = _check_fields(item, source, where, _FILE_FIELDS, ("path", "source"))
        path = _path(raw["path"], source, f"{where}.path")
        name = raw["source"]
        if not isinstance(name, str) or not _PATH.fullmatch("/" + name) or ".." in name.split("/"):
            raise _fail(source, f"{where}.source", "must be a file name beside the starter file")
        if read_source is None:
            raise _fail(source, f"{where}.source", "cannot be read: the starter has no directory")
        try:
            data = read_source(name)
        except SourceUnreadable as unreadable:
            raise _fail(source, f"{where}.source", unreadable.problem) from None
        if len(data) > MAX_STARTER_FILE:
            raise _fail(
                source, f"{where}.source", f"is larger than {MAX_STARTER_FILE} bytes (1 MiB)"
            )
        mode = raw.get("mode", "0644")
        if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
            raise _fail(source, f"{where}.mode", 'must be a quoted octal mode such as "0755"')
        files.append(StarterFile(path, data, int(mode, 8)))
    return tuple(files)


def _check_fields(
    raw: Any, source: str, where: str, allowed: frozenset[str], required: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(source, where, "must be a mapping")
    for key in raw:
        if key not in allowed:
            raise _fail(
                source,
                f"{where}.{key}" if where != "file" else str(key),
                f"is not a known field (known: {', '.join(sorted(allowed))})",
            )
    for key in required:
        if key not in raw:
            raise _fail(source, f"{where}.{key}" if where != "file" else key, "is missing")
    return raw


def _smoke(value: Any, source: str, field: str) -> tuple[str, ...]:
    """A smoke command: a list of 1 to :data:`MAX_SMOKE_ARGS` strings, the first an absolute
    path or a program name (looked up in the image's PATH by the container runtime)."""
    command = _strings(value, source, field)
    if value is not None and not 0 < len(command) <= MAX_SMOKE_ARGS:
        raise _fail(source, field, f"must be a command of 1 to {MAX_SMOKE_ARGS} arguments")
    return command


def _line(
    raw: Any,
    source: str,
    where: str,
    releases: Collection[str],
    smoke: tuple[str, ...] = (),
) -> ImageLine:
    raw = _check_fields(raw, source, where, _LINE_FIELDS, _LINE_REQUIRED)
    version = raw["version"]
    if not isinstance(version, str) or not _LABEL.fullmatch(version):
        raise _fail(source, f"{where}.version", 'must be a quoted version label such as "3.13"')
    release = raw["release"]
    if release not in releases:
        raise _fail(
            source,
            f"{where}.release",
            f"names unknown release {release!r} (known: {', '.join(releases)})",
        )
    primary = raw["primary"]
    if not isinstance(primary, str) or not _PACKAGE.fullmatch(primary):
        raise _fail(source, f"{where}.primary", "must be a package name")
    eol = raw["eol"]
    if isinstance(eol, str):
        try:
            eol = dt.date.fromisoformat(eol)
        except ValueError:
            eol = None
    if not isinstance(eol, dt.date) or isinstance(eol, dt.datetime):
        raise _fail(source, f"{where}.eol", "must be a date written YYYY-MM-DD")
    return ImageLine(
        version=version,
        release=str(release),
        primary=primary,
        packages=_strings(raw.get("packages"), source, f"{where}.packages", _PACKAGE),
        eol=eol,
        env=_env(raw.get("env"), source, f"{where}.env"),
        smoke=_smoke(raw.get("smoke"), source, f"{where}.smoke") or smoke,
    )


def parse_starter(
    raw: Any,
    source: str,
    releases: Collection[str],
    read_source: ReadSource | None = None,
) -> Starter:
    """Validate one starter document (already parsed YAML) read from ``source``: its lines may
    name ``releases`` (the settings' release names); the contents of the files its ``files``
    name come from ``read_source`` (none can be named without it).

    Raises :class:`ConfigError` naming ``source`` and the first bad field: an unknown or missing
    field, a wrong type, an unknown release, a duplicate line label, an unknown user, a working
    directory the user cannot write (neither its home nor under a ``writable`` directory).
    """
    raw = _check_fields(raw, source, "file", _STARTER_FIELDS, _STARTER_REQUIRED)
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(source, "name", "must be lowercase letters, digits and hyphens")
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise _fail(source, "description", "must be a non-empty string")
    if _has_control(description.strip()):
        raise _fail(source, "description", "must be one line without control characters")
    user = raw.get("user", "nonroot")
    if user not in USERS:
        raise _fail(source, "user", f"must be one of {', '.join(USERS)}")
    workdir = raw.get("workdir", HOMES[user])
    if not isinstance(workdir, str) or not workdir.startswith("/"):
        raise _fail(source, "workdir", "must be an absolute path")
    writable_raw = _strings(raw.get("writable"), source, "writable")
    writable = tuple(_path(item, source, "writable") for item in writable_raw)
    if user != "root" and not any(
        workdir == top or workdir.startswith(top + "/") for top in (HOMES[user], *writable)
    ):
        raise _fail(
            source, "workdir", f"must be {HOMES[user]} or under a writable directory of {user}"
        )
    lines_raw = raw["lines"]
    if not isinstance(lines_raw, list) or not lines_raw:
        raise _fail(source, "lines", "must be a non-empty list")
    smoke = _smoke(raw.get("smoke"), source, "smoke")
    lines = tuple(
        _line(item, source, f"lines[{i}]", releases, smoke) for i, item in enumerate(lines_raw)
    )
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.version in seen:
            raise _fail(source, f"lines[{i}].version", f"repeats label {line.version!r}")
        seen.add(line.version)
    return Starter(
        name=name,
        description=description.strip(),
        packages=_strings(raw["packages"], source, "packages", _PACKAGE),
        entrypoint=_strings(raw.get("entrypoint"), source, "entrypoint"),
        cmd=_strings(raw.get("cmd"), source, "cmd"),
        user=str(user),
        workdir=workdir,
        env=_env(raw.get("env"), source, "env"),
        lines=lines,
        ports=_ports(raw.get("ports"), source),
        writable=writable,
        links=_links(raw.get("links"), source),
        files=_files(raw.get("files"), source, read_source),
    )
