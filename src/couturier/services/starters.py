"""The starter images a deployment offers: the shipped ones, and its own beside them.

A site adds starters (or replaces a shipped one of the same name) by putting ``<name>.yaml``
files in the settings' ``starters_dir``; they are checked like the shipped ones
(``docs/starters.md``), against the releases the settings configure.

:func:`line_versions` says, per line, which version of its primary package the line's release
offers now and the full version a build would tag (``3.13.5``), from the catalog (refreshed
first when it has no snapshot yet, as every command does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from couturier.core.families import newest_line
from couturier.core.starter import ImageLine, Starter, full_version, load_starters
from couturier.core.suggest import did_you_mean
from couturier.core.text import named, shown
from couturier.debian.transport import Transport
from couturier.errors import ConfigError, InputError, NotFoundError, SourceError
from couturier.services import catalog as catalog_service
from couturier.settings import Settings

__all__ = ["LineVersion", "get_starter", "line_versions", "select_lines", "starters"]

Say = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default ``say``: no progress output."""


def starters(settings: Settings) -> Mapping[str, Starter]:
    """Every starter by name: the shipped ones, then the site's (which win on a name).

    Raises :class:`ConfigError` naming the file and field of a malformed site starter.
    """
    found = dict(load_starters())
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
        )
    return [line for line in starter.lines if line.version in labels]


@dataclass(frozen=True)
class LineVersion:
    """A line of a starter and what its release offers now.

    ``package_version`` is the newest version of the line's primary package in its release
    (None when the release does not have it, or its catalog cannot be read: ``problem`` says
    why); ``full_version`` the version a build would tag (``3.13.5``, see
    :func:`couturier.core.starter.full_version`). ``newest`` marks the starter's most advanced
    line; ``ended`` a line past its end of life on ``today``.
    """

    line: ImageLine
    package_version: str | None
    full_version: str | None
    newest: bool
    ended: bool
    problem: str = ""

    def to_json(self) -> dict[str, object]:
        """``{"label", "release", "primary", "packages", "env", "primary_version",
        "full_version", "eol", "ended", "newest", "problem"}`` (``packages`` and ``env`` the
        line's own; ``eol`` as ``YYYY-MM-DD``; ``problem`` None when there is none)."""
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
            "problem": self.problem or None,
        }


def line_versions(
    settings: Settings,
    starter: Starter,
    arch: str | None = None,
    *,
    today: dt.date | None = None,
    say: Say = _quiet,
    transport: Transport | None = None,
) -> list[LineVersion]:
    """Every line of ``starter``, in its order, with what its release offers on ``arch`` (the
    first configured architecture by default).

    Cost: one catalog load per release (a refresh the first time) and one lookup per line. A
    release the settings do not configure, or whose catalog cannot be read or refreshed, gives
    its lines no version and the reason in ``problem``, so the others are still shown. Raises
    :class:`ConfigError` for an unknown architecture.
    """
    arch = settings.check_architecture(arch or settings.architectures[0])
    today = today or dt.datetime.now(dt.UTC).date()
    newest = newest_line(starter).version
    out: list[LineVersion] = []
    for line in starter.lines:
        package_version: str | None = None
        problem = ""
        try:
            catalog = catalog_service.catalog(settings, line.release, arch, say, transport)
            versions = catalog.versions(line.primary)
            if versions:
                package_version = versions[0].version
            else:
                problem = f"{line.primary} is not in {line.release} for {arch}"
        except (ConfigError, NotFoundError, SourceError) as error:
            problem = error.message
        version = full_version(package_version, line.version) if package_version else None
        out.append(
            LineVersion(
                line, package_version, version, line.version == newest, line.eol < today, problem
            )
        )
    return out
