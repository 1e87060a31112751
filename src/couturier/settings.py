"""Settings: where Couturier keeps its files and which package sources it reads.

Settings are a frozen value built once (defaults, then a YAML file, then environment variables) and
handed to whatever needs them. The embedded defaults read Debian's mirror over HTTP:
releases ``bookworm``, ``trixie`` and ``forky``, each its suite plus ``-updates`` and
``-security``, component ``main``, architectures ``amd64`` and ``arm64``, verified with the Debian
archive keys shipped in the package. Any other Debian-format repository (another mirror, an
internal aptly/pulp repository, Ubuntu) is configuration alone::

    # couturier.yaml (path in $COUTURIER_CONFIG or --config)
    architectures: [amd64]
    mirrors:
      ubuntu: {url: "http://archive.ubuntu.com/ubuntu",
               keyring: /usr/share/keyrings/ubuntu-archive-keyring.gpg,
               arch_urls: {arm64: "http://ports.ubuntu.com/ubuntu-ports"},
               valid_until: enforce}   # or warn (the default) or ignore
    releases:
      noble:
        components: [main, universe]
        suites:
          - {mirror: ubuntu, suite: noble}
          - {mirror: ubuntu, suite: noble-updates}
          - {mirror: ubuntu, suite: noble-security}
    starters_dir: starters      # site-local starter images, beside the shipped ones

Environment: ``COUTURIER_DATA_DIR``, ``COUTURIER_CACHE_DIR``, ``COUTURIER_STARTERS_DIR``,
``COUTURIER_MIRROR`` (replaces the ``debian`` mirror URL) and ``COUTURIER_SECURITY_MIRROR``
(replaces ``debian-security``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from couturier.errors import ConfigError

__all__ = ["Mirror", "Release", "Settings", "Suite", "builtin_keyring", "load_settings"]

DEFAULT_ARCHITECTURES = ("amd64", "arm64")
DEFAULT_RELEASES = ("bookworm", "trixie", "forky")
VALID_UNTIL_POLICIES = ("enforce", "warn", "ignore")
KNOWN_ARCHITECTURES = frozenset(
    {
        "amd64",
        "arm64",
        "armel",
        "armhf",
        "i386",
        "mips64el",
        "ppc64el",
        "riscv64",
        "s390x",
        "loong64",
    }
)


def builtin_keyring(name: str) -> Path:
    """Path of a keyring shipped with Couturier (``debian`` → the Debian archive keys)."""
    return Path(str(resources.files("couturier") / "keyrings" / f"{name}-archive-keyring.gpg"))


@dataclass(frozen=True)
class Mirror:
    """A Debian-format repository root (the directory holding ``dists/``)."""

    name: str
    url: str
    keyring: Path
    arch_urls: Mapping[str, str] = field(default_factory=dict)
    # What an InRelease past its Valid-Until gets: "enforce" refuses it (a replayed or frozen
    # mirror), "warn" accepts it and says so in the refresh report, "ignore" accepts it silently.
    valid_until: str = "warn"

    def url_for(self, architecture: str) -> str:
        """Root URL serving ``architecture`` (Ubuntu keeps arm64 on another host)."""
        return self.arch_urls.get(architecture, self.url).rstrip("/")


@dataclass(frozen=True)
class Suite:
    """One suite of a mirror (``dists/<name>``) and the components read from it."""

    mirror: Mirror
    name: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Release:
    """A named set of suites used together; the newest version across them wins."""

    name: str
    suites: tuple[Suite, ...]


@dataclass(frozen=True)
class Settings:
    """Everything configurable, frozen. Build with :func:`load_settings`."""

    data_dir: Path
    cache_dir: Path
    releases: Mapping[str, Release]
    architectures: tuple[str, ...]
    # Site-local starter images (``<name>.yaml``), beside and over the shipped ones.
    starters_dir: Path | None = None

    def release(self, name: str) -> Release:
        """The release called ``name``; :class:`ConfigError` listing the known ones otherwise."""
        try:
            return self.releases[name]
        except KeyError:
            known = ", ".join(self.releases)
            raise ConfigError(
                f"unknown release {name!r}", f"known releases: {known}; add one in the settings"
            ) from None

    def check_architecture(self, name: str) -> str:
        """Return ``name`` if it is a configured architecture, else raise :class:`ConfigError`."""
        if name not in self.architectures:
            known = ", ".join(self.architectures)
            raise ConfigError(
                f"unknown architecture {name!r}", f"configured architectures: {known}"
            )
        return name

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"


def _xdg(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / "couturier"


def _default_mirrors(env: Mapping[str, str]) -> dict[str, Mirror]:
    keyring = builtin_keyring("debian")
    return {
        "debian": Mirror(
            "debian", env.get("COUTURIER_MIRROR", "http://deb.debian.org/debian"), keyring
        ),
        "debian-security": Mirror(
            "debian-security",
            env.get("COUTURIER_SECURITY_MIRROR", "http://deb.debian.org/debian-security"),
            keyring,
        ),
    }


def _default_release(name: str, mirrors: Mapping[str, Mirror]) -> Release:
    components = ("main",)
    return Release(
        name,
        (
            Suite(mirrors["debian"], name, components),
            Suite(mirrors["debian"], f"{name}-updates", components),
            Suite(mirrors["debian-security"], f"{name}-security", components),
        ),
    )


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ConfigError(f"{where} has no {key!r}", "see the settings example in the README")
    return mapping[key]


def _mirror_from(name: str, raw: Any, base: Path) -> Mirror:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"mirror {name!r} must be a mapping with url and keyring")
    keyring_text = str(raw.get("keyring", "builtin:debian"))
    if keyring_text.startswith("builtin:"):
        keyring = builtin_keyring(keyring_text.removeprefix("builtin:"))
    else:
        keyring = (base / keyring_text).resolve()
    if not keyring.is_file():
        raise ConfigError(
            f"keyring {keyring} of mirror {name!r} does not exist",
            "point keyring at the repository's public key file (binary or armored)",
        )
    arch_urls = {str(k): str(v) for k, v in (raw.get("arch_urls") or {}).items()}
    valid_until = str(raw.get("valid_until", "warn"))
    if valid_until not in VALID_UNTIL_POLICIES:
        raise ConfigError(
            f"mirror {name!r} has valid_until {valid_until!r}",
            f"use one of {', '.join(VALID_UNTIL_POLICIES)}",
        )
    url = str(_require(raw, "url", f"mirror {name!r}"))
    return Mirror(name, url, keyring, arch_urls, valid_until)


def _releases_from(raw: Any, mirrors: Mapping[str, Mirror]) -> dict[str, Release]:
    if not isinstance(raw, Mapping):
        raise ConfigError("releases must be a mapping of release name to its suites")
    releases: dict[str, Release] = {}
    for name, body in raw.items():
        if not isinstance(body, Mapping):
            raise ConfigError(f"release {name!r} must be a mapping with suites")
        components = tuple(body.get("components") or ("main",))
        suites = []
        for entry in _require(body, "suites", f"release {name!r}"):
            mirror_name = str(_require(entry, "mirror", f"a suite of release {name!r}"))
            if mirror_name not in mirrors:
                raise ConfigError(
                    f"release {name!r} names unknown mirror {mirror_name!r}",
                    f"known mirrors: {', '.join(mirrors)}",
                )
            suite_components = tuple(entry.get("components") or components)
            suites.append(Suite(mirrors[mirror_name], str(entry["suite"]), suite_components))
        releases[str(name)] = Release(str(name), tuple(suites))
    return releases


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the defaults, the YAML file at ``path`` (or ``$COUTURIER_CONFIG``) and
    the environment. Raises :class:`ConfigError` naming the bad entry.
    """
    env = os.environ if env is None else env
    if path is None and env.get("COUTURIER_CONFIG"):
        path = Path(env["COUTURIER_CONFIG"])
    raw: Mapping[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from exc
        raw = loaded or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"settings file {path} must hold a mapping")
    base = path.parent if path is not None else Path.cwd()

    mirrors = _default_mirrors(env)
    for name, body in (raw.get("mirrors") or {}).items():
        mirrors[str(name)] = _mirror_from(str(name), body, base)
    if "releases" in raw:
        releases = _releases_from(raw["releases"], mirrors)
    else:
        releases = {name: _default_release(name, mirrors) for name in DEFAULT_RELEASES}

    architectures = tuple(raw.get("architectures") or DEFAULT_ARCHITECTURES)
    for arch in architectures:
        if arch not in KNOWN_ARCHITECTURES:
            raise ConfigError(f"unknown architecture {arch!r} in the settings")

    settings = Settings(
        data_dir=Path(raw.get("data_dir") or _xdg("XDG_DATA_HOME", ".local/share")),
        cache_dir=Path(raw.get("cache_dir") or _xdg("XDG_CACHE_HOME", ".cache")),
        releases=releases,
        architectures=architectures,
        starters_dir=base / raw["starters_dir"] if raw.get("starters_dir") else None,
    )
    if env.get("COUTURIER_STARTERS_DIR"):
        settings = replace(settings, starters_dir=Path(env["COUTURIER_STARTERS_DIR"]))
    if env.get("COUTURIER_DATA_DIR"):
        settings = replace(settings, data_dir=Path(env["COUTURIER_DATA_DIR"]))
    if env.get("COUTURIER_CACHE_DIR"):
        settings = replace(settings, cache_dir=Path(env["COUTURIER_CACHE_DIR"]))
    return settings
