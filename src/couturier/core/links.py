"""Paths resolved through symbolic links as the kernel resolves them, without a filesystem.

A path is walked one component at a time from the root (or from a start directory): ``..`` goes
up from the *real* directory reached so far (at the root it stays at the root), and a component
that is a symbolic link is replaced by the link's target (from the root when the target is
absolute). Which paths are links is asked of a ``link_at`` function, so the same walk serves a
bundle on its own (its links only) and a bundle on top of an image tree (the image's links as
well). Paths are root-relative and ``/``-separated; the root is ``""``.

Used to check that a bundle's files and links stay inside its target, at creation
(:mod:`couturier.core.bundle`) and again when its layer is made (:mod:`couturier.build.bundles`).
Cost: linear in the components walked; at most :data:`MAX_HOPS` links are followed per path.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MAX_HOPS", "LinkAt", "LinkLoop", "inside", "resolve"]

MAX_HOPS = 40  # links followed on one path before it counts as a loop, as Linux does

# Root-relative path → the target of the symbolic link at that path, or None (not a link).
LinkAt = Callable[[str], str | None]


class LinkLoop(ValueError):  # noqa: N818 - it is what happened, as ELOOP says
    """A path went through more than :data:`MAX_HOPS` links: a loop, or a chain too long."""


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(path: str, link_at: LinkAt, *, start: str = "", follow_last: bool = True) -> str:
    """The real root-relative path ``path`` names: relative paths start at ``start``
    (root-relative), absolute ones at the root. The last component is followed when it is a link
    only if ``follow_last`` (as ``stat`` does; ``lstat`` and file creation do not).

    Raises :class:`LinkLoop` after :data:`MAX_HOPS` links.
    """
    done = [] if path.startswith("/") else _parts(start)
    pending = _parts(path)
    pending.reverse()  # a stack: the next component is at the end
    hops = MAX_HOPS
    while pending:
        part = pending.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        target = link_at("/".join([*done, part])) if pending or follow_last else None
        if target is None:
            done.append(part)
            continue
        hops -= 1
        if hops < 0:
            raise LinkLoop(path)
        if target.startswith("/"):
            done = []
        pending.extend(reversed(_parts(target)))
    return "/".join(done)


def inside(path: str, directory: str) -> bool:
    """Whether the root-relative ``path`` is ``directory`` or below it (``""`` is the root)."""
    return not directory or path == directory or path.startswith(directory + "/")
