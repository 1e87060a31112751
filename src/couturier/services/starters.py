"""The starter images a deployment offers: the shipped ones, and its own beside them.

A site adds starters (or replaces a shipped one of the same name) by putting ``<name>.yaml``
files in the settings' ``starters_dir``; they are checked like the shipped ones
(``docs/starters.md``), against the releases the settings configure. :func:`starters` and
:func:`get_starter` are the one lookup of starters: every command, check and build asks them.

Reading a starter file is done here (:func:`load_starter_file`): the YAML through
:func:`couturier.yamlfile.load_yaml`, the files its ``files`` entries name from beside it (a
regular file inside the starter's directory, at most 1 MiB), the validation by
:func:`couturier.core.starter.parse_starter`. The shipped set is read once per
:class:`ShippedStarters` (20 ms for the eight files, asked for several times per command).

:func:`line_versions` says, per line, which version of its primary package the line's release
offers now and the full version a build would tag (``3.13.5``), from the catalog (refreshed
first when it has no snapshot yet, as every command does).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from couturier.core.families import newest_line
from couturier.core.starter import (
    MAX_STARTER_FILE,
    ImageLine,
    SourceUnreadable,
    Starter,
    full_version,
    parse_starter,
)
from couturier.core.suggest import close_names, did_you_mean
from couturier.core.text import named, shown
from couturier.core.yamltext import YamlProblem, YamlUnreadable
from couturier.errors import (
    Code,
    ConfigError,
    InputError,
    NotFoundError,
    Problem,
    SourceError,
)
from couturier.settings import DEFAULT_RELEASES, Settings
from couturier.yamlfile import load_yaml

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext

__all__ = [
    "LineVersion",
    "ShippedStarters",
    "get_starter",
    "line_versions",
    "load_starter_file",
    "load_starters",
    "select_lines",
    "shipped_starters",
    "starter_document",
    "starter_summary",
    "starters",
]


def load_starter_file(path: Path, releases: Collection[str]) -> Starter:
    """Read and validate the starter file at ``path``, whose lines may name ``releases``; its
    name must match the file's stem.

    Raises :class:`ConfigError` naming the file (unreadable, not YAML, or invalid).
    """
    try:
        raw = load_yaml(path).data  # bounded as specs and settings are: a site file is input
    except YamlUnreadable as problem:
        raise ConfigError(
            f"cannot read starter file {path}: {problem.what}",
            code=Code.STARTER_INVALID,
            fields={"path": str(path)},
        ) from None
    except YamlProblem as problem:
        raise ConfigError(
            f"starter file {path} {problem.what}",
            problem.hint,
            code=Code.STARTER_INVALID,
            fields={"path": str(path)},
        ) from None
    starter = parse_starter(raw, str(path), releases, lambda name: _read_source(path.parent, name))
    if starter.name != path.stem:
        raise ConfigError(
            f"starter file {path}: name is {starter.name!r} but the file is {path.name}",
            "see docs/starters.md for the format",
            code=Code.STARTER_INVALID,
            fields={"path": str(path), "name": starter.name},
        )
    return starter


def _read_source(base_dir: Path, name: str) -> bytes:
    """The bytes of the file ``name`` beside a starter file, refused
    (:class:`SourceUnreadable`) unless, with every link followed, it is a regular file inside
    ``base_dir``; at most one byte more than :data:`MAX_STARTER_FILE` is read (the bound is
    :func:`parse_starter`'s rule).

    A link in the starters directory to ``/etc/shadow`` (or to a directory above it) would
    otherwise put a file of the machine that builds into every image of the starter; a FIFO
    or a device would hang or never end the read.
    """
    try:
        root = base_dir.resolve(strict=True)
        target = (base_dir / name).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a link loop"
        raise SourceUnreadable(f"cannot be read ({reason})") from exc
    if not target.is_relative_to(root):
        raise SourceUnreadable(
            f"leads out of {root} (to {target}): it must stay beside the starter file"
        )
    if not target.is_file():
        raise SourceUnreadable(f"is not a regular file ({target})")
    try:
        with target.open("rb") as handle:
            return handle.read(MAX_STARTER_FILE + 1)
    except OSError as exc:
        raise SourceUnreadable(f"cannot be read ({exc.strerror})") from exc


def load_starters(directory: Path, releases: Collection[str]) -> dict[str, Starter]:
    """Every starter in ``directory`` by name, whose lines may name ``releases``.

    Raises :class:`ConfigError` for a malformed file (every ``*.yaml`` file of ``directory``
    is read as a starter), its hint saying so. Nothing else loads starters: commands that need
    none (``packages resolve``, ``catalog refresh``) work whatever the directory holds.
    """
    try:
        return _load_dir(directory, releases)
    except ConfigError as error:
        # A stray YAML file (a settings file kept beside the starters) is no starter: say that
        # every *.yaml file there is read as one. Only the commands that need starters load them.
        raise ConfigError(
            error.message,
            f"every *.yaml file in {directory} is read as a starter image (docs/starters.md); "
            "keep other YAML files, such as the settings file, elsewhere",
            code=Code.STARTER_INVALID,
            fields={"directory": str(directory), **error.fields},
        ) from None


def _load_dir(directory: Path, releases: Collection[str]) -> dict[str, Starter]:
    return {
        path.stem: load_starter_file(path, releases) for path in sorted(directory.glob("*.yaml"))
    }


class ShippedStarters:
    """The starters shipped with Couturier (``couturier/starters/*.yaml``), checked against the
    default releases and read on first use only: they are package data, the same for the
    whole life of a process. Safe to share between threads (a lock guards the first read).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._starters: Mapping[str, Starter] | None = None

    def get(self) -> Mapping[str, Starter]:
        """Every shipped starter by name (read-only). Raises :class:`ConfigError` for a
        malformed file (a broken installation)."""
        with self._lock:
            if self._starters is None:
                directory = self._directory or Path(str(resources.files("couturier") / "starters"))
                self._starters = MappingProxyType(_load_dir(directory, DEFAULT_RELEASES))
            return self._starters


# The shipped set of this installation: immutable data, read once.
_SHIPPED = ShippedStarters()


def shipped_starters() -> Mapping[str, Starter]:
    """The starters shipped with Couturier, by name (see :class:`ShippedStarters`)."""
    return _SHIPPED.get()


def starters(settings: Settings) -> Mapping[str, Starter]:
    """Every starter by name: the shipped ones, then the site's (which win on a name).

    Raises :class:`ConfigError` naming the file and field of a malformed site starter.
    """
    found = dict(shipped_starters())
    if settings.starters_dir is not None and settings.starters_dir.is_dir():
        found.update(load_starters(settings.starters_dir, tuple(settings.releases)))
    return found


def get_starter(settings: Settings, name: str) -> Starter:
    """The starter called ``name``; :class:`NotFoundError` otherwise, its message naming the
    nearest starters (``no starter image called 'pyhton'; did you mean python?``) and its hint
    listing them all."""
    known = starters(settings)
    try:
        return known[name]
    except KeyError:
        listed = ", ".join(sorted(known))
        raise NotFoundError(
            f"no starter image called {shown(name)}{did_you_mean(name, known)}",
            f"starters: {listed}",
            code=Code.STARTER_NOT_FOUND,
            fields={
                "starter": name,
                "suggestions": close_names(name, known),
                "known": sorted(known),
            },
        ) from None


def select_lines(starter: Starter, labels: Sequence[str] | None) -> list[ImageLine]:
    """The lines of ``starter`` labelled ``labels`` (every line for None), in the starter's
    order. Raises :class:`InputError` naming the labels it does not have, the nearest ones
    (``python has no line 3.12; did you mean 3.11 or 3.13?``) and, in the hint, all of them."""
    if labels is None:
        return list(starter.lines)
    known = [line.version for line in starter.lines]
    missing = [label for label in dict.fromkeys(labels) if label not in known]
    if missing:
        near = did_you_mean(missing[0], known) if len(missing) == 1 else ""
        raise InputError(
            f"{starter.name} has no line {', '.join(named(m) for m in missing[:5])}{near}",
            f"its lines: {', '.join(known)}",
            code=Code.LINE_NOT_FOUND,
            fields={
                "starter": starter.name,
                "lines": missing,
                "suggestions": close_names(missing[0], known) if len(missing) == 1 else [],
                "known": known,
            },
        )
    return [line for line in starter.lines if line.version in labels]


@dataclass(frozen=True)
class LineVersion:
    """A line of a starter and what its release offers now.

    ``package_version`` is the newest version of the line's primary package in its release
    (None when the release does not have it, or its catalog cannot be read: ``problem`` says
    why, a :class:`~couturier.errors.Problem`); ``full_version`` the version a build would tag
    (``3.13.5``, see :func:`couturier.core.starter.full_version`). ``newest`` marks the
    starter's most advanced line; ``ended`` a line past its end of life on ``today``.
    """

    line: ImageLine
    package_version: str | None
    full_version: str | None
    newest: bool
    ended: bool
    problem: Problem | None = None

    def to_json(self) -> dict[str, object]:
        """``{"label", "release", "primary", "packages", "env", "primary_version",
        "full_version", "eol", "ended", "newest", "problem"}`` (``packages`` and ``env`` the
        line's own; ``eol`` as ``YYYY-MM-DD``; ``problem`` ``{"code", "message", "fields"}``,
        None when there is none)."""
        return {
            "label": self.line.version,
            "release": self.line.release,
            "primary": self.line.primary,
            "packages": list(self.line.packages),
            "env": dict(self.line.env),
            "primary_version": self.package_version,
            "full_version": self.full_version,
            "eol": self.line.eol.isoformat(),
            "ended": self.ended,
            "newest": self.newest,
            "problem": self.problem.to_json() if self.problem else None,
        }


def line_versions(
    context: CatalogContext,
    starter: Starter,
    arch: str | None = None,
    *,
    today: dt.date | None = None,
) -> list[LineVersion]:
    """Every line of ``starter``, in its order, with what its release offers on ``arch`` (the
    first configured architecture by default), through the context's catalogs.

    Cost: one catalog load per release (a refresh the first time) and one lookup per line. A
    release the settings do not configure, or whose catalog cannot be read or refreshed, gives
    its lines no version and the reason in ``problem``, so the others are still shown. Raises
    :class:`ConfigError` for an unknown architecture.
    """
    settings = context.settings
    arch = settings.check_architecture(arch or settings.architectures[0])
    today = today or dt.datetime.now(dt.UTC).date()
    newest = newest_line(starter).version
    out: list[LineVersion] = []
    for line in starter.lines:
        package_version: str | None = None
        problem: Problem | None = None
        try:
            catalog = context.catalogs(line.release, arch)
            versions = catalog.versions(line.primary)
            if versions:
                package_version = versions[0].version
            else:
                problem = Problem(
                    Code.PACKAGE_NOT_FOUND,
                    f"{line.primary} is not in {line.release} for {arch}",
                    {
                        "package": line.primary,
                        "release": line.release,
                        "architecture": arch,
                        "suggestions": [],
                    },
                )
        except (ConfigError, NotFoundError, SourceError) as error:
            problem = error.problem
        version = full_version(package_version, line.version) if package_version else None
        out.append(
            LineVersion(
                line, package_version, version, line.version == newest, line.eol < today, problem
            )
        )
    return out


def starter_summary(starter: Starter) -> dict[str, Any]:
    """``{"name", "description", "lines", "newest"}``: a starter as lists show it."""
    return {
        "name": starter.name,
        "description": starter.description,
        "lines": [line.version for line in starter.lines],
        "newest": newest_line(starter).version,
    }


def starter_document(starter: Starter, lines: Sequence[LineVersion], arch: str) -> dict[str, Any]:
    """``starter`` with its ``lines`` read for ``arch``, as ``starters show --json`` prints it
    and ``GET /v1/starters/{starter}`` answers: ``{"name", "description", "packages",
    "entrypoint", "cmd", "user", "uid", "workdir", "ports", "env", "newest", "architecture",
    "lines": [...]}``, each line as :meth:`LineVersion.to_json` says."""
    return {
        "name": starter.name,
        "description": starter.description,
        "packages": list(starter.packages),
        "entrypoint": list(starter.entrypoint),
        "cmd": list(starter.cmd),
        "user": starter.user,
        "uid": starter.uid,
        "workdir": starter.workdir,
        "ports": list(starter.ports),
        "env": dict(starter.env),
        "newest": newest_line(starter).version,
        "architecture": arch,
        "lines": [line.to_json() for line in lines],
    }
