"""The Debian changelog inside a fetched ``.deb``: what a change record reads its CVE IDs from.

Debian Policy 12.7 puts a binary package's changelog at
``usr/share/doc/<package>/changelog.Debian.gz`` (gzip-compressed; a native package has
``changelog.gz``). A package whose doc directory is a symlink to another package's (allowed by
Policy 12.5 for packages of one source) has none of its own: the caller then knows no CVEs
for it. The changelog is read from the ``.deb`` the build fetched anyway, never from the image
(documentation is dropped from images).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from couturier.assembly.deb import read_deb
from couturier.core.entries import EntryType

__all__ = ["deb_changelog"]

# The changelog of one version is small; a larger member is not a changelog worth reading.
_MAX_CHANGELOG = 16 << 20


def deb_changelog(path: Path, package: str) -> str | None:
    """The text of ``package``'s Debian changelog in the ``.deb`` at ``path`` (decoded as
    UTF-8, undecodable bytes replaced), or None when it ships none or it is not readable as
    gzip. Raises :class:`~couturier.errors.IntegrityError` for a ``.deb`` that is not one."""
    wanted = (
        f"usr/share/doc/{package}/changelog.Debian.gz",
        f"usr/share/doc/{package}/changelog.gz",
    )
    files = {
        entry.path: entry.data
        for entry in read_deb(path).entries
        if entry.type is EntryType.FILE and entry.path in wanted
    }
    for name in wanted:
        if name in files:
            try:
                raw = gzip.decompress(files[name])
            except (OSError, EOFError, zlib.error):
                return None
            return raw[:_MAX_CHANGELOG].decode("utf-8", "replace")
    return None
