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
               valid_until: enforce,   # or warn (the default) or ignore
               vendor: ubuntu}         # default: the Origin its InRelease states
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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from couturier.core.suggest import did_you_mean
from couturier.core.text import HIDDEN_RULE, has_hidden, shown
from couturier.core.yamltext import YamlProblem, YamlUnreadable
from couturier.errors import ConfigError
from couturier.yamlfile import load_yaml

__all__ = ["Mirror", "Release", "Settings", "Suite", "builtin_keyring", "load_settings"]

DEFAULT_ARCHITECTURES = ("amd64", "arm64")
DEFAULT_RELEASES = ("bookworm", "trixie", "forky")
VALID_UNTIL_POLICIES = ("enforce", "warn", "ignore")  # the Literal of _MirrorShape
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
    # Who publishes it (``debian``, ``ubuntu``): the purl namespace of its packages and the
    # os-release ID; empty to take its InRelease's Origin.
    vendor: str = ""

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
        """The release called ``name``; :class:`ConfigError` naming the nearest ones (``did you
        mean bookworm?``) and listing the known ones otherwise."""
        try:
            return self.releases[name]
        except KeyError:
            known = ", ".join(self.releases)
            raise ConfigError(
                f"unknown release {shown(name)}{did_you_mean(name, self.releases)}",
                f"known releases: {known}; add one in the settings",
            ) from None

    def check_architecture(self, name: str) -> str:
        """Return ``name`` if it is a configured architecture, else raise :class:`ConfigError`."""
        if name not in self.architectures:
            known = ", ".join(self.architectures)
            raise ConfigError(
                f"unknown architecture {shown(name)}{did_you_mean(name, self.architectures)}",
                f"configured architectures: {known}",
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


# The settings file's shape, checked by pydantic before any value is made: every mistake is
# named by its key, with the shape expected and the shape found.


def _text(value: Any) -> Any:
    """Names YAML reads as whole numbers (a release called ``12``) are text; nothing else is
    made so. A number with a point is left a number, and refused: ``12.10`` would be read
    as 12.1, a name nobody wrote."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _listed(value: Any) -> Any:
    """``architectures: amd64`` is the one-item list it means."""
    return [value] if isinstance(value, str) else value


def _plain(value: str) -> str:
    """Names, URLs and paths end up in requests, file names and messages: no control or
    invisible characters (:mod:`couturier.core.text`)."""
    if has_hidden(value):
        raise ValueError(HIDDEN_RULE)
    return value


# A release, suite or component becomes a URL path segment and a file name: Debian's own
# names are lowercase letters, digits and . + - (bookworm, noble-updates, non-free-firmware).
_DEBIAN_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")
_URL_SCHEMES = ("http://", "https://", "file://")


def _debian_name(value: str) -> str:
    if not _DEBIAN_NAME.fullmatch(value) or ".." in value or len(value) > 64:
        raise ValueError(
            "must be a name such as bookworm or noble-updates (lowercase letters, digits and "
            ". + -, a letter or digit first, no '..', at most 64 characters)"
        )
    return value


def _url(value: str) -> str:
    if not value.lower().startswith(_URL_SCHEMES) or len(value) <= len("file://"):
        raise ValueError("must be an http://, https:// or file:// URL")
    return value


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_plain)]
Name = Annotated[Text, AfterValidator(_debian_name)]
Url = Annotated[Text, AfterValidator(_url)]
Components = Annotated[list[Name] | None, BeforeValidator(_listed)]  # "main" is [main]
# A path stays as written: ``data_dir: 5`` is a mistake, not the directory ./5.
PathText = Annotated[str, AfterValidator(_plain)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _MirrorShape(_Shape):
    url: Url
    keyring: PathText = "builtin:debian"
    arch_urls: dict[Text, Url] | None = None
    valid_until: Literal["enforce", "warn", "ignore"] = "warn"
    vendor: Text | None = None


class _SuiteShape(_Shape):
    mirror: Text
    suite: Name
    components: Components = None


class _ReleaseShape(_Shape):
    suites: Annotated[list[_SuiteShape], Field(min_length=1)]
    components: Components = None


class _SettingsShape(_Shape):
    data_dir: PathText | None = None
    cache_dir: PathText | None = None
    starters_dir: PathText | None = None
    architectures: Annotated[list[Text] | None, BeforeValidator(_listed)] = None
    mirrors: dict[Text, _MirrorShape] | None = None
    releases: dict[Name, _ReleaseShape] | None = None


_PATH = "a directory path"
_EXPECTED = {
    "data_dir": _PATH,
    "cache_dir": _PATH,
    "starters_dir": _PATH,
    "architectures": "a list of architecture names",
    "architectures.*": "an architecture name",
    "mirrors": "a mapping of name → mirror",
    "mirrors.*": "a mapping with url (and keyring, arch_urls, valid_until)",
    "mirrors.*.url": "a URL",
    "mirrors.*.keyring": "the path of a keyring file, or builtin:debian",
    "mirrors.*.arch_urls": "a mapping of architecture → URL",
    "mirrors.*.arch_urls.*": "a URL",
    "mirrors.*.valid_until": "one of enforce, warn, ignore",
    "mirrors.*.vendor": "a vendor name such as debian or ubuntu",
    "releases": "a mapping of release name → its suites",
    "releases.*": "a mapping with suites (and components)",
    "releases.*.suites": "a list of suites, each {mirror: NAME, suite: NAME}",
    "releases.*.suites.*": "a mapping {mirror: NAME, suite: NAME}",
    "releases.*.suites.*.mirror": "the name of a mirror",
    "releases.*.suites.*.suite": "a suite name, its directory under dists/",
    "releases.*.components": "a list of component names",
    "releases.*.components.*": "a component name",
    "releases.*.suites.*.components": "a list of component names",
    "releases.*.suites.*.components.*": "a component name",
}
_FIELDS_AT: dict[str, type[_Shape]] = {
    "": _SettingsShape,
    "mirrors.*": _MirrorShape,
    "releases.*": _ReleaseShape,
    "releases.*.suites.*": _SuiteShape,
}
_NAMED = {("mirrors",), ("releases",), ("mirrors", "*", "arch_urls")}  # their keys are names


def _pattern(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """(``releases.noble.suites[0].suite``, ``releases.*.suites.*.suite``) for a pydantic loc."""
    shown = ""
    general: list[str] = []
    for part in loc:
        if part == "[key]":
            continue
        if tuple(general) in _NAMED:
            shown += f".{part}"
            general.append("*")
        elif isinstance(part, int):
            shown += f"[{part}]"
            general.append("*")
        else:
            shown += f".{part}" if shown else part
            general.append("*" if tuple(general) in _NAMED else part)
    return shown, ".".join(general)


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}" if abs(value) < 10**100 else "a number too long"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _problem(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    where, general = _pattern(loc)
    kind = error["type"]
    if "[key]" in loc:
        parent, _ = _pattern(loc[: loc.index("[key]") - 1])
        reason = str(error["ctx"]["error"]) if kind == "value_error" else "must be text"
        return f"{parent}: the name {_found(error['input'])} {reason}"
    if kind == "missing":
        expected = _EXPECTED.get(general)
        return f"{where} is required" + (f" ({expected})" if expected else "")
    if kind == "extra_forbidden":
        parent_where, parent = _pattern(loc[:-1])
        shape = _FIELDS_AT.get(parent, _SettingsShape)
        known = ", ".join(shape.model_fields)
        place = f" in {parent_where}" if parent_where else ""
        return f"{where} is not a setting{place} (known: {known})"
    if kind == "value_error":
        return f"{where} {error['ctx']['error']}, got {_found(error['input'])}"
    if kind == "too_short":
        return f"{where} must not be empty ({_EXPECTED.get(general, 'at least one entry')})"
    expected = _EXPECTED.get(general, "text")
    return f"{where} must be {expected}, got {_found(error['input'])}"


def _shape(raw: Any, source: str) -> _SettingsShape:
    """The settings file's content checked against its shape; :class:`ConfigError` naming
    every mistake (the first ten) otherwise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source} must hold a mapping of settings, got {_found(raw)}",
            "see the settings example in the README",
        )
    try:
        return _SettingsShape.model_validate(dict(raw))
    except ValidationError as invalid:
        problems = [_problem(e) for e in invalid.errors()]
        listed = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" * (len(problems) > 10)
        )
        raise ConfigError(f"{source}: {listed}", "see the settings example in the README") from None


def _mirror_from(name: str, shape: _MirrorShape, base: Path, source: str) -> Mirror:
    keyring = base / shape.keyring
    try:
        if shape.keyring.startswith("builtin:"):
            keyring = builtin_keyring(shape.keyring.removeprefix("builtin:"))
        else:
            keyring = keyring.resolve()
        usable = keyring.is_file()
    except (OSError, ValueError):  # a name too long, a NUL
        usable = False
    if not usable:
        raise ConfigError(
            f"{source}: keyring {keyring} of mirror {name!r} does not exist",
            "point keyring at the repository's public key file (binary or armored)",
        )
    return Mirror(
        name, shape.url, keyring, dict(shape.arch_urls or {}), shape.valid_until, shape.vendor or ""
    )


def _releases_from(
    shapes: Mapping[str, _ReleaseShape], mirrors: Mapping[str, Mirror], source: str
) -> dict[str, Release]:
    releases: dict[str, Release] = {}
    for name, body in shapes.items():
        components = tuple(body.components or ("main",))
        suites = []
        for position, entry in enumerate(body.suites):
            if entry.mirror not in mirrors:
                raise ConfigError(
                    f"{source}: releases.{name}.suites[{position}] names unknown mirror "
                    f"{entry.mirror!r}",
                    f"known mirrors: {', '.join(mirrors)}",
                )
            suite_components = tuple(entry.components or components)
            suites.append(Suite(mirrors[entry.mirror], entry.suite, suite_components))
        releases[name] = Release(name, tuple(suites))
    return releases


def _directory(path: Path, key: str, source: str) -> Path:
    """``path``, checked to be a directory when it exists (it is made on first use)."""
    try:
        wrong = path.exists() and not path.is_dir()
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{source}: {key} {path} cannot be used ({error})",
            f"point {key} (or COUTURIER_{key.upper()}) at a directory",
        ) from None
    if wrong:
        raise ConfigError(
            f"{source}: {key} {path} is not a directory",
            f"point {key} (or COUTURIER_{key.upper()}) at a directory",
        )
    return path


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the defaults, the YAML file at ``path`` (or ``$COUTURIER_CONFIG``) and
    the environment.

    The file is read by :func:`couturier.yamlfile.load_yaml` (a regular file of at most
    1 MiB, no aliases) and its shape checked before anything is made. Raises
    :class:`ConfigError`, one line naming the file, each bad key, the shape expected and the
    shape found (``settings file x.yaml: mirrors must be a mapping of name → mirror, got a
    list``); a data or cache directory that exists as something else is refused too.
    """
    env = os.environ if env is None else env
    if path is None and env.get("COUTURIER_CONFIG"):
        path = Path(env["COUTURIER_CONFIG"])
    source = f"settings file {path}" if path is not None else "settings"
    shape = _SettingsShape()
    if path is not None:
        try:
            document = load_yaml(path)
        except YamlUnreadable as problem:
            raise ConfigError(
                f"cannot read {source}: {problem.what}",
                problem.hint or "check --config or COUTURIER_CONFIG",
            ) from None
        except YamlProblem as problem:
            raise ConfigError(f"{source} {problem.what}", problem.hint) from None
        if document.duplicates:
            key, line = document.duplicates[0]
            raise ConfigError(f"{source}: {key} is written more than once (line {line})")
        shape = _shape(document.data, source)
    base = path.parent if path is not None else Path.cwd()

    mirrors = _default_mirrors(env)
    for name, body in (shape.mirrors or {}).items():
        mirrors[name] = _mirror_from(name, body, base, source)
    if shape.releases is not None:
        releases = _releases_from(shape.releases, mirrors, source)
    else:
        releases = {name: _default_release(name, mirrors) for name in DEFAULT_RELEASES}

    architectures = tuple(shape.architectures or DEFAULT_ARCHITECTURES)
    for arch in architectures:
        if arch not in KNOWN_ARCHITECTURES:
            raise ConfigError(
                f"{source}: architectures: {arch[:40]!r} is not an architecture Debian builds",
                f"known architectures: {', '.join(sorted(KNOWN_ARCHITECTURES))}",
            )

    # Relative paths in the file are taken from the file's directory, as the keyring's and
    # starters_dir's are, so the file means the same whatever directory Couturier runs in.
    settings = Settings(
        data_dir=base / shape.data_dir if shape.data_dir else _xdg("XDG_DATA_HOME", ".local/share"),
        cache_dir=base / shape.cache_dir if shape.cache_dir else _xdg("XDG_CACHE_HOME", ".cache"),
        releases=releases,
        architectures=architectures,
        starters_dir=base / shape.starters_dir if shape.starters_dir else None,
    )
    if env.get("COUTURIER_STARTERS_DIR"):
        settings = replace(settings, starters_dir=Path(env["COUTURIER_STARTERS_DIR"]))
    if env.get("COUTURIER_DATA_DIR"):
        settings = replace(settings, data_dir=Path(env["COUTURIER_DATA_DIR"]))
    if env.get("COUTURIER_CACHE_DIR"):
        settings = replace(settings, cache_dir=Path(env["COUTURIER_CACHE_DIR"]))
    _directory(settings.data_dir, "data_dir", source)
    _directory(settings.cache_dir, "cache_dir", source)
    return settings
