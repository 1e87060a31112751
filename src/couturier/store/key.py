"""The installation key: the one secret that encrypts every other secret at rest.

``installation.key`` in the data directory is made on first start (mode 0600) and read on every
start after. It is the one file to back up besides the database: without it, destination
credentials, action secrets and signing keys kept in the database cannot be read again.

The file is three lines of text, so that damage (a truncated copy, an edited byte) is found
when it is read rather than when a secret fails to decrypt::

    couturier installation key v1
    <the 32-byte AES key, base64>
    <the first 16 hex digits of the key's sha256>

Secrets are sealed with AES-256-GCM (``cryptography``): a random 96-bit nonce per secret, and
*associated data* naming what the secret belongs to (``destination:7:password``), so a sealed
value copied into another row does not open there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from couturier.errors import Code, StateError

__all__ = ["KEY_FILE", "InstallationKey", "load_or_create_key"]

KEY_FILE = "installation.key"
_HEADER = "couturier installation key v1"
_SEALED = b"c1"  # version of a sealed value's layout: c1 + nonce (12) + ciphertext and tag
_NONCE = 12


class InstallationKey:
    """The AES-256-GCM key of an installation. Its ``repr`` shows no key material."""

    def __init__(self, material: bytes) -> None:
        if len(material) != 32:
            raise ValueError("an installation key is 32 bytes")
        self._aead = AESGCM(material)
        self._material = material
        self.fingerprint = hashlib.sha256(material).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"InstallationKey(fingerprint={self.fingerprint!r})"

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` alone (HKDF-SHA256, RFC 5869, with ``purpose`` as
        its info): signing the registry's bearer tokens with it reveals nothing of the key
        that seals the secrets, and the same installation key always gives the same bytes."""
        return HKDF(hashes.SHA256(), 32, salt=None, info=purpose.encode()).derive(self._material)

    def seal(self, secret: bytes, purpose: str) -> str:
        """``secret`` encrypted for ``purpose`` (what it belongs to), as ASCII text to store."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, secret, purpose.encode())
        return base64.b64encode(_SEALED + nonce + sealed).decode("ascii")

    def open(self, sealed: str, purpose: str) -> bytes:
        """The secret :meth:`seal` made for ``purpose``. Raises :class:`StateError` when
        ``sealed`` was not made by this key for this purpose, or was changed."""
        try:
            raw = base64.b64decode(sealed.encode("ascii"), validate=True)
            if not raw.startswith(_SEALED):
                raise ValueError("unknown layout")
            nonce, body = raw[2 : 2 + _NONCE], raw[2 + _NONCE :]
            return self._aead.decrypt(nonce, body, purpose.encode())
        except (ValueError, InvalidTag):
            raise StateError(
                f"a stored secret ({purpose}) cannot be decrypted with the installation key",
                "was installation.key replaced? restore the one the secrets were sealed with",
                code=Code.SECRET_UNREADABLE,
                fields={"purpose": purpose},
            ) from None


def _refuse(path: Path, problem: str, hint: str) -> StateError:
    return StateError(
        f"installation key {path} {problem}",
        hint,
        path=str(path),
        code=Code.INSTALLATION_KEY_UNUSABLE,
    )


def _text(material: bytes) -> str:
    encoded = base64.b64encode(material).decode("ascii")
    return f"{_HEADER}\n{encoded}\n{hashlib.sha256(material).hexdigest()[:16]}\n"


def _read(path: Path) -> InstallationKey:
    restore = "restore installation.key from your backup (it is the one file to back up)"
    try:
        info = path.lstat()
    except OSError as error:
        raise _refuse(path, f"cannot be read ({error.strerror})", restore) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "is not a regular file", restore)
    if info.st_mode & 0o077:
        raise _refuse(
            path,
            f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o})",
            f"make it private: chmod 600 {path}",
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(4097)
    except OSError as error:
        raise _refuse(path, f"cannot be read ({error.strerror})", restore) from None
    try:
        header, encoded, check, *rest = raw.decode("ascii").split("\n")
        material = base64.b64decode(encoded, validate=True)
        damaged = (
            header != _HEADER
            or any(rest)
            or len(material) != 32
            or hashlib.sha256(material).hexdigest()[:16] != check
        )
    except (UnicodeDecodeError, ValueError):
        damaged = True
    if damaged:
        raise _refuse(path, "is damaged (not a key this Couturier wrote)", restore)
    return InstallationKey(material)


def load_or_create_key(data_dir: Path) -> tuple[InstallationKey, bool]:
    """The installation key in ``data_dir`` and whether it was made now.

    Made when the file does not exist: written to a private temporary file, then linked into
    place, so that two processes starting at once end with one key (the second finds the
    first's) and no process ever reads half a key. Raises :class:`StateError` (one line, with
    what to do) when the file exists but is unreadable, not private (any group or other
    permission bit) or damaged.
    """
    path = data_dir / KEY_FILE
    if os.path.lexists(path):
        return _read(path), False
    material = secrets.token_bytes(32)
    partial = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(_text(material))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(partial, path)
        except FileExistsError:
            return _read(path), False
        finally:
            partial.unlink()
        directory = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise _refuse(
            path, f"cannot be made ({error.strerror})", "check that the data directory is writable"
        ) from None
    return InstallationKey(material), True
