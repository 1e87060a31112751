"""Errors of the build engine, structured so that messages name the paths and packages involved.

CouturierError
└── BuildError            the image cannot be assembled from the resolved packages
    └── FileConflictError two packages write one path and neither Replaces the other
"""

from __future__ import annotations

from couturier.errors import CouturierError

__all__ = ["BuildError", "FileConflictError"]


class BuildError(CouturierError):
    """The resolved packages cannot be assembled into one filesystem tree."""


class FileConflictError(BuildError):
    """``first`` and ``second`` both ship ``path`` (absolute, as it lands in the image)."""

    def __init__(self, path: str, first: str, second: str, detail: str = "") -> None:
        message = f"{first} and {second} both ship {path}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(
            message, "one of them must declare Replaces on the other, or leave one of them out"
        )
        self.path = path
        self.first = first
        self.second = second
