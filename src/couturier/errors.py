"""The one exception tree of Couturier.

Every error a user can meet is a :class:`CouturierError`. Its message is one line that names the
thing that was wrong and what to do about it; ``hint`` carries the "what to do" part separately so
interfaces can lay it out. HTTP status codes and exit statuses are chosen by the interfaces, never
here.

    CouturierError
    ├── ConfigError          settings, release, architecture or source names that are unknown
    ├── InputError           malformed user input (PKG=VERSION, names, specs)
    ├── NotFoundError        a package, release or snapshot that does not exist
    ├── SourceError          a package source that could not be read (network, HTTP status)
    │   └── IntegrityError   a download that failed verification (signature, size, sha256)
    ├── StateError           Couturier's own files (data, cache, bundle store) cannot be used
    └── ResolutionError      no installable set exists; carries the structured explanation
"""

from __future__ import annotations

from typing import Any


class CouturierError(Exception):
    """Root of every error Couturier raises on purpose.

    ``message`` says what was wrong, ``hint`` what the user can do about it (may be empty).
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CouturierError):
    """Settings refer to something that does not exist or is malformed."""


class InputError(CouturierError):
    """User input does not have the expected shape."""


class NotFoundError(CouturierError):
    """A named thing (package, version, release, snapshot) does not exist."""


class SourceError(CouturierError):
    """A package source could not be reached or answered with an error."""


class IntegrityError(SourceError):
    """Downloaded data failed verification: bad signature, unknown key, wrong size or hash."""


class StateError(CouturierError):
    """Couturier's own files cannot be read or written: a data or cache directory that is a
    file, a store directory without write permission, a full disk. ``path`` names the file."""

    def __init__(self, message: str, hint: str = "", path: str = "") -> None:
        super().__init__(message, hint)
        self.path = path


class ResolutionError(CouturierError):
    """No set of packages satisfies the request.

    ``explanation`` is the structured reason: a list of steps, each a dict with at least ``kind``
    and ``text``; ``sentence`` joins them into words a user understands.
    """

    def __init__(self, sentence: str, explanation: list[dict[str, Any]]) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.explanation = explanation
