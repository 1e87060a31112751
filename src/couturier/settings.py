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
    database_url: postgresql://couturier@db.example/couturier   # default: SQLite in data_dir
    jobs: procrastinate         # builds by `couturier worker` (PostgreSQL); default: embedded
    timestamp_tags_kept: 30     # the newest timestamp tags kept per image line (at least 1)
    notify:                     # actions' deliveries (docs/actions.md)
      timeout: 10               # seconds per attempt
      retry_first: 30           # seconds before the first retry, doubled after each
      give_up_after: 86400      # seconds after the event
      smtp: {host: mail.example.org, port: 587, starttls: true,
             username: couturier, password: ..., sender: couturier@example.org,
             ca_file: corp-ca.pem}  # STARTTLS trusts these CAs (default: the system's)
    refresh_schedule: "0 4 * * *"   # when the daily refresh runs (cron, UTC; "" turns it off)
    container_runtime: podman   # smoke-test each built line before its tags move; default: none
    smoke_timeout: 60           # seconds a line's smoke command may run (1 to 3600)
    server: https://couturier.example.org    # the service the images/builds/tokens commands use
    public_url: https://couturier.example.org  # where clients reach serve behind a proxy
    token: ctr_...              # their API token (keep the file chmod 600; or COUTURIER_TOKEN)

Environment: ``COUTURIER_DATA_DIR``, ``COUTURIER_CACHE_DIR``, ``COUTURIER_STARTERS_DIR``,
``COUTURIER_DATABASE_URL``, ``COUTURIER_JOBS``, ``COUTURIER_SERVER``, ``COUTURIER_TOKEN``,
``COUTURIER_PUBLIC_URL``, ``COUTURIER_CONTAINER_RUNTIME``,
``COUTURIER_MIRROR`` (replaces the ``debian`` mirror URL) and ``COUTURIER_SECURITY_MIRROR``
(replaces ``debian-security``).
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from couturier.core.suggest import close_names, did_you_mean
from couturier.core.text import has_hidden, shown
from couturier.errors import Code, ConfigError

if TYPE_CHECKING:
    from couturier.settingsfile import MirrorShape, NotifyShape, ReleaseShape, SettingsShape

__all__ = [
    "Mirror",
    "NotifySettings",
    "Release",
    "Settings",
    "SmtpSettings",
    "Suite",
    "builtin_keyring",
    "load_settings",
]

DEFAULT_ARCHITECTURES = ("amd64", "arm64")
DEFAULT_RELEASES = ("bookworm", "trixie", "forky")
VALID_UNTIL_POLICIES = ("enforce", "warn", "ignore")  # the Literal of MirrorShape
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
class SmtpSettings:
    """The SMTP server email actions are sent through (``notify.smtp``)."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "couturier@localhost"
    # The CA certificates (PEM) STARTTLS trusts: None for the system's trust store.
    ca_file: Path | None = None


@dataclass(frozen=True)
class NotifySettings:
    """How actions' deliveries are made (``notify``): each attempt's ``timeout`` in seconds,
    the wait before the first retry (``retry_first`` seconds, doubled after each attempt, at
    most an hour), how long after its event a delivery is given up (``give_up_after``
    seconds), and the SMTP server of email actions (None: email actions fail, saying so)."""

    timeout: float = 10.0
    retry_first: float = 30.0
    give_up_after: float = 86400.0
    smtp: SmtpSettings | None = None


@dataclass(frozen=True)
class Settings:
    """Everything configurable, frozen. Build with :func:`load_settings`."""

    data_dir: Path
    cache_dir: Path
    releases: Mapping[str, Release]
    architectures: tuple[str, ...]
    # Site-local starter images (``<name>.yaml``), beside and over the shipped ones.
    starters_dir: Path | None = None
    # The service's database (SQLAlchemy URL): None for SQLite in the data directory.
    database_url: str | None = None
    # Who runs builds: ``embedded`` (threads of ``serve``) or ``procrastinate`` (``couturier
    # worker`` processes on the PostgreSQL database; ``serve`` then builds nothing itself).
    jobs: str = "embedded"
    # How many immutable timestamp tags of each image line the registry keeps (the newest).
    timestamp_tags_kept: int = 30
    # When serve (or a worker) refreshes the sources and checks every image: a cron
    # expression in UTC, checked by croniter; empty turns the schedule off.
    refresh_schedule: str = "0 4 * * *"
    # Which container runtime starts each built line once with its smoke command before its
    # tags move: ``none`` (no test: lines are marked untested) or ``podman``. Not chosen by
    # finding podman installed: running containers is the operator's decision (and podman
    # needs its containers.conf on some machines), so a server never starts to on its own.
    container_runtime: str = "none"
    # Seconds a smoke command may run before it is killed (the line then fails).
    smoke_timeout: int = 60
    # The service the CLI's images, builds and tokens commands talk to, and their token (a
    # secret: kept out of the repr, never printed).
    server: str | None = None
    token: str | None = field(default=None, repr=False)
    # The URL clients reach ``couturier serve`` at when a proxy stands before it
    # (https://couturier.example.org): the registry's token realm is made from it. None: from
    # each request's own scheme and Host.
    public_url: str | None = None
    # What a person should know about the settings (a token in a file others can read).
    warnings: tuple[str, ...] = ()
    # Actions' deliveries: timeouts, retries and the SMTP server.
    notify: NotifySettings = field(default_factory=NotifySettings)

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
                code=Code.RELEASE_UNKNOWN,
                fields={
                    "release": name,
                    "suggestions": close_names(name, self.releases),
                    "known": list(self.releases),
                },
            ) from None

    def check_architecture(self, name: str) -> str:
        """Return ``name`` if it is a configured architecture, else raise :class:`ConfigError`."""
        if name not in self.architectures:
            known = ", ".join(self.architectures)
            raise ConfigError(
                f"unknown architecture {shown(name)}{did_you_mean(name, self.architectures)}",
                f"configured architectures: {known}",
                code=Code.ARCHITECTURE_UNKNOWN,
                fields={
                    "architecture": name,
                    "suggestions": close_names(name, self.architectures),
                    "known": list(self.architectures),
                },
            )
        return name

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def database(self) -> str:
        """The database URL the service uses: ``database_url``, or SQLite's
        ``couturier.db`` in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'couturier.db'}"


def _xdg(env: Mapping[str, str], variable: str, fallback: str) -> Path:
    """``$variable/couturier`` of ``env``, else ``fallback`` (``.cache``) under ``env``'s
    ``HOME``, else under the home directory the password database gives the user: the
    environment handed to :func:`load_settings` decides, never the process's own."""
    base = env.get(variable)
    if not base:
        home = env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
        base = str(Path(home) / fallback)
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


def _mirror_from(name: str, shape: MirrorShape, base: Path, source: str) -> Mirror:
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
            fields={"source": source, "key": f"mirrors.{name}.keyring", "value": str(keyring)},
        )
    return Mirror(
        name, shape.url, keyring, dict(shape.arch_urls or {}), shape.valid_until, shape.vendor or ""
    )


def _releases_from(
    shapes: Mapping[str, ReleaseShape], mirrors: Mapping[str, Mirror], source: str
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
                    fields={
                        "source": source,
                        "key": f"releases.{name}.suites[{position}].mirror",
                        "value": entry.mirror,
                        "known": list(mirrors),
                    },
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
            fields={"source": source, "key": key, "value": str(path)},
        ) from None
    if wrong:
        raise ConfigError(
            f"{source}: {key} {path} is not a directory",
            f"point {key} (or COUTURIER_{key.upper()}) at a directory",
            fields={"source": source, "key": key, "value": str(path)},
        )
    return path


_DATABASE_SCHEMES = ("sqlite", "postgresql")
SERVER_RULE = "must be the server's http:// or https:// URL (no user, password or query)"


def server_url_ok(url: str) -> bool:
    """Whether ``url`` can name a Couturier server: ``http(s)://HOST[:PORT][/PATH]``, with no
    user or password (the token is the credential) and no query or fragment."""
    scheme, separator, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return (
        bool(separator and host)
        and scheme.lower() in ("http", "https")
        and not any(c in rest for c in "@?#")
        and not has_hidden(url)
        and " " not in url
        and len(url) <= 2000
    )


def _server_url(url: str, source: str, key: str = "server") -> str:
    if not server_url_ok(url):
        raise ConfigError(
            f"{source}: {key} {SERVER_RULE}, got {shown(url[:80])}",
            "e.g. http://127.0.0.1:8080, as couturier serve says it serves on",
            fields={"source": source, "key": key, "value": url[:200]},
        )
    return url.rstrip("/")


def _token_warnings(path: Path, source: str) -> tuple[str, ...]:
    """A warning when the settings file at ``path``, which holds a token, can be read by
    other users (any group or other permission bit)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return ()
    if mode & 0o077:
        return (
            f"{source} holds an API token and other users may read it "
            f"(mode {mode & 0o777:o}): chmod 600 {path}",
        )
    return ()


def _safe_url(url: str) -> str:
    """``url`` without the password it may hold (for messages and fields)."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def _database_url(url: str, source: str) -> str:
    """``url`` if it names a database Couturier supports: ``sqlite:///PATH`` or
    ``postgresql://...`` (any ``+driver`` suffix is replaced by psycopg, the driver shipped)."""
    scheme, separator, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0]
    if not separator or dialect not in _DATABASE_SCHEMES or has_hidden(url):
        raise ConfigError(
            f"{source}: database_url must be a sqlite:///PATH or postgresql://USER@HOST/NAME "
            f"URL, got {shown(_safe_url(url)[:80])}",
            "leave it out for SQLite in the data directory",
            fields={"source": source, "key": "database_url", "value": _safe_url(url[:200])},
        )
    return f"postgresql+psycopg://{rest}" if dialect == "postgresql" else url


def _file_shape(path: Path, source: str) -> SettingsShape:
    """The settings file at ``path``, read and checked against its shape.

    Imports the YAML reader and pydantic's models here, not at module level: with no settings
    file (defaults and environment only) a command never pays for them."""
    from couturier.core.yamltext import YamlProblem, YamlUnreadable
    from couturier.settingsfile import settings_shape
    from couturier.yamlfile import load_yaml

    try:
        document = load_yaml(path)
    except YamlUnreadable as problem:
        raise ConfigError(
            f"cannot read {source}: {problem.what}",
            problem.hint or "check the settings file's path (COUTURIER_CONFIG)",
            fields={"source": source, "unreadable": True},
        ) from None
    except YamlProblem as problem:
        raise ConfigError(
            f"{source} {problem.what}", problem.hint, fields={"source": source}
        ) from None
    if document.duplicates:
        key, line = document.duplicates[0]
        raise ConfigError(
            f"{source}: {key} is written more than once (line {line})",
            fields={"source": source, "key": key, "line": line},
        )
    return settings_shape(document.data, source)


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
    shape = _file_shape(path, source) if path is not None else None
    base = path.parent if path is not None else Path.cwd()

    mirrors = _default_mirrors(env)
    for name, body in ((shape and shape.mirrors) or {}).items():
        mirrors[name] = _mirror_from(name, body, base, source)
    if shape is not None and shape.releases is not None:
        releases = _releases_from(shape.releases, mirrors, source)
    else:
        releases = {name: _default_release(name, mirrors) for name in DEFAULT_RELEASES}

    architectures = tuple((shape and shape.architectures) or DEFAULT_ARCHITECTURES)
    for arch in architectures:
        if arch not in KNOWN_ARCHITECTURES:
            raise ConfigError(
                f"{source}: architectures: {arch[:40]!r} is not an architecture Debian builds",
                f"known architectures: {', '.join(sorted(KNOWN_ARCHITECTURES))}",
                fields={"source": source, "key": "architectures", "value": arch[:40]},
            )

    # Relative paths in the file are taken from the file's directory, as the keyring's and
    # starters_dir's are, so the file means the same whatever directory Couturier runs in.
    data_dir, cache_dir, starters_dir = (
        (shape.data_dir, shape.cache_dir, shape.starters_dir) if shape else (None, None, None)
    )
    settings = Settings(
        data_dir=base / data_dir if data_dir else _xdg(env, "XDG_DATA_HOME", ".local/share"),
        cache_dir=base / cache_dir if cache_dir else _xdg(env, "XDG_CACHE_HOME", ".cache"),
        releases=releases,
        architectures=architectures,
        starters_dir=base / starters_dir if starters_dir else None,
    )
    if env.get("COUTURIER_STARTERS_DIR"):
        settings = replace(settings, starters_dir=Path(env["COUTURIER_STARTERS_DIR"]))
    if env.get("COUTURIER_DATA_DIR"):
        settings = replace(settings, data_dir=Path(env["COUTURIER_DATA_DIR"]))
    if env.get("COUTURIER_CACHE_DIR"):
        settings = replace(settings, cache_dir=Path(env["COUTURIER_CACHE_DIR"]))
    database_url = env.get("COUTURIER_DATABASE_URL") or (shape and shape.database_url)
    if database_url:
        settings = replace(settings, database_url=_database_url(database_url, source))
    jobs = env.get("COUTURIER_JOBS") or (shape and shape.jobs) or "embedded"
    settings = replace(settings, jobs=_jobs(jobs, settings, source))
    settings = _with_service(settings, shape, env, source)
    server = env.get("COUTURIER_SERVER") or (shape and shape.server)
    if server:
        server_source = "settings" if env.get("COUTURIER_SERVER") else source
        settings = replace(settings, server=_server_url(server, server_source))
    public_url = env.get("COUTURIER_PUBLIC_URL") or (shape and shape.public_url)
    if public_url:
        public_source = "settings" if env.get("COUTURIER_PUBLIC_URL") else source
        settings = replace(
            settings, public_url=_server_url(public_url, public_source, "public_url")
        )
    if shape is not None and shape.token and path is not None:
        # Warned about whenever the file holds one, even when COUTURIER_TOKEN is used instead.
        settings = replace(settings, token=shape.token, warnings=_token_warnings(path, source))
    if env.get("COUTURIER_TOKEN"):
        settings = replace(settings, token=env["COUTURIER_TOKEN"].strip())
    if shape is not None and shape.notify is not None:
        settings = replace(settings, notify=_notify(shape.notify, base))
    _directory(settings.data_dir, "data_dir", source)
    _directory(settings.cache_dir, "cache_dir", source)
    return settings


def _notify(shape: NotifyShape, base: Path) -> NotifySettings:
    """The ``notify`` settings of the file (a relative ``ca_file`` is the file's directory's)."""
    defaults = NotifySettings()
    smtp = None
    if shape.smtp is not None:
        smtp = SmtpSettings(
            shape.smtp.host,
            shape.smtp.port,
            shape.smtp.starttls,
            shape.smtp.username,
            shape.smtp.password,
            shape.smtp.sender,
            base / shape.smtp.ca_file if shape.smtp.ca_file else None,
        )
    return NotifySettings(
        timeout=shape.timeout or defaults.timeout,
        retry_first=shape.retry_first or defaults.retry_first,
        give_up_after=shape.give_up_after or defaults.give_up_after,
        smtp=smtp,
    )


JOB_BACKENDS = ("embedded", "procrastinate")
CONTAINER_RUNTIMES = ("none", "podman")


def _with_service(
    settings: Settings, shape: SettingsShape | None, env: Mapping[str, str], source: str
) -> Settings:
    """``settings`` with what the service's builds use: ``timestamp_tags_kept``,
    ``refresh_schedule``, the smoke tests' ``container_runtime`` (``COUTURIER_CONTAINER_RUNTIME``
    over the file's) and ``smoke_timeout``."""
    if shape and shape.timestamp_tags_kept is not None:
        settings = replace(settings, timestamp_tags_kept=shape.timestamp_tags_kept)
    if shape and shape.refresh_schedule is not None:
        schedule = _refresh_schedule(shape.refresh_schedule, source)
        settings = replace(settings, refresh_schedule=schedule)
    runtime = env.get("COUTURIER_CONTAINER_RUNTIME") or (shape and shape.container_runtime)
    if runtime:
        settings = replace(settings, container_runtime=_runtime(runtime, source))
    if shape and shape.smoke_timeout is not None:
        settings = replace(settings, smoke_timeout=shape.smoke_timeout)
    return settings


def _runtime(runtime: str, source: str) -> str:
    """``runtime`` if it names a container runtime the smoke tests can use."""
    if runtime not in CONTAINER_RUNTIMES:
        raise ConfigError(
            f"{source}: container_runtime must be none or podman, got {shown(runtime[:40])}",
            fields={"source": source, "key": "container_runtime", "value": runtime[:40]},
        )
    return runtime


def _refresh_schedule(expression: str, source: str) -> str:
    """``expression`` if croniter reads it as a cron expression of five fields (or an alias
    such as ``@daily``) with a time to come (or it is empty: no schedule); one
    :class:`ConfigError` line naming the key otherwise. croniter also reads a sixth field
    (seconds) and a seventh (the year), and accepts dates that never come (``0 4 31 2 *``),
    which the scheduler could then never step to."""
    import datetime as dt

    from croniter import CroniterBadDateError, croniter

    fields = expression.split()
    if not fields:
        return ""
    never = False
    valid = (len(fields) == 5 or expression.strip().startswith("@")) and croniter.is_valid(
        expression
    )
    if valid:
        try:
            croniter(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).get_next(dt.datetime)
        except CroniterBadDateError:
            never = True
    if not valid or never:
        what = "names no time that comes" if never else "is not a cron expression"
        raise ConfigError(
            f"{source}: refresh_schedule {what}: {shown(expression[:80])}",
            'write five fields, minute hour day month weekday, e.g. "0 4 * * *" (04:00 UTC)',
            fields={"source": source, "key": "refresh_schedule", "value": expression[:80]},
        )
    return expression.strip()


def _jobs(jobs: str, settings: Settings, source: str) -> str:
    """``jobs`` if it names a job backend the database can carry: procrastinate needs
    PostgreSQL."""
    if jobs not in JOB_BACKENDS:
        raise ConfigError(
            f"{source}: jobs must be embedded or procrastinate, got {shown(jobs[:40])}",
            "leave it out for builds run by serve itself",
            fields={"source": source, "key": "jobs", "value": jobs[:40]},
        )
    if jobs == "procrastinate" and not settings.database.startswith("postgresql"):
        raise ConfigError(
            f"{source}: jobs: procrastinate needs a PostgreSQL database_url "
            "(postgresql://USER@HOST/NAME)",
            "set database_url, or leave jobs out for builds run by serve on SQLite",
            fields={"source": source, "key": "jobs", "value": jobs},
        )
    return jobs
