"""The ``couturier`` argument parser: every command, its options and their help texts.

Kept apart from the commands' handlers and imports nothing but the standard library, so that
``couturier --help`` and a usage error cost no more than Python's start-up, and a command pays
for its own services only (:mod:`couturier.cli.main` imports a handler's module when it runs).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

__all__ = ["BUNDLE_KINDS", "DEFAULT_FAMILY_LIMIT", "TOKEN_SCOPES", "parse", "parser"]

# couturier.core.bundle.KINDS, written out so that the parser does not import the bundle code
# (tests/test_cli_startup.py checks that they agree).
BUNDLE_KINDS = ("certificates", "files")
DEFAULT_FAMILY_LIMIT = 200
# couturier.core.tokens.SCOPES, written out for the same reason.
TOKEN_SCOPES = ("pull", "write", "admin")


class _VersionAction(argparse.Action):
    """``--version``: reads the installed metadata only when asked (``importlib.metadata`` and
    the build service are not needed to parse any other command)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, help="show program's version number and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from couturier.services.build import couturier_version

        print(f"couturier {couturier_version()}")  # on stdout, as argparse's own action
        parser.exit()


def parser() -> argparse.ArgumentParser:
    """The whole command line parser."""
    top = argparse.ArgumentParser(
        prog="couturier",
        description="Build private, minimal OCI images from Debian package sources.",
    )
    top.add_argument("--config", type=Path, help="settings file (YAML); else $COUTURIER_CONFIG")
    top.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    top.add_argument("--version", action=_VersionAction)
    groups = top.add_subparsers(dest="group", required=True, metavar="COMMAND")
    _catalog(groups)
    _packages(groups)
    _build(groups)
    _plan(groups)
    _bundle(groups)
    _cache(groups)
    _starters(groups)
    _serve(groups)
    _worker(groups)
    _refresh(groups)
    _admin(groups)
    _images(groups)
    _builds(groups)
    _tokens(groups)
    _destinations(groups)
    _actions(groups)
    _signing(groups)
    return top


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments of ``argv``; a usage mistake exits with status 2 and the command's usage,
    as argparse does: those it finds, and those of a combination of arguments (``build`` with
    both or neither of a spec and ``--starter``; ``plan`` with more than one ``--arch``)."""
    top = parser()
    args = top.parse_args(argv)
    if args.group == "build" and (args.spec is None) == (args.starter is None):
        _command(top, "build").error(
            "build takes a spec file or --starter NAME, not both"
            if args.spec is not None
            else "build needs either a spec file or --starter NAME "
            "(e.g. couturier build --starter python --output ./python-oci)"
        )
    if args.group == "serve" and (args.tls_cert is None) != (args.tls_key is None):
        _command(top, "serve").error("--tls-cert and --tls-key go together: give both or neither")
    if args.group == "plan":
        arches = list(dict.fromkeys(args.arch or ()))
        if len(arches) > 1:
            named = ", ".join(ascii(a)[1:-1] for a in arches[:5])
            _command(top, "plan").error(
                f"plan takes one --arch, got {named} (a plan is for one architecture: run plan "
                "once per architecture)"
            )
    return args


def _command(top: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of the command ``name`` (for its usage line in an error)."""
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return top


_Groups: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # add_subparsers()


def _catalog(groups: _Groups) -> None:
    catalog = groups.add_parser("catalog", help="package sources and their index snapshots")
    commands = catalog.add_subparsers(dest="command", required=True, metavar="COMMAND")
    refresh = commands.add_parser("refresh", help="fetch and verify the newest indexes")
    refresh.add_argument("--release", action="append", help="only this release (repeatable)")
    refresh.add_argument("--arch", action="append", help="only this architecture (repeatable)")


def _packages(groups: _Groups) -> None:
    packages = groups.add_parser("packages", help="search and resolve packages")
    commands = packages.add_subparsers(dest="command", required=True, metavar="COMMAND")
    search = commands.add_parser("search", help="find packages by name, description, version")
    search.add_argument("query")
    search.add_argument("--release", action="append", help="only this release (repeatable)")
    search.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    search.add_argument(
        "--limit", type=_limit, default=50, help="at most this many per release/arch"
    )
    search.add_argument("--json", action="store_true", help="print JSON")
    resolve = commands.add_parser(
        "resolve", help="the package set an empty system needs for the requests"
    )
    resolve.add_argument("--release", required=True)
    resolve.add_argument("--arch", required=True)
    resolve.add_argument("--json", action="store_true", help="print JSON")
    resolve.add_argument("requests", nargs="+", metavar="PKG[=VERSION]")
    families = commands.add_parser(
        "families", help="package families and their -auto packages across a starter's lines"
    )
    families.add_argument("--starter", required=True, help="starter image, e.g. php or python")
    families.add_argument(
        "query",
        nargs="?",
        help="only families whose name or package names contain this (default: the families "
        "of the starter's ecosystem that carry a line version in their names)",
    )
    families.add_argument(
        "--arch", default=None, help="architecture (default: the first configured)"
    )
    families.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_FAMILY_LIMIT,
        help=f"at most this many (default {DEFAULT_FAMILY_LIMIT})",
    )
    families.add_argument("--json", action="store_true", help="print JSON")


def _build(groups: _Groups) -> None:
    build = groups.add_parser("build", help="build every line of a starter or a private image")
    build.add_argument("spec", nargs="?", type=Path, help="private image spec (YAML)")
    build.add_argument("--starter", help="build this starter image instead of a spec")
    build.add_argument("--output", required=True, type=Path, help="OCI image layout directory")
    build.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    build.add_argument("--line", action="append", help="only this line, e.g. 3.13 (repeatable)")
    build.add_argument(
        "--sign-key",
        type=Path,
        metavar="FILE",
        help="sign and attest every created line with this ECDSA P-256 key (PEM, unencrypted)",
    )
    build.add_argument("--json", action="store_true", help="print JSON")


def _plan(groups: _Groups) -> None:
    plan = groups.add_parser(
        "plan", help="show what each line of a private image would install, without building"
    )
    plan.add_argument("spec", type=Path, help="private image spec (YAML)")
    plan.add_argument(
        "--arch",
        action="append",
        help="plan for this architecture (default: the first one); one per plan",
    )
    plan.add_argument("--line", action="append", help="only this line, e.g. 3.13 (repeatable)")
    plan.add_argument("--json", action="store_true", help="print JSON")


def _bundle(groups: _Groups) -> None:
    bundle = groups.add_parser("bundle", help="file bundles: CA certificates and other files")
    commands = bundle.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="make a new version of a bundle",
        description="Make a new version of bundle NAME from files, directories (their contents) "
        "and .tar, .tar.gz/.tgz, .tar.xz, .tar.bz2 or .zip archives. At most 20 files of 1 MiB; "
        "archives are read no further than 32 MiB decompressed; a bad input refuses the whole "
        "bundle.",
    )
    create.add_argument("name", help="bundle name, e.g. corp-ca")
    create.add_argument("--type", dest="kind", required=True, choices=BUNDLE_KINDS)
    create.add_argument(
        "--target", help="absolute directory the files land in (files bundles only)"
    )
    create.add_argument("--json", action="store_true", help="print JSON")
    create.add_argument("inputs", nargs="+", type=Path, metavar="FILE|DIR|ARCHIVE")
    listing = commands.add_parser("list", help="every version of every bundle")
    listing.add_argument("--json", action="store_true", help="print JSON")


def _cache(groups: _Groups) -> None:
    cache = groups.add_parser("cache", help="the package and layer caches and the index snapshots")
    commands = cache.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="check every cached file against its sha256 and repair what can be",
        description="Hash every cached package, cached layer, index snapshot (and its derived "
        "files) and bundle file against what names or records it. Damaged packages, layers "
        "and snapshots are removed: they are downloaded or rebuilt again when next needed. "
        "Partial files that no running build holds are removed.",
    )
    verify.add_argument("--json", action="store_true", help="print JSON")


def _starters(groups: _Groups) -> None:
    group = groups.add_parser("starters", help="the starter images on offer and their lines")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="every starter image, its lines and newest line")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = commands.add_parser(
        "show", help="one starter: its lines with their full versions, packages and config"
    )
    show.add_argument("name", help="starter image, e.g. python")
    show.add_argument("--arch", help="architecture (default: the first configured)")
    show.add_argument("--json", action="store_true", help="print JSON")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def _refresh(groups: _Groups) -> None:
    refresh = groups.add_parser(
        "refresh",
        help="refresh the package sources and rebuild the images whose packages changed",
        description="On the server's machine: refresh every package source, then queue a "
        "check of every private image (serve or the workers run it): a line whose planned "
        "packages, spec, bundles or starter changed is rebuilt, the others are not.",
    )
    refresh.add_argument("--image", metavar="TENANT/NAME", help="only this image")


def _serve(groups: _Groups) -> None:
    serve = groups.add_parser(
        "serve",
        help="run the service: the REST API over the settings' database",
        description="Run the REST API (/v1, OpenAPI at /v1/openapi.json). The first start makes "
        "the installation key and the database in the data directory, tenant 1 (default) "
        "entitled to every starter, and prints a write token for it once, on stderr.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (8080; 0 picks a free one)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=2,
        help="threads that run builds (2; 0 runs none: another process does)",
    )
    serve.add_argument(
        "--api-processes",
        type=_api_processes,
        default=None,
        metavar="N",
        help="processes answering requests (1 on SQLite; on PostgreSQL one per core, up to 4)",
    )
    serve.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve HTTPS with this PEM certificate (chain); needs --tls-key",
    )
    serve.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the PEM private key of --tls-cert"
    )


def _worker(groups: _Groups) -> None:
    worker = groups.add_parser(
        "worker",
        help="run queued builds (jobs: procrastinate on PostgreSQL)",
        description="Run the builds queued in the settings' PostgreSQL database (jobs: "
        "procrastinate), on any machine that reaches it and the shared data and cache "
        "directories. SIGINT or SIGTERM stops it after the running builds.",
    )
    worker.add_argument(
        "--concurrency", type=_concurrency, default=1, help="builds at once (1 to 64; 1)"
    )
    worker.add_argument(
        "--stalled-after",
        type=_seconds,
        default=30.0,
        help="seconds without a worker's heartbeat after which its build is taken up again (30)",
    )


def _concurrency(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of builds (1 to 64)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds (1 to 3600)")
    return value


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) > 64:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of workers (0 to 64)")
    return int(text)


def _api_processes(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of processes (1 to 64)")
    return int(text)


def _tenant_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a tenant ID (a whole number)")
    return int(text)


def _limit(text: str) -> int:
    # 0 or a negative count would list nothing and report "no match" for what matches
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a limit (1 to 1000000)")
    return int(text)


def _days(text: str) -> int:
    # 1 to 3650: the rule of couturier.services.tokens (MAX_EXPIRY_DAYS), checked here so a
    # flag's mistake is a usage error, as a negative one already was (not imported: --help
    # stays fast)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of days (1 to 3650)")
    return int(text)


def _admin(groups: _Groups) -> None:
    admin = groups.add_parser(
        "admin",
        help="manage the installation: tenants, their tokens and entitlements",
        description="Work on the settings' database directly (with or without serve running); "
        "the first use sets the installation up as serve's first start does.",
    )
    commands = admin.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tenant = commands.add_parser("tenant", help="tenants")
    actions = tenant.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a tenant; prints its ID alone")
    create.add_argument("name", help="the organization's name")
    create.set_defaults(command="tenant create")
    listing = actions.add_parser("list", help="every tenant and its starters")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(command="tenant list")

    token = commands.add_parser("token", help="tokens")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a token; prints it alone, this once")
    create.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    create.add_argument("--scope", required=True, choices=TOKEN_SCOPES)
    create.add_argument("--expires", type=_days, metavar="DAYS", help="days (default: never)")
    create.add_argument("--description", default="", help="what the token is for")
    create.set_defaults(command="token create")

    backup = commands.add_parser(
        "backup",
        help="copy the installation (database, key, bundles, layouts) into a new directory",
        description="Write a consistent copy of an embedded (SQLite) installation into DIR, "
        "which must not exist or be empty: the database through SQLite's online backup (serve "
        "may run meanwhile), installation.key, and the data directory's bundles and image "
        "layouts, with a manifest of every file's sha256. Index snapshots are left out: they "
        "are downloaded again.",
    )
    backup.add_argument("directory", type=Path, metavar="DIR")
    backup.set_defaults(command="backup")
    restore = commands.add_parser(
        "restore",
        help="bring a backup back (with serve stopped)",
        description="Check the backup in DIR against its manifest, then restore the database, "
        "installation.key and the data directory's files. Refuses to replace an installation "
        "that is there already unless --force.",
    )
    restore.add_argument("directory", type=Path, metavar="DIR")
    restore.add_argument(
        "--force", action="store_true", help="replace the installation that is there"
    )
    restore.set_defaults(command="restore")
    gc = commands.add_parser(
        "gc",
        help="remove the stored blobs no image or starter references any more",
        description="Garbage-collect the blob store: remove every blob that no manifest of "
        "any repository references, sparing those a running build may still publish.",
    )
    gc.add_argument("--json", action="store_true", help="print JSON")
    gc.set_defaults(command="gc")

    signing = commands.add_parser("signing-key", help="signing keys")
    actions = signing.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate",
        help="retire a tenant's signing key and make a new one; prints the new public key",
        description="Builds sign with the new key from now on; the retired public key stays "
        "listed (GET /v1/signing-key?all=true) so images signed before still verify.",
    )
    rotate.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    rotate.set_defaults(command="signing-key rotate")

    entitle = commands.add_parser("entitle", help="let a tenant build on starters")
    entitle.add_argument("--tenant", type=_tenant_id, required=True, metavar="ID")
    entitle.add_argument("starters", nargs="+", metavar="STARTER")


def _remote(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of every command over the API: --server and --json."""
    command.add_argument(
        "--server",
        metavar="URL",
        help="the couturier serve to talk to (else $COUTURIER_SERVER, else server: in the "
        "settings file); the token comes from $COUTURIER_TOKEN or token: in the settings file",
    )
    command.add_argument("--json", action="store_true", help="print JSON")
    return command


def _images(groups: _Groups) -> None:
    images = groups.add_parser(
        "images",
        help="private images on a couturier serve: list, get, apply, delete, spec, export",
        description="Work with the private images of a couturier serve, over its API.",
    )
    commands = images.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _remote(commands.add_parser("list", help="the gallery: every image and its last build"))
    get = _remote(commands.add_parser("get", help="one image: its lines and last build"))
    get.add_argument("name", metavar="NAME", help="the image's name (NAME or TENANT/NAME)")
    apply = _remote(
        commands.add_parser(
            "apply",
            help="create or edit the image a spec declares, and follow its build",
            description="Create the image SPEC.yaml declares when its name is new, edit it "
            "otherwise; then follow its build and exit as couturier build does (0 when a "
            "line was created, 1 when none was).",
        )
    )
    apply.add_argument("spec", type=Path, metavar="SPEC.yaml", help="private image spec (YAML)")
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would change and which lines would be created or skipped; change nothing",
    )
    apply.add_argument(
        "--no-wait", action="store_true", help="return once the build is queued (its trace ID)"
    )
    delete = _remote(commands.add_parser("delete", help="remove an image, its builds and tags"))
    delete.add_argument("name", metavar="NAME", help="the image's name (NAME or TENANT/NAME)")
    spec = _remote(commands.add_parser("spec", help="an image's spec as a YAML spec file"))
    spec.add_argument("name", metavar="NAME", help="the image's name (NAME or TENANT/NAME)")
    export = _remote(
        commands.add_parser(
            "export",
            help="write an image's lines, tags and SBOMs as an OCI image layout",
            description="Download the image's registry repository (every tag and referrer, "
            "with their blobs) as an OCI image layout into DIR, which must be new or empty; "
            "podman, skopeo and umoci read it (oci:DIR:TAG).",
        )
    )
    export.add_argument("name", metavar="NAME", help="the image's name (NAME or TENANT/NAME)")
    export.add_argument("--output", "-o", type=Path, required=True, metavar="DIR")


def _builds(groups: _Groups) -> None:
    builds = groups.add_parser("builds", help="builds on a couturier serve")
    commands = builds.add_subparsers(dest="command", required=True, metavar="COMMAND")
    get = _remote(
        commands.add_parser(
            "get",
            help="one build: its status and lines",
            description="Show one build; with --follow, its stages as they happen until it "
            "ends, and exit as couturier build does (1 when no line was created).",
        )
    )
    get.add_argument("trace_id", metavar="TRACE_ID")
    get.add_argument("--follow", action="store_true", help="follow it until it ends")


def _tokens(groups: _Groups) -> None:
    tokens = groups.add_parser(
        "tokens", help="your tenant's API tokens on a couturier serve (an admin token)"
    )
    commands = tokens.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = _remote(commands.add_parser("create", help="make a token; prints it alone, once"))
    create.add_argument("--scope", required=True, choices=TOKEN_SCOPES)
    create.add_argument("--expires", type=_days, metavar="DAYS", help="days (default: never)")
    create.add_argument("--description", default="", help="what the token is for")
    _remote(commands.add_parser("list", help="every token of the tenant (no secrets)"))
    revoke = _remote(commands.add_parser("revoke", help="revoke a token at once"))
    revoke.add_argument("token_id", metavar="ID", help="the token's ID (tokens list)")


def _destinations(groups: _Groups) -> None:
    destinations = groups.add_parser(
        "destinations",
        help="registries your tenant's images are pushed to after every build (an admin token)",
    )
    commands = destinations.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = _remote(commands.add_parser("add", help="register a registry to push to"))
    add.add_argument("url", metavar="URL", help="the registry: https://host[:port]")
    add.add_argument("--prefix", default="", help="repository prefix, e.g. team/images")
    add.add_argument("--username", default="", help="the registry user")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password or token from standard input (never from the command line)",
    )
    add.add_argument("--ca-file", type=Path, metavar="PEM", help="CA certificates to trust")
    _remote(commands.add_parser("list", help="the tenant's destinations (no secrets)"))
    remove = _remote(commands.add_parser("remove", help="stop pushing to a destination"))
    remove.add_argument("destination_id", type=int, metavar="ID", help="its id (list)")


def _actions(groups: _Groups) -> None:
    actions = groups.add_parser(
        "actions", help="your tenant's actions on a couturier serve: When, If, Then"
    )
    commands = actions.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = _remote(
        commands.add_parser(
            "add",
            help="register the action a file declares (an admin token)",
            description="Register the action ACTION.yaml declares: name, events, if, "
            "end_of_life_days and then (docs/actions.md). Its secret stays in the file.",
        )
    )
    add.add_argument("file", type=Path, metavar="ACTION.yaml", help="the action (YAML)")
    _remote(commands.add_parser("list", help="every action of the tenant (no secrets)"))
    remove = _remote(commands.add_parser("remove", help="remove an action and its deliveries"))
    remove.add_argument("action_id", metavar="ID", help="the action's ID (actions list)")
    test = _remote(commands.add_parser("test", help="send an action a test event"))
    test.add_argument("action_id", metavar="ID", help="the action's ID (actions list)")
    deliveries = _remote(
        commands.add_parser("deliveries", help="an action's deliveries and their attempts")
    )
    deliveries.add_argument("action_id", metavar="ID", help="the action's ID (actions list)")


def _signing(groups: _Groups) -> None:
    key = _remote(
        groups.add_parser(
            "signing-key",
            help="the public key your tenant's images are signed with (PEM, for cosign --key)",
        )
    )
    key.add_argument("--all", action="store_true", help="every key, retired ones too, with dates")
    key.add_argument("--starters", action="store_true", help="the starter images' key instead")
    verify = _remote(
        groups.add_parser(
            "verify",
            help="check an image's signatures, attestations and SBOM against its layers",
            description="Read HOST/TENANT/NAME:TAG from its registry and check the signature "
            "of the image (and of each platform's manifest), its SLSA provenance, SPDX and "
            "CycloneDX attestations, and that the SBOM lists exactly the packages of the "
            "image's dpkg database. Exit 0 when all hold, 1 naming those that do not. "
            "Without --key, the keys the server lists (couturier signing-key --all).",
        )
    )
    verify.add_argument("image", metavar="HOST/TENANT/NAME:TAG")
    verify.add_argument(
        "--key", type=Path, action="append", metavar="PUB", help="a PEM public key (repeatable)"
    )
    verify.add_argument(
        "--plain-http", action="store_true", help="the registry speaks HTTP, not HTTPS"
    )
