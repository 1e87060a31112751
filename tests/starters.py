"""Starters and specs for tests that have no settings of their own: the default settings (no
file, no environment), so the lookup is the one every command uses
(:func:`couturier.services.starters.get_starter`), with the shipped starters only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from couturier.core.spec import ImageSpec, SpecCheck, Violation, parse_spec
from couturier.core.starter import Starter
from couturier.services.specs import load_spec
from couturier.services.starters import get_starter, starters
from couturier.settings import DEFAULT_RELEASES, Settings, load_settings

__all__ = [
    "DEFAULT_RELEASES",
    "check_spec",
    "default_settings",
    "read_spec",
    "shipped",
    "starter_named",
]


def default_settings() -> Settings:
    """The settings of a machine with no settings file and no COUTURIER_* variables."""
    return load_settings(None, env={})


def shipped() -> Mapping[str, Starter]:
    """Every starter the default settings offer (the shipped ones), by name."""
    return starters(default_settings())


def starter_named(name: str) -> Starter:
    """The starter ``name`` as the default settings offer it."""
    return get_starter(default_settings(), name)


def check_spec(
    raw: Any,
    *,
    source: str = "spec",
    duplicates: list[Violation] | None = None,
    checks: Sequence[SpecCheck] = (),
) -> ImageSpec:
    """:func:`couturier.core.spec.parse_spec` against the shipped starters."""
    return parse_spec(raw, shipped(), source=source, duplicates=duplicates, checks=checks)


def read_spec(path: Path, checks: Sequence[SpecCheck] = ()) -> ImageSpec:
    """:func:`couturier.services.specs.load_spec` against the shipped starters."""
    return load_spec(path, shipped(), checks)
