"""The entries of the file bundles layer: where each bundle's files land in one image.

A ``certificates`` bundle's files land at ``/usr/local/share/ca-certificates/<bundle>/<path>``
(``.crt``, mode 0644), where :func:`couturier.assembly.generated.ca_bundle` picks them up for the
system CA bundle and the Java trust store. A ``files`` bundle's files land at
``<target>/<path>`` with their permission bits (setuid, setgid and sticky never survive). Every
entry is owned by root and dated ``epoch``.

Paths are placed in the image as it is: a directory on the way that the packages made a link
(``/bin`` → ``usr/bin`` in a merged-/usr image) is followed, so the file lands where the image
will show it. A file where the image has a directory, a directory on the way that is a file, or
two bundles placing one path are :class:`BuildError` values naming the bundles and the path.

Every bundle is checked again here, whatever the store holds (a bundle damaged or crafted by
hand): the rules of :func:`couturier.core.bundle.check_stored`, then, over the image tree and the
entries placed so far, every file and link must land inside the real place of the target (or
of the bundle's certificates directory) and every link must reach a path inside it.

Pure apart from reading file contents from the bundle store (:func:`file_content`, verified
against their sha256). Cost: linear in the bundles' files and their path depth.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import ChainMap
from collections.abc import Mapping, Sequence

from couturier.assembly.assemble import parents
from couturier.assembly.errors import BuildError, BundlePlacementError
from couturier.core.bundle import (
    CERTIFICATES_DIR,
    MAX_FILE_SIZE,
    Bundle,
    BundleFile,
    check_stored,
    runtime_mount,
)
from couturier.core.entries import Entry, EntryType
from couturier.core.links import LinkLoop, inside, real_path, tree_links
from couturier.errors import Code, IntegrityError

__all__ = ["bundle_entries", "check_generated", "file_content"]

Tree = Mapping[str, Entry]


def file_content(file: BundleFile) -> bytes:
    """The content of ``file``: in memory, or read from the bundle store and checked against
    its sha256. Raises :class:`IntegrityError` for a store file that is gone or changed."""
    if file.data is not None:
        return file.data
    if file.source is None:
        raise IntegrityError(
            f"bundle file {file.path} has no content",
            "create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"file": file.path},
        )
    try:
        with file.source.open("rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)  # a store file replaced by a huge one
    except OSError as error:
        raise IntegrityError(
            f"bundle file {file.path} cannot be read from {file.source} ({error.strerror})",
            "create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"file": file.path, "path": str(file.source)},
        ) from error
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise IntegrityError(
            f"bundle file {file.path} changed in the store ({file.source})",
            "create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"file": file.path, "path": str(file.source)},
        )
    return data


def _real(view: Mapping[str, Entry], path: str, what: str, *, start: str = "") -> str:
    """``path`` with every link of ``view`` on its way followed (root-relative); directories
    that do not exist yet are kept as written. Raises :class:`BuildError` for a loop or a file
    of the image where a directory is needed."""
    try:
        real = real_path(path, tree_links(view), start=start)
    except LinkLoop:
        raise BundlePlacementError(f"{what}: /{path} loops through symbolic links") from None
    ends = [at for at, c in enumerate(real) if c == "/"] + [len(real)] if real else []
    for end in ends:
        current = real[:end]
        entry = view.get(current)
        if entry is not None and entry.type is not EntryType.DIRECTORY:
            raise BundlePlacementError(
                f"{what}: /{current} is a file in the image, not a directory",
                "change the bundle's target or paths",
            )
    return real


def _root(bundle: Bundle, view: Mapping[str, Entry]) -> str:
    """Where ``bundle``'s files must land, root-relative, through the image's links; a place
    the container runtime mounts over (``/var/run`` → ``/run``) is a :class:`BuildError`."""
    directory = (bundle.target or "/") if bundle.kind == "files" else f"{CERTIFICATES_DIR}/"
    if bundle.kind != "files":
        directory += bundle.name
    real = _real(view, directory.strip("/"), f"bundle {bundle.ref}")
    mounted = runtime_mount(real)
    if mounted is not None:
        raise BundlePlacementError(
            f"bundle {bundle.ref} places its files in /{real}, under {mounted}, which container "
            "runtimes mount over: the files would never be seen",
            "give the bundle another target (under /etc or /opt, say)",
            fields={"bundle": bundle.ref, "path": f"/{real}", "mount": mounted},
        )
    return real


def _checked(bundle: Bundle) -> None:
    """Raise :class:`BuildError` when a stored bundle breaks the rules bundles are created
    with (it was damaged or crafted by hand)."""
    violations = check_stored(bundle)
    if violations:
        listed = "; ".join(str(v) for v in violations[:5])
        raise BuildError(
            f"bundle {bundle.ref} in the store breaks the bundle rules: {listed}",
            "create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"bundle": bundle.name, "version": bundle.version},
        )


def _real_target(view: Mapping[str, Entry], link: str, start: str, what: str) -> str:
    try:
        return real_path(link, tree_links(view), start=start)
    except LinkLoop:
        raise BundlePlacementError(f"{what}, a link to {link!r} that loops") from None


def bundle_entries(bundles: Sequence[Bundle], tree: Tree, epoch: int) -> list[Entry]:
    """The files and links of ``bundles`` as they land on top of ``tree`` (the packages'
    tree), sorted by path; parent directories are not included (see
    :func:`couturier.assembly.assemble.with_parents`).

    Raises :class:`BuildError` for a path clash, :class:`IntegrityError` for store files that
    changed.
    """
    placed: dict[str, Entry] = {}
    owner: dict[str, str] = {}
    view = ChainMap(placed, dict(tree))
    for bundle in bundles:
        _checked(bundle)
        root = _root(bundle, view)
        for file in bundle.files:
            wanted = bundle.image_path(file)
            what = f"bundle {bundle.ref} places /{wanted}"
            parent, base = posixpath.split(wanted)
            real_parent = _real(view, parent, what)
            path = posixpath.join(real_parent, base)
            if not inside(path, root):
                raise BundlePlacementError(
                    f"{what}, which lands at /{path} through links, out of /{root}",
                    "remove the links the bundle's paths go through and create it again",
                    fields={"bundle": bundle.ref, "path": f"/{wanted}"},
                )
            if file.link:
                reached = _real_target(view, file.link, real_parent, what)
                if not inside(reached, root):
                    raise BundlePlacementError(
                        f"{what}, a link to {file.link!r} that reaches /{reached}, out of /{root}",
                        "replace the link with the file itself and create the bundle again",
                        fields={"bundle": bundle.ref, "path": f"/{wanted}"},
                    )
            if path in owner:
                raise BundlePlacementError(
                    f"bundles {owner[path]} and {bundle.ref} both place /{path}",
                    "leave one of them out or change one's target",
                    fields={"bundles": [owner[path], bundle.ref], "path": f"/{path}"},
                )
            existing = tree.get(path)
            below = any(other.startswith(path + "/") for other in placed)
            if below or (existing is not None and existing.type is EntryType.DIRECTORY):
                where = "another bundle places files below it" if below else "it is a directory"
                raise BundlePlacementError(
                    f"{what}, but {where}",
                    "change the bundle's target or paths",
                    fields={"bundle": bundle.ref, "path": f"/{path}"},
                )
            if file.link:
                entry = Entry(path, EntryType.SYMLINK, 0o777, mtime=epoch, target=file.link)
            else:
                mode = 0o644 if bundle.kind == "certificates" else file.mode & 0o777
                entry = Entry(path, EntryType.FILE, mode, mtime=epoch, data=file_content(file))
            placed[path] = entry
            owner[path] = bundle.ref
    return [placed[path] for path in sorted(placed)]


def _placed_by(bundles: Sequence[Bundle], path: str) -> str:
    """The bundle that places ``path`` (root-relative, as it lands), for an error."""
    for bundle in bundles:
        if any(bundle.image_path(file) == path for file in bundle.files):
            return f"bundle {bundle.ref}"
    for bundle in bundles:  # a path reached through the image's links: the nearest target
        if bundle.kind == "files" and path.startswith((bundle.target or "/").strip("/") + "/"):
            return f"bundle {bundle.ref}"
    return "a bundle"


def _kind(entry: Entry) -> str:
    if entry.type is EntryType.SYMLINK:
        return f"a link to {entry.target}"
    return "a file"


def check_generated(
    bundles: Sequence[Bundle], bundled: Sequence[Entry], generated: Sequence[Entry]
) -> None:
    """Raise :class:`BuildError` when the generated files (``/etc/passwd``, ``/etc/group``,
    ``/etc/ld.so.cache``, base-files' links such as ``/var/run``...) would hide files of
    ``bundled``: a generated file or link where a bundle needs a directory (``--target
    /etc/passwd``: the generated layer puts ``/etc/passwd`` back over the bundle's directory
    and every file below it is lost), or a bundle's file or link where a generated file needs
    a directory. A bundle file at the very path of a generated one replaces it (that is how a
    bundle overrides ``nsswitch.conf``), so that is no clash. Cost: linear in the entries and
    their path depth.
    """
    clash = _below_non_directory(bundled, generated)
    if clash is not None:
        entry, parent, found = clash
        raise BundlePlacementError(
            f"{_placed_by(bundles, entry.path)} places /{entry.path}, but /{parent} is "
            f"{_kind(found)} that Couturier generates in every image, so the bundle's "
            "files below it would be lost",
            "give the bundle a target that is a directory in the image (and create it again)",
            fields={"path": f"/{entry.path}", "generated": f"/{parent}"},
        )
    clash = _below_non_directory(generated, bundled)
    if clash is not None:
        entry, parent, found = clash
        raise BundlePlacementError(
            f"{_placed_by(bundles, parent)} places {_kind(found)} at /{parent}, where "
            f"Couturier generates /{entry.path} in every image",
            "leave that path out of the bundle (and create it again)",
            fields={"path": f"/{parent}", "generated": f"/{entry.path}"},
        )


def _below_non_directory(
    entries: Sequence[Entry], over: Sequence[Entry]
) -> tuple[Entry, str, Entry] | None:
    """The first of ``entries`` that lies below a path where ``over`` has a file or a link:
    that entry, the path and what ``over`` has there; None when there is no such entry."""
    at = {entry.path: entry for entry in over}
    for entry in entries:
        for parent in parents(entry.path):
            found = at.get(parent)
            if found is not None and found.type is not EntryType.DIRECTORY:
                return entry, parent, found
    return None
