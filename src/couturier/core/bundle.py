"""File bundles: what a bundle is and the rules its files must follow (DESIGN.md, "File bundles").

A bundle is a versioned set of files owned by a tenant, of one of two kinds:

- ``certificates``: PEM files holding X.509 certificates. Each lands in the image at
  ``/usr/local/share/ca-certificates/<bundle>/<path>.crt`` and is trusted system-wide (CA bundle,
  Java trust store). Only ``CERTIFICATE`` blocks are kept: text around them is dropped and the
  certificates are written back as clean PEM. A certificate that is not a CA (``CA:FALSE`` or no
  basic constraints) or is outside its validity period is **accepted with a warning**: trusting
  a self-signed server certificate directly is a legitimate use, but usually the CA is meant.
- ``files``: any files, placed at ``<target>/<path>`` (``target`` absolute). Relative symbolic
  links that stay inside the target are kept as links.

Rules, checked all at once (every violation is reported, with what to change, in one
:class:`BundleError`): at most :data:`MAX_FILES` files of at most :data:`MAX_FILE_SIZE` bytes;
member paths relative, without ``..``, backslashes or control characters; no devices, FIFOs or
sockets; hard links only to another file of the same archive (they become copies); no private
key in any file of either kind (an image is readable by whoever can pull it: secrets belong in
runtime mounts); modes keep only the permission bits (setuid, setgid and sticky are dropped, with
a warning); files never land in ``/var/lib/dpkg`` (the dpkg database describes the packages)
nor in what container runtimes mount over the image (:data:`RUNTIME_MOUNTS`: ``/proc``,
``/sys``, ``/dev``, ``/run``, ``/var/run``). Names, member paths and link targets hold no
control or invisible character (:mod:`couturier.core.text`).
Paths are resolved through all of the bundle's links together, as the filesystem would
(:mod:`couturier.core.links`): a link whose target reaches out of the bundle's target, a link
loop, and a file or link placed through another link of the bundle are refused, so no set of
links that each look harmless carries a file out of the target.

Pure: :func:`check_bundle` works on :class:`InputEntry` values already read from the user's files,
directories and archives (see :mod:`couturier.services.bundle_inputs`); certificates are parsed with
``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import hashlib
import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from couturier.core.links import placement_problems
from couturier.core.spec import (
    BUNDLE_NAME,
    LISTED,
    Violation,
    split_bundle_ref,
    violations_message,
)
from couturier.core.text import has_hidden
from couturier.errors import Code, InputError

if TYPE_CHECKING:
    # cryptography takes ~170 ms to import: it is imported where certificates are read, so the
    # commands that only name bundles (plan, build without bundles) do not pay for it.
    from cryptography import x509

__all__ = [
    "CERTIFICATES_DIR",
    "KINDS",
    "LISTED",
    "MAX_FILES",
    "MAX_FILE_SIZE",
    "RUNTIME_MOUNTS",
    "Bundle",
    "BundleError",
    "BundleFile",
    "InputEntry",
    "InputEntryType",
    "check_bundle",
    "check_name",
    "check_paths",
    "check_stored",
    "check_target",
    "member_path",
    "parse_ref",
    "pem_blocks",
    "runtime_mount",
]

MAX_FILES = 20
MAX_FILE_SIZE = 1024 * 1024  # 1 MiB
KINDS = ("certificates", "files")
CERTIFICATES_DIR = "usr/local/share/ca-certificates"

_NAME_RULE = (
    "must be 2-40 characters, lowercase letters, digits and hyphens, starting with a letter and "
    "ending with a letter or digit"
)
# Lookaheads: markers may share their dashes (-----END A-----END B-----), as a regex over the
# whole block would let them.
_PEM_BEGIN = re.compile(rb"(?=-----BEGIN ([A-Z0-9 ]+)-----)")
_PEM_END = re.compile(rb"(?=-----END ([A-Z0-9 ]+)-----)")
_PRIVATE_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")
_CERT_SUFFIXES = (".pem", ".crt", ".cer")
# The DER of PKCS#7 "data", the content type that opens every PKCS#12 (.p12/.pfx) key store.
_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")
_DPKG_DB = "var/lib/dpkg"
# Directories a container runtime mounts over the image's own: /proc, /sys and /dev always;
# /run (and /var/run, its link in every Debian image) is a tmpfs under podman's --read-only,
# systemd-mode containers and many Kubernetes set-ups. Files a bundle put there would be hidden
# when the image runs, so no bundle may target them.
RUNTIME_MOUNTS = ("proc", "sys", "dev", "run", "var/run")
_MOUNTED_RULE = (
    "must not be under {0}: container runtimes mount their own {0} over the image's, so the "
    "files would never be seen; choose another directory (e.g. under /etc or /opt)"
)
_PER_FILE = 5  # problems, and warnings, listed per file; the rest are counted
_PATH_MAX = 4096  # bytes of a path or a link's target, as Linux allows
_NAME_MAX = 255  # bytes of one path component


class InputEntryType(Enum):
    """What an input entry is; ``SPECIAL`` covers devices, FIFOs and sockets (never accepted)."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    SPECIAL = "special"


@dataclass(frozen=True)
class InputEntry:
    """One entry read from an input, before any rule is applied.

    ``origin`` is the input as the user named it (``certs.tar``, ``conf/``), ``name`` the entry's
    path as written inside it (an archive member name, a path relative to a directory, the base
    name of a plain file). ``data`` is None when the entry was not read (too large, or a kind
    that has no content); ``link`` is a symlink's target or a hard link's original, as written;
    ``detail`` names a SPECIAL entry ("character device"). ``truncated`` says reading stopped
    at ``size`` bytes (:data:`MAX_FILE_SIZE` + 1): the entry holds at least that many.
    """

    origin: str
    name: str
    type: InputEntryType
    mode: int = 0o644
    size: int = 0
    data: bytes | None = None
    link: str = ""
    detail: str = ""
    truncated: bool = False


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: ``path`` relative to the bundle root (``/``-separated), the sha256
    (hex) and size of its content, its permission bits, and where the content is: ``data`` in
    memory or ``source`` in the bundle store. A symbolic link has ``link`` set and no content."""

    path: str
    sha256: str
    mode: int
    size: int
    link: str = ""
    data: bytes | None = field(default=None, repr=False, compare=False)
    source: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Bundle:
    """One version of a file bundle. ``target`` is the absolute directory of a ``files`` bundle
    (None for ``certificates``); ``created`` is an ISO 8601 UTC time; ``warnings`` are what was
    accepted but deserves a look (a certificate that is not a CA)."""

    name: str
    version: int
    kind: str
    target: str | None
    files: tuple[BundleFile, ...]
    created: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical content: name, kind, target and every file's path,
        sha256, mode and link. The version and creation time are left out: two versions with
        the same content put the same bytes in an image, so they share a cached layer."""
        content = {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "files": [[f.path, f.sha256, f.mode, f.link] for f in self.files],
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def image_path(self, file: BundleFile) -> str:
        """Where ``file`` lands in the image, root-relative (``etc/app/app.conf``)."""
        if self.kind == "certificates":
            return f"{CERTIFICATES_DIR}/{self.name}/{file.path}"
        assert self.target is not None
        return posixpath.join(self.target, file.path).lstrip("/")


class BundleError(InputError):
    """A bundle breaks one or more rules; ``violations`` lists every one. Nothing was stored."""

    default_code = Code.BUNDLE_INVALID

    def __init__(self, violations: Sequence[Violation], source: str = "bundle") -> None:
        super().__init__(
            violations_message(source, violations),
            "fix each one and create the bundle again; nothing was stored",
            fields={"source": source, "violations": len(violations)},
        )
        self.violations = list(violations)


def check_name(name: str) -> list[Violation]:
    """The violations of a bundle name (empty when it is fine)."""
    if re.fullmatch(BUNDLE_NAME, name):
        return []
    return [Violation("name", name, _NAME_RULE)]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``corp-ca`` → (``corp-ca``, None: the newest); ``corp-ca@3`` → (``corp-ca``, 3).

    Raises :class:`InputError` for anything else.
    """
    found = split_bundle_ref(ref.strip())
    if found is None:
        shown = repr(ref) if len(ref) <= 60 else repr(ref[:59] + "…")
        raise InputError(
            f"{shown} is not a bundle reference",
            "write NAME for the newest version or NAME@N",
            fields={"kind": "bundle-reference", "value": ref[:200]},
        )
    return found


def check_target(kind: str, target: str | None) -> list[Violation]:
    """The violations of the target directory of a bundle of ``kind`` (an unknown kind
    included)."""
    if kind not in KINDS:
        return [Violation("type", kind, f"must be one of {', '.join(KINDS)}")]
    if kind == "certificates":
        if target is None:
            return []
        rule = f"certificates always land in /{CERTIFICATES_DIR}/<bundle>/; leave out the target"
        return [Violation("target", target, rule)]
    if target is None or target == "":
        return [Violation("target", None, "a files bundle needs an absolute target directory")]
    problems = []
    if not target.startswith("/"):
        problems.append(f"must be absolute, e.g. /{target.lstrip('/')}")
    if "\\" in target:
        problems.append("must not contain backslashes; use /")
    if _has_control(target):
        problems.append(
            "must not contain control characters or invisible ones (a zero-width space...)"
        )
    if not _utf8(target):
        problems.append("must be UTF-8 text")
    elif len(target.encode()) > _PATH_MAX // 2:
        problems.append(f"must be at most {_PATH_MAX // 2} bytes long")
    parts = target.strip("/").split("/")
    if ".." in parts:
        problems.append("must not contain '..'")
    elif target != "/" and (target.endswith("/") or "" in parts or "." in parts):
        problems.append(f"must be normalized, e.g. {posixpath.normpath(target)}")
    root_relative = posixpath.normpath(target).lstrip("/")
    if _in_dpkg_db(root_relative):
        problems.append("must not be in /var/lib/dpkg: the dpkg database describes the packages")
    mounted = runtime_mount(root_relative)
    if mounted is not None:
        problems.append(_MOUNTED_RULE.format(mounted))
    return [Violation("target", target, rule) for rule in problems]


def member_path(name: str) -> tuple[str | None, str]:
    """The normalized relative path of an input entry named ``name`` (``./a//b`` → ``a/b``), or
    (None, the rule it breaks) for an absolute path, ``..``, backslashes or control
    characters."""
    if "\\" in name:
        return None, "has a backslash in its path; name it with / only"
    if not _utf8(name):  # before the control characters: undecodable bytes are surrogates
        return None, "has a path that is not UTF-8; rename it"
    if _has_control(name):
        return None, "has a control or invisible character in its path; rename it"
    if name.startswith("/"):
        return None, "has an absolute path; store paths relative to the bundle's root"
    if len(name.encode()) > _PATH_MAX:
        return None, f"has a path longer than {_PATH_MAX} bytes; shorten it"
    if any(len(part.encode()) > _NAME_MAX for part in name.split("/")):
        return None, f"has a name longer than {_NAME_MAX} bytes; shorten it"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "climbs out with '..'; store paths relative to the bundle's root"
    return "/".join(parts), ""


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The PEM blocks of ``data`` as (label, decoded body), in order; a body that is not valid
    base64 comes back empty. Text between blocks is ignored, and so is a BEGIN line without its
    END. Cost: linear in ``data`` (the END lines are found once, not searched for from every
    BEGIN line, which a file of thousands of BEGIN lines would make quadratic)."""
    ends: dict[bytes, list[int]] = {}
    for found in _PEM_END.finditer(data):
        ends.setdefault(found.group(1), []).append(found.start())
    blocks = []
    done = 0  # where the last block ended: a BEGIN inside a block belongs to its body
    for found in _PEM_BEGIN.finditer(data):
        if found.start() < done:
            continue
        label = found.group(1)
        body_start = found.start() + len(label) + 16  # -----BEGIN <label>-----
        positions = ends.get(label, [])
        at = bisect.bisect_left(positions, body_start)
        if at == len(positions):
            continue
        body_end = positions[at]
        done = body_end + len(label) + 14  # -----END <label>-----
        lines = [
            line.strip() for line in data[body_start:body_end].splitlines() if b":" not in line
        ]  # headers (Proc-Type:, DEK-Info:) carry no base64
        try:
            body = base64.b64decode(b"".join(lines), validate=True)
        except (binascii.Error, ValueError):
            body = b""
        blocks.append((label.decode(), body))
    return blocks


def check_bundle(
    name: str,
    kind: str,
    target: str | None,
    members: Sequence[InputEntry],
    *,
    now: dt.datetime,
    found: Sequence[Violation] = (),
) -> tuple[tuple[BundleFile, ...], tuple[str, ...]]:
    """Apply every bundle rule to ``members`` and return the bundle's files (sorted by path,
    content in ``data``) and its warnings.

    ``found`` are violations met while reading the inputs (a missing file, a corrupt archive),
    reported with the rest. Cost: one sha256 per file and, for certificates, one X.509 parse
    per certificate. Raises :class:`BundleError` listing every violation.
    """
    violations = [*check_name(name), *check_target(kind, target), *found]
    checker = _Checker(kind if kind in KINDS else "files", target or "/", now)
    for member in members:
        checker.add(member)
    files, warnings = checker.finish()
    violations += checker.violations
    if not files and not violations:
        violations.append(Violation("inputs", None, "hold no file; name at least one file"))
    if violations:
        raise BundleError(violations, f"bundle {name}")
    return files, warnings


class _Checker:
    def __init__(self, kind: str, target: str, now: dt.datetime) -> None:
        self.kind = kind
        self.target = target
        self.now = now
        self.violations: list[Violation] = []
        self.warnings: list[str] = []
        self.files: dict[str, BundleFile] = {}
        self.where: dict[str, str] = {}  # bundle path → the input entry it came from
        self.originals: dict[tuple[str, str], InputEntry] = {}  # (origin, path) → regular file
        self.hardlinks: list[tuple[InputEntry, str]] = []
        self.count = 0

    def refuse(self, member: InputEntry, rule: str) -> None:
        self.violations.append(Violation(_where(member), None, rule))

    def add(self, member: InputEntry) -> None:
        path, rule = member_path(member.name)
        if path is None:
            self.refuse(member, rule)
            return
        if member.type is InputEntryType.DIRECTORY:
            return  # directories are only structure; those a file needs are made in the image
        if member.type is InputEntryType.SPECIAL:
            what = member.detail or "a special file"
            self.refuse(member, f"is {what}; a bundle holds regular files only")
            return
        if not path:
            self.refuse(member, "has an empty name")
            return
        self.count += 1
        if member.type is InputEntryType.HARDLINK:
            self.hardlinks.append((member, path))
        elif member.type is InputEntryType.SYMLINK:
            self._symlink(member, path)
        else:
            self.originals[(member.origin, path)] = member
            self._file(member, path, member.data)

    def _symlink(self, member: InputEntry, path: str) -> None:
        if self.kind == "certificates":
            self.refuse(member, "is a symbolic link; a certificates bundle holds PEM files only")
            return
        if (
            not member.link
            or "\\" in member.link
            or _has_control(member.link)
            or not _utf8(member.link)
            or len(member.link.encode()) > _PATH_MAX
        ):
            shown = member.link if len(member.link) < 80 else member.link[:79] + "…"
            self.refuse(member, f"is a link to {shown!r}, which is not a usable path")
            return
        if not _link_stays_inside(self.target, path, member.link):
            self.refuse(
                member,
                f"is a link to {member.link!r}, out of the target {self.target}; "
                "replace it with the file itself",
            )
            return
        digest = hashlib.sha256(member.link.encode()).hexdigest()
        self._place(member, path, BundleFile(path, digest, 0o777, 0, link=member.link))

    def _file(self, member: InputEntry, path: str, data: bytes | None) -> None:
        size = member.size if data is None else len(data)
        if size > MAX_FILE_SIZE:
            has = f"more than {MAX_FILE_SIZE:,}" if member.truncated else f"{size:,}"
            self.refuse(member, f"has {has} bytes; a bundle file holds at most {MAX_FILE_SIZE:,}")
            return
        if data is None:
            # Readers stop reading contents past MAX_FILES files: the count is refused below.
            if self.count <= MAX_FILES:
                self.refuse(member, f"could not be read ({member.detail or 'no content'})")
            return
        key = _private_key(data)
        if key:
            self.refuse(
                member,
                f"holds {key}; bundles are built into images anyone who pulls them can read, "
                "so leave keys out and mount them at run time",
            )
            return
        mode = member.mode & 0o777
        if self.kind == "certificates":
            certificates = self._certificates(member, data)
            if certificates is None:
                return
            path, data, mode = _crt_path(path), certificates, 0o644
            if not posixpath.basename(path).removesuffix(".crt"):
                self.refuse(member, "needs a file name before its .crt/.pem suffix")
                return
        elif member.mode & 0o7000:
            self.warnings.append(
                f"{_where(member)}: setuid, setgid and sticky bits dropped (mode {mode:o})"
            )
        digest = hashlib.sha256(data).hexdigest()
        self._place(member, path, BundleFile(path, digest, mode, len(data), data=data))

    def _place(self, member: InputEntry, path: str, file: BundleFile) -> None:
        lands = posixpath.join(self.target, path).lstrip("/")
        if self.kind == "files" and _in_dpkg_db(lands):
            self.refuse(member, "would land in /var/lib/dpkg, which describes the packages")
            return
        mounted = runtime_mount(lands) if self.kind == "files" else None
        if mounted is not None:
            self.refuse(member, f"would land in {mounted}, which container runtimes mount over")
            return
        if path in self.files:
            self.refuse(member, f"lands at {path}, as {self.where[path]} does; rename one")
            return
        self.files[path] = file
        self.where[path] = _where(member)

    def _certificates(self, member: InputEntry, data: bytes) -> bytes | None:
        blocks = pem_blocks(data)
        if not blocks:
            if data[:1] == b"\x30":
                rule = (
                    "is DER, not PEM; convert it with openssl x509 -inform der -in FILE -out "
                    "FILE.crt"
                )
            else:
                rule = "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            self.refuse(member, rule)
            return None
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        pems: list[bytes] = []
        problems: list[str] = []
        warnings = len(self.warnings)
        for position, (label, body) in enumerate(blocks, start=1):
            if label != "CERTIFICATE":
                problems.append(
                    f"block {position} is {label}; a certificates bundle holds only "
                    "CERTIFICATE blocks"
                )
                continue
            try:
                certificate = x509.load_der_x509_certificate(body)
                self._certificate_warnings(member, position, certificate)
                pems.append(certificate.public_bytes(Encoding.PEM))
            except ValueError:  # the DER, or a field parsed on first use (a name, an extension)
                problems.append(f"block {position} is not a valid X.509 certificate")
        # A file of thousands of bad blocks gives a few lines, not thousands.
        for problem in problems[:_PER_FILE]:
            self.refuse(member, problem)
        if len(problems) > _PER_FILE:
            self.refuse(member, f"and {len(problems) - _PER_FILE} more blocks like these")
        if len(self.warnings) - warnings > _PER_FILE:
            more = len(self.warnings) - warnings - _PER_FILE
            del self.warnings[warnings + _PER_FILE :]
            self.warnings.append(f"{_where(member)}: and {more} more warnings like these")
        return b"".join(pems) if not problems else None

    def _certificate_warnings(
        self, member: InputEntry, position: int, certificate: x509.Certificate
    ) -> None:
        from cryptography import x509

        where = f"{_where(member)} certificate {position} ({certificate.subject.rfc4514_string()})"
        try:
            is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            self.warnings.append(
                f"{where} is not a CA certificate: it is trusted only as itself (a self-signed "
                "server); to trust every server your CA signed, add the CA's certificate"
            )
        if certificate.not_valid_after_utc < self.now:
            self.warnings.append(f"{where} expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
        elif certificate.not_valid_before_utc > self.now:
            self.warnings.append(
                f"{where} is valid only from {certificate.not_valid_before_utc:%Y-%m-%d}"
            )

    def finish(self) -> tuple[tuple[BundleFile, ...], tuple[str, ...]]:
        for member, path in self.hardlinks:
            original_path, _ = member_path(member.link)
            original = self.originals.get((member.origin, original_path or ""))
            if original is None:
                self.refuse(
                    member,
                    f"is a hard link to {member.link!r}, which is not a file of the same input; "
                    "replace it with the file itself",
                )
                continue
            self._file(member, path, original.data)
        # Paths are resolved for a bundle of at most MAX_FILES entries; more are refused anyway.
        if self.count <= MAX_FILES and not check_target(
            self.kind, None if self.kind == "certificates" else self.target
        ):
            for path, rule in check_paths(self.kind, self.target, list(self.files.values())):
                self.violations.append(Violation(self.where[path], None, rule))
        if self.count > MAX_FILES:
            self.violations.append(
                Violation(
                    "inputs",
                    self.count,
                    f"a bundle holds at most {MAX_FILES} files; split them into several bundles",
                )
            )
        files = tuple(self.files[path] for path in sorted(self.files))
        return files, tuple(self.warnings)


def check_paths(
    kind: str, target: str | None, files: Sequence[BundleFile]
) -> list[tuple[str, str]]:
    """(path, rule) for every file or link of a bundle whose place breaks a rule once all of the
    bundle's links are followed together (see :func:`couturier.core.links.placement_problems`).

    ``target`` is the absolute target of a ``files`` bundle (certificates have no links and
    land in their own directory).
    """
    root = (target or "/").strip("/") if kind == "files" else ""
    return placement_problems(root, [(f.path, f.link) for f in files])


def check_stored(bundle: Bundle) -> list[Violation]:
    """The violations of a bundle read back from the store (or crafted by hand): its name, type
    and target, each file's path, size, mode, sha256 and link, their number, and
    :func:`check_paths`. Empty for any bundle :func:`check_bundle` accepted. Contents are not
    read (the layer checks them against their sha256)."""
    found = [*check_name(bundle.name), *check_target(bundle.kind, bundle.target)]
    if found:
        return found
    target = bundle.target or "/"
    if len(bundle.files) > MAX_FILES:
        found.append(Violation("files", len(bundle.files), f"at most {MAX_FILES} files"))
    for file in bundle.files:
        path, rule = member_path(file.path)
        if path != file.path or not path:
            found.append(Violation(file.path, None, rule or "is not a normalized path"))
            continue
        if not re.fullmatch(r"[0-9a-f]{64}", file.sha256):
            found.append(Violation(file.path, file.sha256, "has no valid sha256"))
        if not 0 <= file.mode <= 0o777 or not 0 <= file.size <= MAX_FILE_SIZE:
            found.append(Violation(file.path, None, "has a mode or size no bundle file has"))
        if file.link and (
            bundle.kind != "files"
            or "\\" in file.link
            or _has_control(file.link)
            or not _link_stays_inside(target, path, file.link)
        ):
            found.append(Violation(file.path, file.link, f"is a link out of the target {target}"))
        lands = posixpath.join(target, path).lstrip("/")
        if bundle.kind == "files" and _in_dpkg_db(lands):
            found.append(Violation(file.path, None, "lands in /var/lib/dpkg"))
        if bundle.kind == "files" and runtime_mount(lands) is not None:
            found.append(Violation(file.path, None, f"lands in {runtime_mount(lands)}"))
    if found:
        return found
    return [Violation(p, None, r) for p, r in check_paths(bundle.kind, bundle.target, bundle.files)]


def _where(member: InputEntry) -> str:
    if member.name and member.name != posixpath.basename(member.origin):
        return f"{member.origin}:{member.name}"
    return member.origin


def _utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (a name read from a tar may hold undecodable bytes)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _has_control(text: str) -> bool:
    return has_hidden(text)


def runtime_mount(root_relative: str) -> str | None:
    """The directory of :data:`RUNTIME_MOUNTS` that ``root_relative`` (``run/app``) is or lies
    under (``/run``), else None."""
    for mount in RUNTIME_MOUNTS:
        if root_relative == mount or root_relative.startswith(mount + "/"):
            return f"/{mount}"
    return None


def _in_dpkg_db(root_relative: str) -> bool:
    return root_relative == _DPKG_DB or root_relative.startswith(_DPKG_DB + "/")


def _crt_path(path: str) -> str:
    """``certs/Root CA.pem`` → ``certs/Root CA.crt``: update-ca-certificates reads ``*.crt``."""
    head, base = posixpath.split(path)
    for suffix in _CERT_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    return posixpath.join(head, base + ".crt")


def _link_stays_inside(target: str, path: str, link: str) -> bool:
    """Whether the symlink at ``<target>/<path>`` pointing to ``link`` names a path inside
    ``target`` (lexically: the image's own links are not followed)."""
    if link.startswith("/"):
        normal = posixpath.normpath(link)
        return target in ("/", normal) or normal.startswith(target.rstrip("/") + "/")
    depth = 0
    for part in [*path.split("/")[:-1], *link.split("/")]:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _private_key(data: bytes) -> str:
    """What private key ``data`` holds ("a PEM private key", ...), or "" when none."""
    if _PRIVATE_PEM.search(data) or data.startswith(b"PuTTY-User-Key-File-"):
        return "a private key"
    if data[:1] != b"\x30":
        return ""  # every DER key (and PKCS#12 store) is an ASN.1 SEQUENCE
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    if _PKCS7_DATA in data[:64] and b"\x02\x01\x03" in data[:16]:
        return "a PKCS#12 key store (with its private keys)"
    try:
        load_der_private_key(data, password=None)
    except TypeError:
        return "an encrypted DER private key"  # it parsed far enough to ask for a password
    except Exception:  # whatever else the parser raises: not a key
        return ""
    return "a DER private key"
