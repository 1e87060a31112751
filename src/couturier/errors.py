"""The one exception tree of Couturier, and the codes its errors carry.

Every error a user can meet is a :class:`CouturierError`. It is data: a stable ``code`` (one of
:data:`CODES`, a kebab-case string a client may branch on), ``fields`` (the structured facts:
package, release, url, path, expected and actual sha256, ...), ``retryable`` (whether the same
request may succeed later: an unreachable mirror, an HTTP 5xx) and ``message``, one line that
names what was wrong. ``hint`` is generic advice that names no command; an interface renders
its own advice from the code and fields (the CLI's may name CLI commands,
:mod:`couturier.cli.hints`). :attr:`CouturierError.problem` is the value a result carries when
one line of a build fails or is skipped (:class:`Problem`, JSON ``{"code", "message",
"fields"}``). HTTP status codes and exit statuses are chosen by the interfaces, never here;
``docs/errors.md`` lists every code.

    CouturierError
    ├── ConfigError          settings, release, architecture or source names that are unknown
    ├── InputError           malformed user input (PKG=VERSION, names, specs)
    ├── NotFoundError        a package, release or snapshot that does not exist
    ├── SourceError          a package source that could not be read (network, HTTP status)
    │   └── IntegrityError   a download that failed verification (signature, size, sha256)
    ├── StateError           Couturier's own files (data, cache, bundle store) cannot be used
    ├── ConflictError        a name already taken (a tenant, later an image)
    ├── AccessError          a request without a valid token, or with too low a scope
    └── ResolutionError      no installable set exists; carries the structured explanation
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "CODES",
    "AccessError",
    "Code",
    "ConfigError",
    "ConflictError",
    "CouturierError",
    "FieldValue",
    "InputError",
    "IntegrityError",
    "NotFoundError",
    "Problem",
    "ResolutionError",
    "SourceError",
    "StateError",
]

# A field's value: what JSON carries (a step of a resolver's explanation is a mapping).
FieldValue = str | int | float | bool | None | Sequence["FieldValue"] | Mapping[str, "FieldValue"]


class Code(StrEnum):
    """Every error code. A code names what a client would branch on, not a sentence: the
    facts that differ between two errors of one code are in their fields."""

    # settings and input
    SETTINGS_INVALID = "settings-invalid"
    RELEASE_UNKNOWN = "release-unknown"
    ARCHITECTURE_UNKNOWN = "architecture-unknown"
    INPUT_INVALID = "input-invalid"
    SPEC_INVALID = "spec-invalid"
    BUNDLE_INVALID = "bundle-invalid"
    OUTPUT_UNUSABLE = "output-unusable"
    STARTER_INVALID = "starter-invalid"
    # things that do not exist
    NOT_FOUND = "not-found"
    STARTER_NOT_FOUND = "starter-not-found"
    LINE_NOT_FOUND = "line-not-found"
    PACKAGE_NOT_FOUND = "package-not-found"
    VERSION_NOT_IN_RELEASE = "version-not-in-release"
    BUNDLE_NOT_FOUND = "bundle-not-found"
    INDEX_MISSING = "index-missing"
    # resolution
    NO_INSTALLABLE_SET = "no-installable-set"
    # the package source
    SOURCE_UNREACHABLE = "source-unreachable"
    SOURCE_HTTP_ERROR = "source-http-error"
    SOURCE_URL_INVALID = "source-url-invalid"
    REMOTE_FILE_MISSING = "remote-file-missing"
    SUITE_NOT_FOUND = "suite-not-found"
    TOOL_MISSING = "tool-missing"
    # verification
    INTEGRITY_FAILED = "integrity-failed"
    INDEX_SIGNATURE_INVALID = "index-signature-invalid"
    INDEX_EXPIRED = "index-expired"
    INDEX_MALFORMED = "index-malformed"
    KEYRING_UNUSABLE = "keyring-unusable"
    DOWNLOAD_TOO_LARGE = "download-too-large"
    DOWNLOAD_HASH_MISMATCH = "download-hash-mismatch"
    DOWNLOAD_CORRUPT = "download-corrupt"
    PACKAGE_CORRUPT = "package-corrupt"
    BLOB_DAMAGED = "blob-damaged"
    # Couturier's own files
    STATE_UNUSABLE = "state-unusable"
    SNAPSHOT_DAMAGED = "snapshot-damaged"
    SUITE_STATE_DAMAGED = "suite-state-damaged"
    CACHE_DAMAGED = "cache-damaged"
    BUNDLE_DAMAGED = "bundle-damaged"
    STORAGE_FULL = "storage-full"
    STORAGE_UNWRITABLE = "storage-unwritable"
    # assembly
    ASSEMBLY_FAILED = "assembly-failed"
    FILE_CONFLICT = "file-conflict"
    BUNDLE_PLACEMENT = "bundle-placement"
    # the service: names, tokens, its database and installation key
    NAME_TAKEN = "name-taken"
    TENANT_NOT_FOUND = "tenant-not-found"
    TOKEN_MISSING = "token-missing"
    TOKEN_INVALID = "token-invalid"
    TOKEN_EXPIRED = "token-expired"
    TOKEN_REVOKED = "token-revoked"
    SCOPE_TOO_LOW = "scope-too-low"
    CSRF_INVALID = "csrf-invalid"
    DATABASE_UNAVAILABLE = "database-unavailable"
    DATABASE_TOO_NEW = "database-too-new"
    JOBS_NOT_RUNNING = "jobs-not-running"
    INSTALLATION_KEY_UNUSABLE = "installation-key-unusable"
    SECRET_UNREADABLE = "secret-unreadable"
    IMAGE_NOT_FOUND = "image-not-found"
    BUILD_NOT_FOUND = "build-not-found"
    ACTION_NOT_FOUND = "action-not-found"
    BUILD_INTERRUPTED = "build-interrupted"
    LINE_DOES_NOT_START = "line-does-not-start"
    BUNDLE_IN_USE = "bundle-in-use"
    UPLOAD_TOO_LARGE = "upload-too-large"
    BACKUP_INCOMPLETE = "backup-incomplete"
    INSTALLATION_NOT_EMPTY = "installation-not-empty"
    # destinations: registering them, and pushing images there
    DESTINATION_INVALID = "destination-invalid"
    DESTINATION_NOT_FOUND = "destination-not-found"
    PUSH_UNREACHABLE = "push-unreachable"
    PUSH_DENIED = "push-denied"
    PUSH_REJECTED = "push-rejected"
    # signatures and attestations
    SIGNING_KEY_INVALID = "signing-key-invalid"
    SIGNING_FAILED = "signing-failed"
    VERIFICATION_FAILED = "verification-failed"
    # interfaces (the CLI's own errors: local files it did not expect, a server it cannot
    # reach or read, a bug)
    LOCAL_FILES = "local-files"
    SERVER_UNREACHABLE = "server-unreachable"
    SERVER_ERROR = "server-error"
    INTERNAL = "internal"


@dataclass(frozen=True)
class CodeInfo:
    """What a code means and whether a retry of the same request can help."""

    retryable: bool
    meaning: str


# The registry: every code, documented again (with its fields) in docs/errors.md.
CODES: Mapping[Code, CodeInfo] = MappingProxyType(
    {
        Code.SETTINGS_INVALID: CodeInfo(False, "the settings file or a setting is malformed"),
        Code.RELEASE_UNKNOWN: CodeInfo(False, "a release the settings do not define"),
        Code.ARCHITECTURE_UNKNOWN: CodeInfo(False, "an architecture not configured or known"),
        Code.INPUT_INVALID: CodeInfo(False, "a value of the request has the wrong shape"),
        Code.SPEC_INVALID: CodeInfo(False, "a spec breaks rules (see violations)"),
        Code.BUNDLE_INVALID: CodeInfo(False, "a bundle breaks rules (see violations)"),
        Code.OUTPUT_UNUSABLE: CodeInfo(False, "the output cannot hold an OCI image layout"),
        Code.STARTER_INVALID: CodeInfo(False, "a starter file is malformed"),
        Code.NOT_FOUND: CodeInfo(False, "a named thing does not exist"),
        Code.STARTER_NOT_FOUND: CodeInfo(False, "no starter image has that name"),
        Code.LINE_NOT_FOUND: CodeInfo(False, "the starter has no line with that label"),
        Code.PACKAGE_NOT_FOUND: CodeInfo(False, "no package (or provider) of that name"),
        Code.VERSION_NOT_IN_RELEASE: CodeInfo(False, "the package exists, not that version"),
        Code.BUNDLE_NOT_FOUND: CodeInfo(False, "no bundle (or bundle version) of that name"),
        Code.INDEX_MISSING: CodeInfo(False, "the catalog of a release was not refreshed yet"),
        Code.NO_INSTALLABLE_SET: CodeInfo(False, "no set of packages satisfies the request"),
        Code.SOURCE_UNREACHABLE: CodeInfo(True, "the package source did not answer"),
        Code.SOURCE_HTTP_ERROR: CodeInfo(False, "the package source answered with an error"),
        Code.SOURCE_URL_INVALID: CodeInfo(False, "a source URL cannot be fetched as written"),
        Code.REMOTE_FILE_MISSING: CodeInfo(False, "the source has no such file"),
        Code.SUITE_NOT_FOUND: CodeInfo(False, "the mirror has no such suite"),
        Code.TOOL_MISSING: CodeInfo(False, "a program Couturier runs is not installed"),
        Code.INTEGRITY_FAILED: CodeInfo(False, "data failed verification"),
        Code.INDEX_SIGNATURE_INVALID: CodeInfo(False, "an InRelease signature does not verify"),
        Code.INDEX_EXPIRED: CodeInfo(False, "an InRelease is past its Valid-Until date"),
        Code.INDEX_MALFORMED: CodeInfo(False, "a signed index lacks or garbles a field"),
        Code.KEYRING_UNUSABLE: CodeInfo(False, "a mirror's keyring cannot be read"),
        Code.DOWNLOAD_TOO_LARGE: CodeInfo(False, "a download is larger than its index says"),
        Code.DOWNLOAD_HASH_MISMATCH: CodeInfo(False, "a download's size or sha256 is wrong"),
        Code.DOWNLOAD_CORRUPT: CodeInfo(False, "a download does not decompress"),
        Code.PACKAGE_CORRUPT: CodeInfo(False, "a .deb file is not a valid package"),
        Code.BLOB_DAMAGED: CodeInfo(False, "a stored blob has the wrong digest"),
        Code.STATE_UNUSABLE: CodeInfo(False, "Couturier's own files cannot be used"),
        Code.SNAPSHOT_DAMAGED: CodeInfo(False, "a stored index snapshot is missing or damaged"),
        Code.SUITE_STATE_DAMAGED: CodeInfo(False, "a suite's state file is damaged"),
        Code.CACHE_DAMAGED: CodeInfo(False, "a file of the download cache cannot be read"),
        Code.BUNDLE_DAMAGED: CodeInfo(False, "a stored bundle is damaged"),
        Code.STORAGE_FULL: CodeInfo(False, "no space left on a disk Couturier writes to"),
        Code.STORAGE_UNWRITABLE: CodeInfo(False, "a directory Couturier writes to fails"),
        Code.ASSEMBLY_FAILED: CodeInfo(False, "the packages cannot be assembled into an image"),
        Code.FILE_CONFLICT: CodeInfo(False, "two packages ship one path"),
        Code.BUNDLE_PLACEMENT: CodeInfo(False, "a bundle's files cannot be placed there"),
        Code.NAME_TAKEN: CodeInfo(False, "the name is taken (a tenant's or an image's)"),
        Code.TENANT_NOT_FOUND: CodeInfo(False, "no tenant has that ID"),
        Code.TOKEN_MISSING: CodeInfo(False, "the request carries no token"),
        Code.TOKEN_INVALID: CodeInfo(False, "the token is not one of this installation"),
        Code.TOKEN_EXPIRED: CodeInfo(False, "the token is past its expiry"),
        Code.TOKEN_REVOKED: CodeInfo(False, "the token was revoked"),
        Code.SCOPE_TOO_LOW: CodeInfo(False, "the token's scope does not allow this"),
        Code.CSRF_INVALID: CodeInfo(False, "a console request lacks its session's CSRF token"),
        Code.DATABASE_UNAVAILABLE: CodeInfo(True, "the database is busy or cannot be reached"),
        Code.DATABASE_TOO_NEW: CodeInfo(False, "a newer Couturier migrated the database"),
        Code.JOBS_NOT_RUNNING: CodeInfo(True, "no worker runs the queued builds now"),
        Code.INSTALLATION_KEY_UNUSABLE: CodeInfo(False, "installation.key cannot be trusted"),
        Code.SECRET_UNREADABLE: CodeInfo(False, "a stored secret does not open with the key"),
        Code.IMAGE_NOT_FOUND: CodeInfo(False, "the tenant has no private image of that name"),
        Code.BUILD_NOT_FOUND: CodeInfo(False, "the tenant has no build of that trace ID"),
        Code.ACTION_NOT_FOUND: CodeInfo(False, "the tenant has no action of that ID"),
        Code.BUILD_INTERRUPTED: CodeInfo(False, "a build's worker died too many times"),
        Code.LINE_DOES_NOT_START: CodeInfo(
            False, "a built line failed its smoke command: its tags stay where they were"
        ),
        Code.BUNDLE_IN_USE: CodeInfo(False, "an image still uses that bundle version"),
        Code.UPLOAD_TOO_LARGE: CodeInfo(False, "a request body is larger than the limit"),
        Code.BACKUP_INCOMPLETE: CodeInfo(False, "a backup lacks a file or one is damaged"),
        Code.INSTALLATION_NOT_EMPTY: CodeInfo(False, "a restore would overwrite an installation"),
        Code.DESTINATION_INVALID: CodeInfo(False, "a destination cannot be registered as given"),
        Code.DESTINATION_NOT_FOUND: CodeInfo(False, "the tenant has no destination of that id"),
        Code.PUSH_UNREACHABLE: CodeInfo(True, "a destination registry did not answer"),
        Code.PUSH_DENIED: CodeInfo(False, "a destination registry refused the credentials"),
        Code.PUSH_REJECTED: CodeInfo(False, "a destination registry refused what was pushed"),
        Code.SIGNING_KEY_INVALID: CodeInfo(False, "a key file is not an ECDSA P-256 PEM key"),
        Code.SIGNING_FAILED: CodeInfo(False, "a line's signature or attestation was not made"),
        Code.VERIFICATION_FAILED: CodeInfo(False, "an image's signature or attestations fail"),
        Code.LOCAL_FILES: CodeInfo(False, "a local file could not be used (CLI only)"),
        Code.SERVER_UNREACHABLE: CodeInfo(True, "the CLI could not reach the server"),
        Code.SERVER_ERROR: CodeInfo(False, "the server answered what the CLI cannot read"),
        Code.INTERNAL: CodeInfo(False, "a bug in Couturier"),
    }
)


def _frozen(value: Any) -> FieldValue:
    """``value`` as a field holds it: sequences as tuples, mappings read-only, scalars as they
    are, anything else (a path, a date) as its text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return tuple(_frozen(v) for v in items)
    return str(value)


def _json(value: FieldValue) -> Any:
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Problem:
    """Why something failed, as data: a code, one line of text and the structured facts.

    What a line of a build or plan carries as its failure or skip reason; an interface renders
    its own sentence and advice from it. ``fields`` is read-only (lists as tuples)."""

    code: Code
    message: str
    fields: Mapping[str, FieldValue] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        frozen = MappingProxyType({str(k): _frozen(v) for k, v in self.fields.items()})
        object.__setattr__(self, "fields", frozen)

    @property
    def retryable(self) -> bool:
        return CODES[self.code].retryable

    def to_json(self) -> dict[str, Any]:
        """``{"code", "message", "fields"}``."""
        return {"code": str(self.code), "message": self.message, "fields": _json(self.fields)}


class CouturierError(Exception):
    """Root of every error Couturier raises on purpose.

    ``message`` says what was wrong; ``code`` (default: the class's), ``fields`` and
    ``retryable`` (default: the code's) say it as data; ``hint`` is generic advice that names
    no command (may be empty).
    """

    default_code = Code.INTERNAL

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        code: Code | None = None,
        fields: Mapping[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code
        self.fields: Mapping[str, FieldValue] = MappingProxyType(
            {k: _frozen(v) for k, v in (fields or {}).items()}
        )
        self.retryable = CODES[self.code].retryable if retryable is None else retryable

    @property
    def problem(self) -> Problem:
        """This error as a :class:`Problem` value (code, message, fields)."""
        return Problem(self.code, self.message, self.fields)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CouturierError):
    """Settings refer to something that does not exist or is malformed."""

    default_code = Code.SETTINGS_INVALID


class InputError(CouturierError):
    """User input does not have the expected shape."""

    default_code = Code.INPUT_INVALID


class NotFoundError(CouturierError):
    """A named thing (package, version, release, snapshot) does not exist."""

    default_code = Code.NOT_FOUND


class SourceError(CouturierError):
    """A package source could not be reached or answered with an error."""

    default_code = Code.SOURCE_UNREACHABLE


class IntegrityError(SourceError):
    """Downloaded data failed verification: bad signature, unknown key, wrong size or hash."""

    default_code = Code.INTEGRITY_FAILED


class StateError(CouturierError):
    """Couturier's own files cannot be read or written: a data or cache directory that is a
    file, a store directory without write permission, a full disk. ``path`` names the file
    (also the field ``path``)."""

    default_code = Code.STATE_UNUSABLE

    def __init__(
        self,
        message: str,
        hint: str = "",
        path: str = "",
        *,
        code: Code | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint, code=code, fields={"path": path, **(fields or {})})
        self.path = path


class ConflictError(CouturierError):
    """The thing to create exists already (a tenant name; later an image name)."""

    default_code = Code.NAME_TAKEN


class AccessError(CouturierError):
    """A request's token is missing, not valid, expired or revoked, or its scope is too low.

    ``reason`` is one of ``missing``, ``invalid``, ``expired``, ``revoked`` (who is asking is
    not known: HTTP 401), ``scope`` (known, but not allowed: HTTP 403) or ``csrf`` (an unsafe
    request signed in by a console session cookie without that session's CSRF token: HTTP
    403); the code says the same (``token-expired``, ``scope-too-low``, ``csrf-invalid``)."""

    REASONS: ClassVar[Mapping[str, Code]] = MappingProxyType(
        {
            "missing": Code.TOKEN_MISSING,
            "invalid": Code.TOKEN_INVALID,
            "expired": Code.TOKEN_EXPIRED,
            "revoked": Code.TOKEN_REVOKED,
            "scope": Code.SCOPE_TOO_LOW,
            "csrf": Code.CSRF_INVALID,
        }
    )

    def __init__(
        self, message: str, reason: str, hint: str = "", fields: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, hint, code=self.REASONS[reason], fields=fields)
        self.reason = reason


class ResolutionError(CouturierError):
    """No set of packages satisfies the request.

    ``explanation`` is the structured reason: a list of steps, each a dict with at least ``kind``
    and ``text``; ``sentence`` joins them into words a user understands. The field
    ``explanation`` carries the steps too.
    """

    default_code = Code.NO_INSTALLABLE_SET

    def __init__(self, sentence: str, explanation: list[dict[str, Any]]) -> None:
        super().__init__(sentence, fields={"explanation": explanation})
        self.sentence = sentence
        self.explanation = explanation
