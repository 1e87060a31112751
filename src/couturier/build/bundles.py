"""The entries of the file bundles layer: where each bundle's files land in one image.

A ``certificates`` bundle's files land at ``/usr/local/share/ca-certificates/<bundle>/<path>``
(``.crt``, mode 0644), where :func:`couturier.build.generated.ca_bundle` picks them up for the
system CA bundle and the Java trust store. A ``files`` bundle's files land at
``<target>/<path>`` with their permission bits (setuid, setgid and sticky never survive). Every
entry is owned by root and dated ``epoch``.

Paths are placed in the image as it is: a directory on the way that the packages made a link
(``/bin`` → ``usr/bin`` in a merged-/usr image) is followed, so the file lands where the image
will show it. A file where the image has a directory, a directory on the way that is a file, or
two bundles placing one path are :class:`BuildError` values naming the bundles and the path.

Pure apart from reading file contents from the bundle store (:func:`file_content`, verified
against their sha256). Cost: linear in the bundles' files and their path depth.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import ChainMap
from collections.abc import Mapping, Sequence

from couturier.build.entries import Entry, EntryType
from couturier.build.errors import BuildError
from couturier.core.bundle import Bundle, BundleFile
from couturier.errors import IntegrityError

__all__ = ["bundle_entries", "file_content"]

Tree = Mapping[str, Entry]
_HOPS = 40  # links followed on one path before it counts as a loop, as the kernel does


def file_content(file: BundleFile) -> bytes:
    """The content of ``file``: in memory, or read from the bundle store and checked against
    its sha256. Raises :class:`IntegrityError` for a store file that is gone or changed."""
    if file.data is not None:
        return file.data
    if file.source is None:
        raise IntegrityError(f"bundle file {file.path} has no content", "create the bundle again")
    try:
        data = file.source.read_bytes()
    except OSError as error:
        raise IntegrityError(
            f"bundle file {file.path} cannot be read from {file.source} ({error.strerror})",
            "create the bundle again",
        ) from error
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise IntegrityError(
            f"bundle file {file.path} changed in the store ({file.source})",
            "create the bundle again",
        )
    return data


def _real_parent(view: Mapping[str, Entry], parent: str, what: str) -> str:
    """``parent`` with every link among its existing directories followed (root-relative);
    directories that do not exist yet are kept as written."""
    parts = [p for p in parent.split("/") if p and p != "."]
    done: list[str] = []
    hops = _HOPS
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        current = "/".join([*done, part])
        entry = view.get(current)
        if entry is None or entry.type is EntryType.DIRECTORY:
            done.append(part)
        elif entry.type is EntryType.SYMLINK:
            hops -= 1
            if hops < 0:
                raise BuildError(f"{what}: /{parent} loops through symbolic links")
            base = [] if entry.target.startswith("/") else done
            parts = [*base, *entry.target.split("/"), *parts]
            done = []
        else:
            raise BuildError(
                f"{what}: /{current} is a file in the image, not a directory",
                "change the bundle's target or paths",
            )
    return "/".join(done)


def bundle_entries(bundles: Sequence[Bundle], tree: Tree, epoch: int) -> list[Entry]:
    """The files and links of ``bundles`` as they land on top of ``tree`` (the packages'
    tree), sorted by path; parent directories are not included (see
    :func:`couturier.build.assemble.with_parents`).

    Raises :class:`BuildError` for a path clash, :class:`IntegrityError` for store files that
    changed.
    """
    placed: dict[str, Entry] = {}
    owner: dict[str, str] = {}
    view = ChainMap(placed, dict(tree))
    for bundle in bundles:
        for file in bundle.files:
            wanted = bundle.image_path(file)
            what = f"bundle {bundle.ref} places /{wanted}"
            parent, base = posixpath.split(wanted)
            path = posixpath.join(_real_parent(view, parent, what), base)
            if path in owner:
                raise BuildError(
                    f"bundles {owner[path]} and {bundle.ref} both place /{path}",
                    "leave one of them out or change one's target",
                )
            existing = tree.get(path)
            below = any(other.startswith(path + "/") for other in placed)
            if below or (existing is not None and existing.type is EntryType.DIRECTORY):
                where = "another bundle places files below it" if below else "it is a directory"
                raise BuildError(f"{what}, but {where}", "change the bundle's target or paths")
            if file.link:
                entry = Entry(path, EntryType.SYMLINK, 0o777, mtime=epoch, target=file.link)
            else:
                mode = 0o644 if bundle.kind == "certificates" else file.mode & 0o777
                entry = Entry(path, EntryType.FILE, mode, mtime=epoch, data=file_content(file))
            placed[path] = entry
            owner[path] = bundle.ref
    return [placed[path] for path in sorted(placed)]
