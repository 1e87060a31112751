"""Write entries to a directory on disk: for tests, oracles (``dpkg --root``) and debugging.

Layers are written as tarballs by the image writer; this is the on-disk equivalent. Later entries
replace earlier ones at the same path, as a later layer does. Owners are applied only when running
as root; directory modes are applied last so that read-only directories can still be filled.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from couturier.assembly.deb import normalize_member_path
from couturier.core.entries import Entry, EntryType
from couturier.errors import InputError

__all__ = ["materialize"]


def _remove(path: Path) -> None:
    """Clear ``path`` for a non-directory entry; a directory goes with its contents, as when
    a layer puts a link where a lower layer has a directory (``/var/run`` → ``/run``)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def materialize(entries: Iterable[Entry], root: Path) -> None:
    """Create every entry under ``root`` (which must exist).

    Raises :class:`InputError` for a path that would escape ``root``.
    """
    as_root = os.geteuid() == 0
    directories: list[tuple[Path, Entry]] = []
    for entry in sorted(entries, key=lambda e: e.path):
        relative = normalize_member_path(entry.path)
        if not relative:
            raise InputError(f"cannot write {entry.path!r} outside the image root")
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.type is EntryType.DIRECTORY:
            if path.is_symlink() or path.is_file():
                path.unlink()
            path.mkdir(exist_ok=True)
            directories.append((path, entry))
            continue
        _remove(path)
        if entry.type is EntryType.HARDLINK:
            os.link(root / entry.target, path)
            continue
        if entry.type is EntryType.FILE:
            path.write_bytes(entry.data)
        else:
            os.symlink(entry.target, path)
        if as_root:
            os.lchown(path, entry.uid, entry.gid)
        if entry.type is EntryType.FILE:
            os.chmod(path, entry.mode)  # after chown, which clears setuid bits
        os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)
    for path, entry in reversed(directories):
        if as_root:
            os.chown(path, entry.uid, entry.gid)
        os.chmod(path, entry.mode)
        os.utime(path, (entry.mtime, entry.mtime))
