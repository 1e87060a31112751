"""Verifying a suite's ``InRelease`` against pinned keys, and reading its fields.

``InRelease`` is the clear-signed ``Release`` file of a suite: it lists every index of the suite
with its size and sha256, so once its signature holds, every index is verified by hash alone.

Verification runs ``gpgv`` with the mirror's keyring only (never the user's keys) and reads its
machine-readable status lines: the file is accepted when at least one signature is good and valid
from a key of that keyring (``GOODSIG`` + ``VALIDSIG``) and none is bad (``BADSIG``). What is
parsed afterwards is the signed content as ``gpgv --output`` wrote it, never the raw text, so
nothing can be smuggled around the signature. An armored keyring is dearmored into a temporary
file first.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from couturier.debian.packages import parse_stanza
from couturier.errors import Code, IntegrityError, SourceError

__all__ = ["IndexEntry", "ReleaseFile", "parse_release", "verify_inrelease"]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One line of the ``SHA256`` list of a Release file."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ReleaseFile:
    """The fields of a (verified) Release file that Couturier uses."""

    suite: str
    codename: str
    date: dt.datetime | None
    valid_until: dt.datetime | None
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    sha256: Mapping[str, IndexEntry]
    acquire_by_hash: bool = False
    fields: Mapping[str, str] = field(default_factory=dict)

    def entry(self, path: str) -> IndexEntry | None:
        """The size and sha256 listed for ``path`` (relative to ``dists/<suite>/``), if any."""
        return self.sha256.get(path)

    def check_fresh(self, source: str, now: dt.datetime | None = None) -> None:
        """Raise :class:`IntegrityError` when ``Valid-Until`` has passed (a replayed old file)."""
        if self.valid_until is None:
            return
        now = now or dt.datetime.now(dt.UTC)
        if now > self.valid_until:
            raise IntegrityError(
                f"{source} expired on {self.valid_until:%Y-%m-%d %H:%M} UTC "
                f"(Valid-Until; now {now:%Y-%m-%d %H:%M} UTC)",
                "the mirror serves stale data or the clock is wrong; use an up-to-date mirror "
                "or fix the system clock",
                code=Code.INDEX_EXPIRED,
                fields={
                    "source": source,
                    "valid_until": self.valid_until.isoformat(),
                    "now": now.isoformat(),
                },
            )


def _date(text: str | None, source: str, name: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise IntegrityError(
            f"{source} has a malformed {name}: {text!r}",
            code=Code.INDEX_MALFORMED,
            fields={"source": source, "field": name},
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def parse_release(content: bytes | str, source: str = "Release") -> ReleaseFile:
    """Parse a Release file (already verified). Raises :class:`IntegrityError` when malformed."""
    fields = parse_stanza(content)
    entries: dict[str, IndexEntry] = {}
    for line in fields.get("SHA256", "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[0]) != 64:
            raise IntegrityError(
                f"{source} has a malformed SHA256 line: {line.strip()!r}",
                code=Code.INDEX_MALFORMED,
                fields={"source": source, "field": "SHA256"},
            )
        entries[parts[2]] = IndexEntry(parts[2], int(parts[1]), parts[0].lower())
    if not entries:
        raise IntegrityError(
            f"{source} lists no SHA256 checksums",
            "the repository must publish SHA256 sums",
            code=Code.INDEX_MALFORMED,
            fields={"source": source, "field": "SHA256"},
        )
    return ReleaseFile(
        suite=fields.get("Suite", ""),
        codename=fields.get("Codename", ""),
        date=_date(fields.get("Date"), source, "Date"),
        valid_until=_date(fields.get("Valid-Until"), source, "Valid-Until"),
        architectures=tuple(fields.get("Architectures", "").split()),
        components=tuple(fields.get("Components", "").split()),
        sha256=entries,
        acquire_by_hash=fields.get("Acquire-By-Hash", "no").lower() == "yes",
        fields={k: v for k, v in fields.items() if k not in ("SHA256", "SHA1", "MD5Sum")},
    )


def _keyring_file(keyring: Path, workdir: Path) -> Path:
    """A binary keyring gpgv can read: ``keyring`` itself, or its dearmored copy."""
    try:
        head = keyring.read_bytes()[:64]
    except OSError as exc:
        raise IntegrityError(
            f"cannot read keyring {keyring}: {exc.strerror}",
            "point the mirror's keyring at the repository's public key file in the settings",
            code=Code.KEYRING_UNUSABLE,
            fields={"keyring": str(keyring), "reason": exc.strerror or str(exc)},
        ) from exc
    if not head.lstrip().startswith(b"-----BEGIN PGP"):
        return keyring
    target = workdir / "keyring.gpg"
    result = subprocess.run(
        [
            "gpg",
            "--homedir",
            str(workdir),
            "--batch",
            "--yes",
            "--dearmor",
            "--output",
            str(target),
            str(keyring),
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise IntegrityError(
            f"cannot dearmor keyring {keyring}: {result.stderr.decode(errors='replace').strip()}",
            "the keyring must be an OpenPGP public key, binary or ASCII-armored",
            code=Code.KEYRING_UNUSABLE,
            fields={"keyring": str(keyring), "reason": result.stderr.decode(errors="replace")},
        )
    return target


def verify_inrelease(data: bytes, keyring: Path, source: str = "InRelease") -> bytes:
    """Verify the clear-signed ``data`` against ``keyring``; return the signed content.

    ``source`` names the file in messages (suite and URL). Raises :class:`IntegrityError` for an
    unsigned file, a bad signature (modified content) or a signature by a key not in ``keyring``
    (naming the key id and the keyring file).
    """
    if b"-----BEGIN PGP SIGNED MESSAGE-----" not in data[:200]:
        raise IntegrityError(
            f"{source} is not clear-signed",
            "the mirror must serve a signed InRelease file",
            code=Code.INDEX_SIGNATURE_INVALID,
            fields={"source": source, "keyring": str(keyring), "reason": "unsigned", "keys": []},
        )
    with tempfile.TemporaryDirectory(prefix="couturier-gpgv-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o700)
        ring = _keyring_file(keyring, workdir)
        signed = workdir / "InRelease"
        signed.write_bytes(data)
        output = workdir / "Release"
        try:
            result = subprocess.run(
                [
                    "gpgv",
                    "--homedir",
                    str(workdir),
                    "--status-fd",
                    "1",
                    "--keyring",
                    str(ring.resolve()),
                    "--output",
                    str(output),
                    str(signed),
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(
                f"cannot run gpgv to verify {source}: {exc}",
                "install gpgv (Debian package gpgv)",
                code=Code.TOOL_MISSING,
                fields={"tool": "gpgv", "reason": str(exc)},
            ) from exc
        status = _status(result.stdout)
        good = {fields[0] for kind, fields in status if kind == "GOODSIG" and fields}
        valid = [fields[0] for kind, fields in status if kind == "VALIDSIG" and fields]
        bad = [fields[0] for kind, fields in status if kind == "BADSIG" and fields]
        if bad:
            raise IntegrityError(
                f"{source} has a BAD signature by key {bad[0]}: its content was modified",
                "the mirror or a proxy serves tampered or corrupted data; try again or use "
                "another mirror",
                code=Code.INDEX_SIGNATURE_INVALID,
                fields={"source": source, "keyring": str(keyring), "reason": "bad", "keys": bad},
            )
        trusted = [fpr for fpr in valid if any(fpr.upper().endswith(k.upper()) for k in good)]
        if trusted and output.is_file():
            return output.read_bytes()
        missing = [fields[0] for kind, fields in status if kind == "NO_PUBKEY" and fields]
        if missing:
            raise IntegrityError(
                f"{source} is signed by key {', '.join(missing)}, which is not in the keyring "
                f"{keyring}",
                "if you trust this repository, add its public key to that keyring file (or "
                "point the mirror's keyring at the right key in the settings)",
                code=Code.INDEX_SIGNATURE_INVALID,
                fields={
                    "source": source,
                    "keyring": str(keyring),
                    "reason": "unknown-key",
                    "keys": missing,
                },
            )
        unusable = [
            f"{kind} {' '.join(fields)}"
            for kind, fields in status
            if kind in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG", "ERRSIG")
        ]
        detail = "; ".join(unusable) or result.stderr.decode(errors="replace").strip()
        raise IntegrityError(
            f"{source} has no valid signature from the keyring {keyring}: {detail}",
            "update the keyring in the settings to the repository's current key",
            code=Code.INDEX_SIGNATURE_INVALID,
            fields={"source": source, "keyring": str(keyring), "reason": "no-valid", "keys": []},
        )


def _status(stdout: bytes) -> list[tuple[str, list[str]]]:
    lines = []
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith("[GNUPG:] "):
            kind, *fields = line[9:].split()
            lines.append((kind, fields))
    return lines
