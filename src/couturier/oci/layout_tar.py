"""Unpacking a tar of an OCI image layout (what ``GET /v1/images/{tenant}/{name}/layout``
sends) into a directory, safely.

Only the names an image layout has are accepted: ``oci-layout``, ``index.json`` and
``blobs/sha256/<64 hex>``, each a regular file appearing once; anything else (another name, an
absolute path, ``..``, a link, a device, a directory entry) refuses the whole archive, so no
name from the server decides a path outside the target. Each blob's sha256 is checked against
its name while it is written. The layout is assembled in a locked partial directory beside the
target and renamed into place whole at the end: the target either does not exist afterwards
or is the complete layout, and an existing non-empty target is never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from pathlib import Path
from typing import BinaryIO

from couturier.errors import Code, InputError, IntegrityError
from couturier.integrity import Partial, sweep_partials
from couturier.oci.layout import Layout

__all__ = ["unpack_layout"]

_NAME = re.compile(r"oci-layout|index\.json|blobs/sha256/[0-9a-f]{64}")
_CHUNK = 1 << 20


def _refused(problem: str, name: str = "") -> IntegrityError:
    return IntegrityError(
        f"the layout archive {problem}{f': {name[:120]!r}' if name else ''}",
        "nothing was written; export again",
        code=Code.INTEGRITY_FAILED,
        fields={"member": name[:200], "problem": problem},
    )


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InputError(
            f"{target} is not a directory",
            "name a new or empty directory",
            code=Code.OUTPUT_UNUSABLE,
            fields={"path": str(target)},
        )
    if target.is_dir() and next(target.iterdir(), None) is not None:
        raise InputError(
            f"{target} is not empty",
            "name a new or empty directory",
            code=Code.OUTPUT_UNUSABLE,
            fields={"path": str(target)},
        )


def unpack_layout(archive: BinaryIO, target: Path) -> int:
    """Unpack the layout tar read from ``archive`` into ``target`` (new, or an empty
    directory); the number of blobs. Raises :class:`InputError` (``output-unusable``) for a
    target that is a file or not empty, :class:`IntegrityError` for an archive holding
    anything but a layout's files, a blob that does not match its name, or a layout whose
    ``index.json`` refers to a missing blob; :class:`OSError` when writing fails."""
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-"
    sweep_partials(target.parent, lambda name: name.startswith(prefix))
    with Partial.directory(target.parent, prefix) as partial:
        stage = partial.path
        (stage / "blobs" / "sha256").mkdir(parents=True)
        seen: set[str] = set()
        try:
            with tarfile.open(fileobj=archive, mode="r|") as tar:
                for member in tar:
                    _unpack_member(tar, member, stage, seen)
        except tarfile.TarError as error:
            raise _refused(f"is not a readable tar ({error})") from None
        if not {"oci-layout", "index.json"} <= seen:
            raise _refused("lacks oci-layout or index.json")
        layout = Layout(stage)
        for entry in layout.read_index():
            if not layout.blob_path(entry.digest).is_file():
                raise _refused("lacks a blob its index.json names", entry.digest)
        stage.chmod(0o755)
        if target.is_dir():
            target.rmdir()  # empty, checked above: rename(2) would replace it anyway
        os.rename(stage, target)
    return len(seen) - 2


def _unpack_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, stage: Path, seen: set[str]
) -> None:
    name = member.name
    if not member.isreg() or not _NAME.fullmatch(name) or name in seen:
        raise _refused("holds something that is not a file of an OCI image layout", name)
    seen.add(name)
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    hasher = hashlib.sha256()
    with (stage / name).open("xb") as out:
        while chunk := source.read(_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    if name.startswith("blobs/") and hasher.hexdigest() != name.rsplit("/", 1)[1]:
        raise _refused("holds a blob whose content is not its digest", name)
