"""Paths resolved through symbolic links as the kernel resolves them, without a filesystem.

A path is walked one component at a time from the root (or from a start directory): ``..`` goes
up from the *real* directory reached so far (at the root it stays at the root), and a component
that is a symbolic link is replaced by the link's target (from the root when the target is
absolute). Which paths are links is asked of a ``link_at`` function, so the same walk serves a
bundle on its own (its links only) and a bundle on top of an image tree (the image's links as
well). Paths are root-relative and ``/``-separated; the root is ``""``.

Used to check that a bundle's files and links stay inside its target, at creation
(:mod:`couturier.core.bundle`, with :func:`placement_problems`) and again when its layer is
made (:mod:`couturier.assembly.bundles`, over the image's links too), and to find files in an
image tree (:func:`couturier.assembly.ldcache.tree_real_path`, with :func:`tree_links`).
Cost: linear in the components walked; at most :data:`MAX_HOPS` links are followed per path.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Mapping, Sequence

from couturier.core.entries import Entry, EntryType

__all__ = [
    "MAX_HOPS",
    "LinkAt",
    "LinkLoop",
    "inside",
    "placement_problems",
    "real_path",
    "tree_links",
    "unpacked_links",
]

MAX_HOPS = 40  # links followed on one path before it counts as a loop, as Linux does

# Root-relative path → the target of the symbolic link at that path, or None (not a link).
LinkAt = Callable[[str], str | None]


class LinkLoop(ValueError):  # noqa: N818 - it is what happened, as ELOOP says
    """A path went through more than :data:`MAX_HOPS` links: a loop, or a chain too long."""


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def tree_links(tree: Mapping[str, Entry]) -> LinkAt:
    """The ``link_at`` of an image tree (entries by root-relative path): the target of the
    symbolic link entry at a path."""

    def link_at(path: str) -> str | None:
        entry = tree.get(path)
        return entry.target if entry is not None and entry.type is EntryType.SYMLINK else None

    return link_at


def real_path(
    path: str,
    link_at: LinkAt,
    *,
    start: str = "",
    follow_last: bool = True,
    hops: int = MAX_HOPS,
) -> str:
    """The real root-relative path ``path`` names: relative paths start at ``start``
    (root-relative), absolute ones at the root. The last component is followed when it is a link
    only if ``follow_last`` (as ``stat`` does; ``lstat`` and file creation do not).

    Raises :class:`LinkLoop` after ``hops`` links (:data:`MAX_HOPS` unless told).
    """
    # ``done`` is kept as one string: each step costs the length of the path, not the square
    # of its depth (a path of 4096 bytes may have 2048 components).
    done = "" if path.startswith("/") else "/".join(_parts(start))
    pending = _parts(path)
    pending.reverse()  # a stack: the next component is at the end
    while pending:
        part = pending.pop()
        if part == "..":
            done = done[: max(done.rfind("/"), 0)]
            continue
        candidate = f"{done}/{part}" if done else part
        target = link_at(candidate) if pending or follow_last else None
        if target is None:
            done = candidate
            continue
        hops -= 1
        if hops < 0:
            raise LinkLoop(path)
        if target.startswith("/"):
            done = ""
        pending.extend(reversed(_parts(target)))
    return done


def inside(path: str, directory: str) -> bool:
    """Whether the root-relative ``path`` is ``directory`` or below it (``""`` is the root)."""
    return not directory or path == directory or path.startswith(directory + "/")


def unpacked_links(root: str, entries: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The links of ``entries`` (path relative to ``root``, target) by the root-relative path
    each really lands at when they are unpacked in path order under ``root``: a link written
    below another link lands where that one leads (one placed through a loop is left out)."""
    links: dict[str, str] = {}
    for path, link in sorted(entries):
        if link:
            with contextlib.suppress(LinkLoop):
                links[real_path(posixpath.join(root, path), links.get, follow_last=False)] = link
    return links


def placement_problems(root: str, entries: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(path, rule) for every entry of a set placed under the root-relative directory ``root``
    whose place breaks a rule once all of the set's links are followed together: placed below
    another file of the set, placed through a link of the set, landing out of ``root``, or a
    link that loops or reaches out of ``root``.

    ``entries`` are (path relative to ``root``, link target or "" for a file). Links are
    registered where they really land, in path order, as they would be unpacked: a link written
    below another link lands where that one leads. Cost: for each entry, one walk (at most
    :data:`MAX_HOPS` links) and one look at every file: meant for a bundle's few entries.
    """
    shown = f"/{root}"
    files = {path for path, link in entries if not link}
    links = unpacked_links(root, entries)
    problems: list[tuple[str, str]] = []
    for path, link in sorted(entries):
        parent = next((f for f in sorted(files) if path.startswith(f + "/")), None)
        if parent is not None:
            problems.append((path, f"is below {parent}, which is a file of the bundle"))
            continue
        written = posixpath.join(root, path)
        try:
            real = real_path(written, links.get, follow_last=False)
        except LinkLoop:
            problems.append((path, "is placed through symbolic links of the bundle that loop"))
            continue
        if not inside(real, root):
            problems.append(
                (
                    path,
                    f"lands at /{real} through the bundle's own links, out of the target "
                    f"{shown}; remove those links",
                )
            )
        elif real != written:
            problems.append(
                (
                    path,
                    f"is placed through a link of the bundle (it lands at /{real}); store it "
                    "at its real path",
                )
            )
        elif link:
            try:
                reached = real_path(link, links.get, start=posixpath.dirname(written))
            except LinkLoop:
                problems.append((path, f"is a link to {link!r}, which loops"))
                continue
            if not inside(reached, root):
                problems.append(
                    (
                        path,
                        f"is a link to {link!r}, which reaches /{reached} through the bundle's "
                        f"links, out of the target {shown}; replace it with the file itself",
                    )
                )
    return problems
