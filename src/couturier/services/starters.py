"""The starter images a deployment offers: the shipped ones, and its own beside them.

A site adds starters (or replaces a shipped one of the same name) by putting ``<name>.yaml``
files in the settings' ``starters_dir``; they are checked like the shipped ones
(``docs/starters.md``), against the releases the settings configure.
"""

from __future__ import annotations

from collections.abc import Mapping

from couturier.core.starter import Starter, load_starters
from couturier.errors import NotFoundError
from couturier.settings import Settings

__all__ = ["get_starter", "starters"]


def starters(settings: Settings) -> Mapping[str, Starter]:
    """Every starter by name: the shipped ones, then the site's (which win on a name).

    Raises :class:`ConfigError` naming the file and field of a malformed site starter.
    """
    found = dict(load_starters())
    if settings.starters_dir is not None and settings.starters_dir.is_dir():
        found.update(load_starters(settings.starters_dir, tuple(settings.releases)))
    return found


def get_starter(settings: Settings, name: str) -> Starter:
    """The starter called ``name``; :class:`NotFoundError` listing the known ones otherwise."""
    known = starters(settings)
    try:
        return known[name]
    except KeyError:
        listed = ", ".join(sorted(known))
        raise NotFoundError(f"no starter image called {name!r}", f"starters: {listed}") from None
