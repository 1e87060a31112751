"""What a starter adds to its images for its job: directories its user owns, links, files.

A starter (:class:`~couturier.core.starter.Starter`, ``docs/starters.md``) names them in its
YAML file: ``writable`` directories are made (or re-declared over a package's directory) owned
by the image's user, mode 0755, so a server that runs unprivileged can write its data, pid file
and temporary files there (the postgres starter's ``/var/lib/postgresql`` and
``/run/postgresql``, as the postgresql-common postinst gives them to its ``postgres`` user);
``links`` are made where the path is free and the target exists, e.g. ``/usr/bin/python`` →
``python3`` as Debian's ``python-is-python3`` ships it; ``files`` (an entrypoint script) are
placed as they are. Paths are placed as the image shows them: ``/var/run/x`` lands at
``/run/x`` (base-files' link), ``/bin/x`` at ``/usr/bin/x`` (merged-/usr).

Pure: reads the tree and the starter, returns entries owned by nobody. :func:`starter_key`
gives what the generated layer's cache key needs to change when any of this changes.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping

from couturier.assembly.assemble import usr_merged
from couturier.assembly.ldcache import tree_real_path
from couturier.core.entries import Entry, EntryType
from couturier.core.starter import Starter

__all__ = ["image_path", "starter_files", "starter_key"]

Tree = Mapping[str, Entry]
# Links a generated layer makes over the packages' directories (base-files' postinst).
_MOVED = (("var/run", "run"), ("var/lock", "run/lock"))


def image_path(path: str) -> str:
    """Where an absolute ``path`` lies in the image: root-relative, merged-/usr, and below
    ``/run`` for ``/var/run`` (``/var/run/postgresql`` → ``run/postgresql``)."""
    relative = usr_merged(posixpath.normpath(path).strip("/"))
    for old, new in _MOVED:
        if relative == old or relative.startswith(old + "/"):
            return new + relative[len(old) :]
    return relative


def _target_exists(tree: Tree, link: str, target: str) -> bool:
    base = "/" if target.startswith("/") else "/" + posixpath.dirname(link)
    return tree_real_path(tree, posixpath.join(base, target)) is not None


def starter_files(tree: Tree, starter: Starter) -> list[Entry]:
    """The ``writable`` directories (owned by ``starter.uid``), the ``links`` whose path is
    free and whose target is in ``tree``, and the ``files`` of ``starter``."""
    uid = starter.uid
    out: list[Entry] = []
    for directory in starter.writable:
        path = image_path(directory)
        old = tree.get(path)
        if old is not None and old.type is not EntryType.DIRECTORY:
            continue  # a package put something else there: leave it
        out.append(Entry(path, EntryType.DIRECTORY, 0o755, uid, uid))
    for link, target in starter.links.items():
        path = image_path(link)
        if path not in tree and _target_exists(tree, path, target):
            out.append(Entry(path, EntryType.SYMLINK, 0o777, target=target))
    for file in starter.files:
        out.append(Entry(image_path(file.path), EntryType.FILE, file.mode, data=file.data))
    return out


def starter_key(starter: Starter) -> str:
    """A digest of what :func:`starter_files` and the accounts take from ``starter``."""
    parts = [
        starter.user,
        *(f"w:{path}" for path in starter.writable),
        *(f"l:{link}={target}" for link, target in sorted(starter.links.items())),
        *(f"f:{f.path}:{f.mode:o}:{hashlib.sha256(f.data).hexdigest()}" for f in starter.files),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
