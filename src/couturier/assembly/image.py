"""Build the layers and runtime configuration of one line on one architecture.

Input is a :class:`~couturier.core.planner.LinePlan` (what to install) and the customization
(env, file bundles); output is a :class:`LineImage`: the starter layer, the added-packages layer
(when there are additions), the file bundles layer (when there are bundles) and the
generated-files layer, plus the container configuration. Nothing from a package is executed: the
``.deb`` files are read, merged into one tree, and what maintainer scripts would have done is
generated (:mod:`couturier.assembly.generated`, the dpkg database) over the packages *and* the
bundles, so bundled certificates join the CA bundle and the Java trust store. A bundle's file
wins over a generated file at the same path (the generated one is left out).

Every layer is cached by the sha256 of its inputs (:mod:`couturier.assembly.layercache`); the
starter and added layers' keys do not depend on bundles, so they are shared with images without
them. When every layer is cached the packages are not even fetched, which is what makes a warm
rebuild cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from couturier.assembly.assemble import Assembly, assemble, split_layers, with_parents
from couturier.assembly.bundles import bundle_entries, check_generated
from couturier.assembly.deb import DebContents, fetched_deb, read_deb_bytes
from couturier.assembly.dpkgdb import dpkg_database
from couturier.assembly.generated import system_files
from couturier.assembly.layercache import layer_key
from couturier.assembly.licenses import package_licenses
from couturier.assembly.starterfiles import starter_files, starter_key
from couturier.core.bundle import Bundle
from couturier.core.catalog import Package
from couturier.core.distro import DEBIAN, Distro
from couturier.core.entries import Entry
from couturier.core.maintscripts import SCRIPTS
from couturier.core.planner import LinePlan
from couturier.core.starter import NONROOT_ID, Starter
from couturier.errors import InputError
from couturier.oci.documents import RuntimeConfig
from couturier.oci.layer import Layer, write_layer

__all__ = [
    "LayerSource",
    "LineImage",
    "build_line_image",
    "newest_date",
    "runtime_config",
    "source_date_epoch",
]

NONROOT_UID = NONROOT_ID
# Part of the generated layer's cache key: bumped whenever what is generated from the same tree
# changes (2: the Java trust store; 3: the packages' licenses kept in its note; 4, 5: PHP's
# modules and php.ini; 6, 7: the www-data account and nginx's default site; 8: ld.so.cache
# always, base-files' /var/run and /var/lock links, nginx unprivileged, the starter's writable
# directories, links and files; 9: nsswitch.conf from libc-bin's template; 10: os-release from
# the source's distribution), so that no cache serves the older files.
GENERATED_FORMAT = "10"
# Fetches the .deb files of packages; returns name → local path (see couturier.assembly.fetch).
Fetcher = Callable[[Sequence[Package]], Mapping[str, Path]]


class LayerSource(Protocol):
    """Layers by cache key: a :class:`~couturier.assembly.layercache.LayerCache`, or one that
    wraps it (to report progress)."""

    def get(self, key: str) -> Layer | None: ...

    def note(self, key: str) -> dict[str, Any]: ...

    def build(
        self, key: str, make: Callable[[Path], Layer], note: dict[str, Any] | None = None
    ) -> Layer: ...


@dataclass(frozen=True)
class LineImage:
    """The layers (bottom first) and configuration of one line's image on one architecture,
    with the license each package's copyright file declares (for the SBOM; None when it says
    nothing machine-readable), and the distribution its packages come from."""

    layers: tuple[Layer, ...]
    runtime: RuntimeConfig
    source_date_epoch: int
    history: tuple[str, ...]
    licenses: Mapping[str, str | None] = field(default_factory=dict)
    distro: Distro = DEBIAN
    # Added package name → its maintainer scripts (member name → bytes; those of
    # core.maintscripts.SCRIPTS), so warnings need neither the .deb files nor a second read.
    scripts: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)


# The last second of year 9999: later dates cannot be written as RFC 3339 timestamps.
MAX_SOURCE_DATE_EPOCH = 253_402_300_799


def source_date_epoch(env: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` from the environment ``env``, or None (unset or empty) to take the
    newest package date. Only the command line calls this (with its own environment) and hands
    the date down: a server builds for many clients, each with its own date.

    The value is a whole number of seconds since 1970-01-01 UTC, as reproducible-builds.org's
    specification defines it; anything else (``abc``, ``-5``, ``1e9``, past year 9999) raises
    :class:`InputError` rather than being silently ignored.
    """
    text = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    digits = text.isascii() and text.isdigit() and len(text) <= 12
    if not digits or int(text) > MAX_SOURCE_DATE_EPOCH:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise InputError(
            f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {shown!r}",
            f"set it to 0..{MAX_SOURCE_DATE_EPOCH} (e.g. $(git log -1 --format=%ct)) or unset it",
            fields={"name": "SOURCE_DATE_EPOCH", "value": shown},
        )
    return int(text)


def newest_date(assembly: Assembly) -> int:
    """The newest file date of the assembled packages: the default layer timestamp."""
    return max((e.mtime for e in assembly.entries.values() if e.owner), default=0)


def runtime_config(starter: Starter, env: Mapping[str, str], label: str) -> RuntimeConfig:
    """The container configuration: starter env then the customization's env, the starter's
    entrypoint, cmd, workdir, exposed ports and user (``nonroot`` is uid/gid 65532, ``root``
    0)."""
    user = {"nonroot": f"{NONROOT_UID}:{NONROOT_UID}", "root": "0:0"}.get(
        starter.user, starter.user
    )
    line_env = next((line.env for line in starter.lines if line.version == label), {})
    return RuntimeConfig(
        env={**starter.env, **line_env, **env},
        entrypoint=tuple(starter.entrypoint),
        cmd=tuple(starter.cmd),
        user=user,
        working_dir=starter.workdir,
        exposed_ports=starter.ports,
    )


def _package_keys(packages: Sequence[Package]) -> list[str]:
    return [f"{p.name}={p.version}:{p.architecture}@{p.sha256}" for p in packages]


def build_line_image(
    plan: LinePlan,
    *,
    starter: Starter,
    env: Mapping[str, str],
    fetch: Fetcher,
    cache: LayerSource,
    epoch: int | None = None,
    bundles: Sequence[Bundle] = (),
    distro: Distro = DEBIAN,
) -> LineImage:
    """Build (or take from ``cache``) the layers of ``plan`` with ``bundles`` on top; ``epoch``
    None clamps file dates to the newest package date (a function of the packages, so still
    deterministic). ``distro`` (where the packages come from) writes ``/etc/os-release`` when
    no package ships it.

    Cost: on a miss, fetching and reading every package and compressing the tree; on a hit,
    a few small file reads. Raises what fetching and reading raise (:class:`SourceError`,
    :class:`IntegrityError`), :class:`~couturier.assembly.errors.FileConflictError`, and
    :class:`~couturier.assembly.errors.BuildError` for bundle paths that clash.
    """
    starter_keys = _package_keys(plan.starter)
    added_keys = _package_keys(plan.added)
    bundle_keys = [bundle.digest for bundle in bundles]
    stamp = "auto" if epoch is None else str(epoch)
    arch = plan.architecture
    os_release = distro.os_release()
    keys = {
        "starter": layer_key("starter", arch, stamp, *starter_keys),
        "added": layer_key("added", arch, stamp, *starter_keys, "|", *added_keys),
        "bundles": layer_key(
            "bundles", arch, stamp, *starter_keys, "|", *added_keys, "|", *bundle_keys
        ),
        "generated": layer_key(
            "generated",
            GENERATED_FORMAT,
            starter_key(starter),
            *(f"{key}={value}" for key, value in os_release.items()),
            arch,
            stamp,
            *starter_keys,
            "|",
            *added_keys,
            "|",
            *bundle_keys,
        ),
    }
    wanted = ["starter", "added", "bundles", "generated"]
    wanted = [k for k in wanted if (k != "added" or plan.added) and (k != "bundles" or bundles)]
    cached = {kind: cache.get(keys[kind]) for kind in wanted}
    layers: dict[str, Layer] = {k: v for k, v in cached.items() if v is not None}
    # The generated layer's note keeps what a warm build cannot learn without the packages:
    # the date the layers were clamped to, the licenses their copyright files declare and the
    # added packages' maintainer scripts (latin-1 text: bytes that survive JSON unchanged).
    note = cache.note(keys["generated"])
    used, licenses, scripts = note.get("epoch"), note.get("licenses"), note.get("scripts")
    if (
        len(layers) < len(wanted)
        or not isinstance(used, int)
        or not isinstance(licenses, dict)
        or not isinstance(scripts, dict)
    ):
        assembly = _assemble(plan, fetch)
        used = newest_date(assembly) if epoch is None else epoch
        licenses = package_licenses(assembly)
        scripts = _added_scripts(plan, assembly)
        made = _layer_entries(plan, assembly, bundles, used, starter, os_release=os_release)
        for kind in wanted:
            layers[kind] = cache.build(
                keys[kind],
                partial(_write, made[kind], used),
                note={"epoch": used, "licenses": licenses, "scripts": scripts},
            )
    history = {
        "starter": f"{starter.name} {plan.line.version} packages ({len(plan.starter)})",
        "added": f"added packages ({len(plan.added)})",
        "bundles": "file bundles: " + ", ".join(bundle.ref for bundle in bundles),
        "generated": "generated files: accounts, links, CA bundle, ld.so.cache, dpkg database",
    }
    return LineImage(
        layers=tuple(layers[kind] for kind in wanted),
        runtime=runtime_config(starter, env, plan.line.version),
        source_date_epoch=used,
        history=tuple(history[kind] for kind in wanted),
        licenses=licenses,
        distro=distro,
        scripts={
            name: {member: text.encode("latin-1") for member, text in members.items()}
            for name, members in scripts.items()
        },
    )


def _added_scripts(plan: LinePlan, assembly: Assembly) -> dict[str, dict[str, str]]:
    """The maintainer scripts (:data:`~couturier.core.maintscripts.SCRIPTS`) of the packages
    ``plan`` adds, as latin-1 text for the cache note: package → member → text."""
    added = {package.name for package in plan.added}
    return {
        deb.name: {m: deb.scripts[m].decode("latin-1") for m in SCRIPTS if m in deb.scripts}
        for deb in assembly.packages
        if deb.name in added
    }


def _write(entries: Sequence[Entry], epoch: int, dest: Path) -> Layer:
    return write_layer(entries, epoch, dest=dest)


def _assemble(plan: LinePlan, fetch: Fetcher) -> Assembly:
    paths = fetch(plan.packages)
    # Starter packages first, each group by name: the starter layer then comes out the same
    # whatever was added.
    # Reading is mostly decompression, which releases the GIL: read on every core. map keeps
    # the order, so the assembly (and the layers) do not depend on which read ends first.
    packages = (*plan.starter, *plan.added)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        debs = list(pool.map(lambda p: _read_deb(p, paths[p.name]), packages))
    return assemble(debs)


def _read_deb(package: Package, path: Path) -> DebContents:
    """Read a fetched ``.deb``; errors name its file in the pool, not its cache name (a sha256)."""
    name, data = fetched_deb(package, path)
    return read_deb_bytes(data, name)


def _layer_entries(
    plan: LinePlan,
    assembly: Assembly,
    bundles: Sequence[Bundle],
    epoch: int,
    starter: Starter,
    *,
    os_release: Mapping[str, str],
) -> dict[str, Sequence[Entry]]:
    starter_names = {p.name for p in plan.starter}
    added_names = {p.name for p in plan.added}
    starter_layer, added_layer = split_layers(assembly.entries, [starter_names, added_names])
    bundled = bundle_entries(bundles, assembly.entries, epoch)
    bundle_layer = with_parents(bundled, below=assembly.entries)
    # What the generated files are made from: the packages with the bundles on top.
    tree = {**assembly.entries, **{entry.path: entry for entry in bundle_layer}}
    made = [
        *system_files(tree, plan.architecture, os_release_fallback=os_release, epoch=epoch),
        *starter_files(tree, starter),
        *dpkg_database(assembly),
    ]
    check_generated(bundles, bundled, made)  # no bundle file is lost under a generated one
    overridden = {entry.path for entry in bundled}
    generated = [entry for entry in made if entry.path not in overridden]
    generated_layer = with_parents(generated, below=tree)
    return {
        "starter": starter_layer,
        "added": added_layer,
        "bundles": bundle_layer,
        "generated": generated_layer,
    }
