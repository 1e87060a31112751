"""The settings file's shape, checked by pydantic before any value is made.

Imported by :func:`couturier.settings.load_settings` only when there is a settings file: building
these pydantic models (their validation schemas) costs about a fifth of a second, which commands
run with the defaults and the environment alone should not pay. Every mistake is named by its
key, with the shape expected and the shape found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from couturier.core.text import HIDDEN_RULE, has_hidden
from couturier.core.tokens import parse_token
from couturier.errors import ConfigError
from couturier.settings import SERVER_RULE, server_url_ok

__all__ = [
    "MirrorShape",
    "NotifyShape",
    "ReleaseShape",
    "SettingsShape",
    "SmtpShape",
    "SuiteShape",
    "settings_shape",
]


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


def _server(value: str) -> str:
    if not server_url_ok(value):
        raise ValueError(SERVER_RULE)
    return value


def _token(value: str) -> str:
    # Never echoed: a token is a secret (the message names the key and the expected shape).
    if parse_token(value) is None:
        raise ValueError("must be a token as issued (ctr_ID_SECRET)")
    return value


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_plain)]
Name = Annotated[Text, AfterValidator(_debian_name)]
Url = Annotated[Text, AfterValidator(_url)]
Components = Annotated[list[Name] | None, BeforeValidator(_listed)]  # "main" is [main]
# A path stays as written: ``data_dir: 5`` is a mistake, not the directory ./5.
PathText = Annotated[str, AfterValidator(_plain)]
ServerUrl = Annotated[Text, AfterValidator(_server)]
TokenText = Annotated[str, AfterValidator(_token)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MirrorShape(_Shape):
    url: Url
    keyring: PathText = "builtin:debian"
    arch_urls: dict[Text, Url] | None = None
    valid_until: Literal["enforce", "warn", "ignore"] = "warn"
    vendor: Text | None = None


class SuiteShape(_Shape):
    mirror: Text
    suite: Name
    components: Components = None


class ReleaseShape(_Shape):
    suites: Annotated[list[SuiteShape], Field(min_length=1)]
    components: Components = None


Seconds = Annotated[float, Field(gt=0, le=30 * 86400)]


class SmtpShape(_Shape):
    host: Text
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = 25
    starttls: bool = False
    username: Text | None = None
    password: Annotated[str, AfterValidator(_plain)] | None = None
    sender: Text = "couturier@localhost"
    ca_file: PathText | None = None


class NotifyShape(_Shape):
    timeout: Seconds | None = None
    retry_first: Seconds | None = None
    give_up_after: Seconds | None = None
    smtp: SmtpShape | None = None


class SettingsShape(_Shape):
    data_dir: PathText | None = None
    cache_dir: PathText | None = None
    starters_dir: PathText | None = None
    architectures: Annotated[list[Text] | None, BeforeValidator(_listed)] = None
    mirrors: dict[Text, MirrorShape] | None = None
    releases: dict[Name, ReleaseShape] | None = None
    database_url: Text | None = None
    jobs: Literal["embedded", "procrastinate"] | None = None
    timestamp_tags_kept: Annotated[int, Field(ge=1, le=10000, strict=True)] | None = None
    refresh_schedule: Annotated[str, Field(max_length=200, strict=True)] | None = None
    container_runtime: Literal["none", "podman"] | None = None
    smoke_timeout: Annotated[int, Field(ge=1, le=3600, strict=True)] | None = None
    server: ServerUrl | None = None
    token: TokenText | None = None
    public_url: ServerUrl | None = None
    notify: NotifyShape | None = None


_PATH = "a directory path"
_EXPECTED = {
    "data_dir": _PATH,
    "cache_dir": _PATH,
    "starters_dir": _PATH,
    "database_url": "a database URL (sqlite:///PATH or postgresql://USER@HOST/NAME)",
    "jobs": "embedded or procrastinate",
    "timestamp_tags_kept": "a whole number from 1 to 10000",
    "container_runtime": "none or podman",
    "smoke_timeout": "a whole number of seconds from 1 to 3600",
    "server": "the URL of a couturier serve (http://HOST:PORT)",
    "token": "an API token (ctr_ID_SECRET)",
    "public_url": "the URL clients reach couturier serve at (https://HOST)",
    "architectures": "a list of architecture names",
    "notify": "a mapping with timeout, retry_first, give_up_after and smtp",
    "notify.timeout": "a number of seconds",
    "notify.retry_first": "a number of seconds",
    "notify.give_up_after": "a number of seconds",
    "notify.smtp": "a mapping with host (and port, starttls, username, password, sender)",
    "notify.smtp.host": "the SMTP server's host name",
    "notify.smtp.port": "a port number from 1 to 65535",
    "notify.smtp.starttls": "true or false",
    "notify.smtp.password": "the SMTP password",
    "notify.smtp.sender": "the From address, e.g. couturier@example.org",
    "notify.smtp.ca_file": "the path of a PEM file of CA certificates",
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
    "": SettingsShape,
    "mirrors.*": MirrorShape,
    "releases.*": ReleaseShape,
    "releases.*.suites.*": SuiteShape,
    "notify": NotifyShape,
    "notify.smtp": SmtpShape,
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
    if general == "token" and kind != "missing":
        # A token is a secret: its value is never repeated, whatever is wrong with it.
        return f"token must be {_EXPECTED['token']}"
    if "[key]" in loc:
        parent, _ = _pattern(loc[: loc.index("[key]") - 1])
        reason = str(error["ctx"]["error"]) if kind == "value_error" else "must be text"
        return f"{parent}: the name {_found(error['input'])} {reason}"
    if kind == "missing":
        expected = _EXPECTED.get(general)
        return f"{where} is required" + (f" ({expected})" if expected else "")
    if kind == "extra_forbidden":
        parent_where, parent = _pattern(loc[:-1])
        shape = _FIELDS_AT.get(parent, SettingsShape)
        known = ", ".join(shape.model_fields)
        place = f" in {parent_where}" if parent_where else ""
        return f"{where} is not a setting{place} (known: {known})"
    if kind == "value_error":
        return f"{where} {error['ctx']['error']}, got {_found(error['input'])}"
    if kind == "too_short":
        return f"{where} must not be empty ({_EXPECTED.get(general, 'at least one entry')})"
    expected = _EXPECTED.get(general, "text")
    return f"{where} must be {expected}, got {_found(error['input'])}"


def settings_shape(raw: Any, source: str) -> SettingsShape:
    """The settings file's content checked against its shape; :class:`ConfigError` naming
    every mistake (the first ten) otherwise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source} must hold a mapping of settings, got {_found(raw)}",
            "see the settings example in the README",
            fields={"source": source},
        )
    try:
        return SettingsShape.model_validate(dict(raw))
    except ValidationError as invalid:
        problems = [_problem(e) for e in invalid.errors()]
        listed = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" * (len(problems) > 10)
        )
        raise ConfigError(
            f"{source}: {listed}",
            "see the settings example in the README",
            fields={"source": source, "problems": problems[:10]},
        ) from None
