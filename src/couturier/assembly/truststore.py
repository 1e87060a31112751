"""A Java trust store (JKS) written natively, as ``ca-certificates-java`` would with ``keytool``.

The JKS layout (``sun.security.provider.JavaKeyStore``), all integers big-endian::

    u4 magic 0xFEEDFEED, u4 version 2, u4 entry count
    per entry: u4 tag 2 (trusted certificate), alias (u2 length + modified UTF-8),
               u8 creation time in ms, certificate type ("X.509", same encoding),
               u4 length + the certificate's DER
    SHA-1 over (password as UTF-16BE + b"Mighty Aphrodite" + everything above)

The digest is what ``keytool -storepass changeit`` checks. Output is deterministic: aliases are
lowercased (as Java stores them) and sorted, and every entry carries the same given time.
Pure; cost linear in the certificates' size.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

__all__ = ["DEFAULT_PASSWORD", "JKS_MAGIC", "jks_digest", "jks_truststore", "modified_utf8"]

JKS_MAGIC = 0xFEEDFEED
JKS_VERSION = 2
TRUSTED_CERTIFICATE = 2
DEFAULT_PASSWORD = "changeit"  # what every JRE and ca-certificates-java use for cacerts
_WHITENER = b"Mighty Aphrodite"  # the fixed salt of JKS's integrity digest


def modified_utf8(text: str) -> bytes:
    """``text`` as Java's ``DataOutput.writeUTF`` writes it: u2 length, then modified UTF-8
    (NUL as two bytes, characters beyond U+FFFF as two 3-byte surrogates).

    Raises ``ValueError`` for an encoding longer than 65535 bytes."""
    encoded = bytearray()
    for unit in struct.unpack(f">{len(text.encode('utf-16-be')) // 2}H", text.encode("utf-16-be")):
        if 0 < unit < 0x80:
            encoded.append(unit)
        elif unit < 0x800:
            encoded += bytes([0xC0 | unit >> 6, 0x80 | unit & 0x3F])
        else:
            encoded += bytes([0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F])
    if len(encoded) > 0xFFFF:
        raise ValueError(f"{text[:40]!r}... is too long for a JKS string")
    return struct.pack(">H", len(encoded)) + bytes(encoded)


def jks_digest(body: bytes, password: str = DEFAULT_PASSWORD) -> bytes:
    """The SHA-1 integrity digest JKS appends to ``body`` (every byte before it)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(password.encode("utf-16-be") + _WHITENER + body)
    return digest.digest()


def jks_truststore(
    certificates: Iterable[tuple[str, bytes]],
    timestamp_ms: int,
    password: str = DEFAULT_PASSWORD,
) -> bytes:
    """A JKS key store of trusted certificates from (alias, DER) pairs.

    Aliases are lowercased; each must be unique after that (``ValueError`` otherwise).
    ``timestamp_ms`` is every entry's creation date (milliseconds since the epoch).
    """
    entries: dict[str, bytes] = {}
    for alias, der in certificates:
        key = alias.lower()
        if key in entries:
            raise ValueError(f"alias {key!r} appears twice in the trust store")
        entries[key] = der
    body = bytearray(struct.pack(">III", JKS_MAGIC, JKS_VERSION, len(entries)))
    for alias in sorted(entries):
        der = entries[alias]
        body += struct.pack(">I", TRUSTED_CERTIFICATE)
        body += modified_utf8(alias)
        body += struct.pack(">q", timestamp_ms)
        body += modified_utf8("X.509")
        body += struct.pack(">I", len(der)) + der
    return bytes(body) + jks_digest(bytes(body), password)
