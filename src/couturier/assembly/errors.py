"""Errors of the build engine, structured so that messages name the paths and packages involved.

CouturierError
└── BuildError            the image cannot be assembled from the resolved packages
    ├── FileConflictError two packages write one path and neither Replaces the other
    └── BundlePlacementError a bundle's files cannot land where it places them
"""

from __future__ import annotations

from couturier.errors import Code, CouturierError

__all__ = ["BuildError", "BundlePlacementError", "FileConflictError"]


class BuildError(CouturierError):
    """The resolved packages cannot be assembled into one filesystem tree."""

    default_code = Code.ASSEMBLY_FAILED


class FileConflictError(BuildError):
    """``first`` and ``second`` both ship ``path`` (absolute, as it lands in the image); the
    fields are ``path``, ``packages`` (the two) and ``detail``."""

    default_code = Code.FILE_CONFLICT

    def __init__(self, path: str, first: str, second: str, detail: str = "") -> None:
        message = f"{first} and {second} both ship {path}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(
            message,
            "one of them must declare Replaces on the other, or leave one of them out",
            fields={"path": path, "packages": [first, second], "detail": detail},
        )
        self.path = path
        self.first = first
        self.second = second


class BundlePlacementError(BuildError):
    """A bundle's files cannot land where it places them in this image (a link loop, a file
    where a directory is needed, a runtime mount, another bundle or a generated file)."""

    default_code = Code.BUNDLE_PLACEMENT
