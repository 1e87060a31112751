"""mmdebstrap as the peer of Couturier's build engine: the same resolved packages, unpacked.

:func:`extract` runs ``mmdebstrap --mode=root --variant=extract --include=name=version,...`` from
a :class:`~couturier.settings.Release`'s own suites (apt sources derived as in
``tests/apt_oracle.py``), writes an uncompressed tarball and reports which packages apt unpacked
(read from apt's archive cache by an extract hook) and what it downloaded. :func:`apt_lists`
keeps the apt lists of one run, so later runs can skip ``apt-get update``; :func:`apt_names`
hard-links packages from Couturier's download cache under the names apt gives them, so runs that
only measure sizes download nothing. Needs root. Raises :class:`RuntimeError` with mmdebstrap's
stderr when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from couturier.assembly.fetch import cache_path
from couturier.core.catalog import Package
from couturier.settings import Release
from tests.apt_oracle import source_lines

__all__ = ["BASE_OPTIONS", "Extracted", "apt_lists", "apt_names", "extract"]

# Every run: as root, unpack only. Couturier accepts an InRelease past its Valid-Until with a
# warning (forky's, on this mirror); apt refuses it unless told, so apt is told, for every run.
BASE_OPTIONS = (
    "--mode=root",
    "--variant=extract",
    '--aptopt=Acquire::Check-Valid-Until "false"',
)


@dataclass(frozen=True)
class Extracted:
    """One timed mmdebstrap run: the tarball, what apt unpacked and what it downloaded."""

    seconds: float
    tar: Path
    packages: frozenset[tuple[str, str]]
    fetched: tuple[str, ...]  # apt's "Fetched" summaries ("19.1 MB in 1s"): indexes, packages


def extract(
    release: Release,
    packages: Sequence[Package],
    tar: Path,
    *,
    lists: Path | None = None,
    debs: Path | None = None,
) -> Extracted:
    """``mmdebstrap --variant=extract --include=name=version,...`` of ``packages`` into ``tar``.

    ``lists``: apt lists to start from instead of running ``apt-get update`` (``--skip=update``);
    ``debs``: a directory of ``.deb`` files (apt's names) hard-linked into apt's archive cache.
    """
    tar.parent.mkdir(parents=True, exist_ok=True)
    listing = tar.with_suffix(".archives")
    command = ["mmdebstrap", *BASE_OPTIONS, "--verbose"]
    command.append("--include=" + ",".join(f"{p.name}={p.version}" for p in packages))
    if lists is not None:
        command += ["--skip=update", _link_in(lists, "/var/lib/apt/lists")]
    if debs is not None:
        command.append(_link_in(debs, "/var/cache/apt/archives"))
    command.append(f"--extract-hook=ls \"$1\"/var/cache/apt/archives > '{listing}'")
    command += [release.name, str(tar), *source_lines(release)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed: {done.stderr[-3000:]}")
    unpacked = set()
    for name in listing.read_text().split():
        if name.endswith(".deb"):
            package, version, _ = name.removesuffix(".deb").split("_")
            unpacked.add((package, unquote(version)))
    fetched = re.findall(r"^Fetched (.+?) \(", done.stderr + done.stdout, re.MULTILINE)
    return Extracted(seconds, tar, frozenset(unpacked), tuple(fetched))


def _link_in(source: Path, inside: str) -> str:
    return f'--setup-hook=mkdir -p "$1"{inside} && cp -al \'{source}\'/. "$1"{inside}/'


def apt_lists(release: Release, dest: Path) -> Path:
    """Fresh apt lists of ``release`` in ``dest``, as mmdebstrap's own apt writes them (one run
    of it: downloads the indexes)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    command = ["mmdebstrap", *BASE_OPTIONS, "--skip=cleanup/apt/lists"]
    command.append(f"--extract-hook=cp -a \"$1\"/var/lib/apt/lists/. '{dest}'/")
    command += [release.name, "/dev/null", *source_lines(release)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mmdebstrap could not read {release.name}: {done.stderr[-3000:]}")
    return dest


def apt_names(packages: Sequence[Package], cache_dir: Path, dest: Path) -> Path:
    """Hard-link the cached ``.deb`` of ``packages`` into ``dest`` under the names apt gives them
    in its archive cache (``name_version_arch.deb``, ``:`` quoted as ``%3a``)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for p in packages:
        version = p.version.replace("%", "%25").replace(":", "%3a")
        os.link(cache_path(cache_dir, p.sha256), dest / f"{p.name}_{version}_{p.architecture}.deb")
    return dest
