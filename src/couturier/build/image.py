"""Build the layers and runtime configuration of one line on one architecture.

Input is a :class:`~couturier.core.planner.LinePlan` (what to install) and the customization
(env); output is a :class:`LineImage`: the starter layer, the added-packages layer (when there are
additions) and the generated-files layer, plus the container configuration. Nothing from a
package is executed: the ``.deb`` files are read, merged into one tree, and what maintainer
scripts would have done is generated (:mod:`couturier.build.generated`, the dpkg database).

Every layer is cached by the sha256 of its inputs (:mod:`couturier.build.layercache`); when all
three are cached the packages are not even fetched, which is what makes a warm rebuild cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from couturier.build.assemble import Assembly, assemble, split_layers, with_parents
from couturier.build.deb import read_deb
from couturier.build.dpkgdb import dpkg_database
from couturier.build.entries import Entry
from couturier.build.generated import system_files
from couturier.build.layercache import LayerCache, layer_key
from couturier.core.catalog import Package
from couturier.core.planner import LinePlan
from couturier.core.starter import Starter
from couturier.oci.documents import RuntimeConfig
from couturier.oci.layer import Layer, write_layer

__all__ = [
    "LineImage",
    "build_line_image",
    "newest_date",
    "runtime_config",
    "source_date_epoch",
]

NONROOT_UID = 65532
# Fetches the .deb files of packages; returns name → local path (see couturier.build.fetch).
Fetcher = Callable[[Sequence[Package]], Mapping[str, Path]]


@dataclass(frozen=True)
class LineImage:
    """The layers (bottom first) and configuration of one line's image on one architecture."""

    layers: tuple[Layer, ...]
    runtime: RuntimeConfig
    source_date_epoch: int
    history: tuple[str, ...]


def source_date_epoch(env: Mapping[str, str] | None = None) -> int | None:
    """``SOURCE_DATE_EPOCH`` from the environment, or None to take the newest package date."""
    env = os.environ if env is None else env
    text = env.get("SOURCE_DATE_EPOCH", "").strip()
    return int(text) if text.isdigit() else None


def newest_date(assembly: Assembly) -> int:
    """The newest file date of the assembled packages: the default layer timestamp."""
    return max((e.mtime for e in assembly.entries.values() if e.owner), default=0)


def runtime_config(starter: Starter, env: Mapping[str, str], label: str) -> RuntimeConfig:
    """The container configuration: starter env then the customization's env, the starter's
    entrypoint, cmd, workdir and user (``nonroot`` is uid/gid 65532, ``root`` 0)."""
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
    )


def _package_keys(packages: Sequence[Package]) -> list[str]:
    return [f"{p.name}={p.version}:{p.architecture}@{p.sha256}" for p in packages]


def build_line_image(
    plan: LinePlan,
    *,
    starter: Starter,
    env: Mapping[str, str],
    fetch: Fetcher,
    cache: LayerCache,
    epoch: int | None = None,
) -> LineImage:
    """Build (or take from ``cache``) the layers of ``plan``; ``epoch`` None clamps file dates
    to the newest package date (a function of the packages, so still deterministic).

    Cost: on a miss, fetching and reading every package and compressing the tree; on a hit,
    a few small file reads. Raises what fetching and reading raise (:class:`SourceError`,
    :class:`IntegrityError`) and :class:`~couturier.build.errors.FileConflictError`.
    """
    starter_keys = _package_keys(plan.starter)
    added_keys = _package_keys(plan.added)
    stamp = "auto" if epoch is None else str(epoch)
    keys = {
        "starter": layer_key("starter", plan.architecture, stamp, *starter_keys),
        "added": layer_key("added", plan.architecture, stamp, *starter_keys, "|", *added_keys),
        "generated": layer_key(
            "generated", plan.architecture, stamp, *starter_keys, "|", *added_keys
        ),
    }
    wanted = ["starter", "added", "generated"] if plan.added else ["starter", "generated"]
    cached = {kind: cache.get(keys[kind]) for kind in wanted}
    layers: dict[str, Layer] = {k: v for k, v in cached.items() if v is not None}
    used = cache.note(keys["generated"]).get("epoch")
    if len(layers) < len(wanted) or not isinstance(used, int):
        assembly = _assemble(plan, fetch)
        used = newest_date(assembly) if epoch is None else epoch
        made = _layer_entries(plan, assembly)
        for kind in wanted:
            layers[kind] = cache.build(
                keys[kind], partial(_write, made[kind], used), note={"epoch": used}
            )
    history = {
        "starter": f"{starter.name} {plan.line.version} packages ({len(plan.starter)})",
        "added": f"added packages ({len(plan.added)})",
        "generated": "generated files: accounts, CA bundle, os-release, dpkg database",
    }
    return LineImage(
        layers=tuple(layers[kind] for kind in wanted),
        runtime=runtime_config(starter, env, plan.line.version),
        source_date_epoch=used,
        history=tuple(history[kind] for kind in wanted),
    )


def _write(entries: Sequence[Entry], epoch: int, dest: Path) -> Layer:
    return write_layer(entries, epoch, dest=dest)


def _assemble(plan: LinePlan, fetch: Fetcher) -> Assembly:
    paths = fetch(plan.packages)
    # Starter packages first, each group by name: the starter layer then comes out the same
    # whatever was added.
    debs = [read_deb(paths[p.name]) for p in (*plan.starter, *plan.added)]
    return assemble(debs)


def _layer_entries(plan: LinePlan, assembly: Assembly) -> dict[str, Sequence[Entry]]:
    starter_names = {p.name for p in plan.starter}
    added_names = {p.name for p in plan.added}
    starter_layer, added_layer = split_layers(assembly.entries, [starter_names, added_names])
    generated = [*system_files(assembly.entries, plan.architecture), *dpkg_database(assembly)]
    generated_layer = with_parents(generated, below=assembly.entries)
    return {"starter": starter_layer, "added": added_layer, "generated": generated_layer}
