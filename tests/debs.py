"""Real ``.deb`` files built with ``dpkg-deb --build`` for the build-engine tests (a helper).

:func:`build_deb` takes control fields and a mapping of paths to contents: ``bytes``/``str`` for a
regular file (mode 0644), :class:`Link` for a symlink, :class:`Hardlink` for a hard link,
:class:`Dir` for an (empty) directory and :class:`File` for a file with a chosen mode. Paths are
relative to the package root (``usr/bin/x``). ``md5sums`` is written as dpkg-deb users do;
``conffiles`` lists absolute paths.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Content", "Dir", "File", "Hardlink", "Link", "build_deb"]


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Hardlink:
    target: str  # a path of the same package, relative to its root


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int = 0o644


Content = bytes | str | Link | Hardlink | Dir | File


def build_deb(
    out_dir: Path,
    control: Mapping[str, str],
    files: Mapping[str, Content] | None = None,
    compression: str = "xz",
    conffiles: Sequence[str] = (),
    *,
    date: int | None = None,
) -> Path:
    """Build ``<Package>_<Version>_<Architecture>.deb`` in ``out_dir`` and return its path.

    ``compression`` is what ``dpkg-deb -Z`` accepts: ``xz``, ``gzip``, ``zstd`` or ``none``.
    ``date`` is the ``SOURCE_DATE_EPOCH`` dpkg-deb clamps the file dates to (default: the
    environment's).
    """
    fields = {
        "Version": "1.0-1",
        "Architecture": "all",
        "Maintainer": "Couturier Tests <test@example.invalid>",
        "Description": f"{control['Package']} test package",
    }
    fields.update(control)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        (root / "DEBIAN").mkdir(parents=True)
        sums: list[str] = []
        # Hard links last: their originals must exist first.
        ordered = sorted((files or {}).items(), key=lambda i: (isinstance(i[1], Hardlink), i[0]))
        for path, content in ordered:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Hardlink):
                os.link(root / content.target, target)
            elif isinstance(content, Link):
                os.symlink(content.target, target)
            elif isinstance(content, Dir):
                target.mkdir(exist_ok=True)
                target.chmod(content.mode)
            else:
                data = content.encode() if isinstance(content, str) else content
                mode = 0o644
                if isinstance(content, File):
                    data, mode = content.data, content.mode
                target.write_bytes(data)
                target.chmod(mode)
                sums.append(f"{hashlib.md5(data).hexdigest()}  {path}\n")
        (root / "DEBIAN" / "control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
        if sums:
            (root / "DEBIAN" / "md5sums").write_text("".join(sums))
        if conffiles:
            (root / "DEBIAN" / "conffiles").write_text("".join(f"{c}\n" for c in conffiles))
        name = f"{fields['Package']}_{fields['Version']}_{fields['Architecture']}.deb"
        deb = out_dir / name
        env = None if date is None else {**os.environ, "SOURCE_DATE_EPOCH": str(date)}
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(deb)],
            check=True,
            capture_output=True,
            env=env,
        )
    return deb


# (control fields, files, SOURCE_DATE_EPOCH) of one package.
Dated = tuple[Mapping[str, str], Mapping[str, Content], int]


def build_suites(
    pool: Path, suites: Mapping[str, Sequence[Dated]]
) -> dict[str, list[dict[str, str]]]:
    """Build every suite's packages (gzip) into ``pool`` and return the index stanzas
    :func:`tests.fixture_repo.build_repo` wants, which reuses the ``.deb`` files built here."""
    stanzas: dict[str, list[dict[str, str]]] = {}
    for suite, packages in suites.items():
        for control, files, date in packages:
            build_deb(pool, control, files, compression="gzip", date=date)
        stanzas[suite] = [
            {"Version": "1.0-1", **control, "Architecture": "all"} for control, _, _ in packages
        ]
    return stanzas
