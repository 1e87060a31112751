"""A real, signed Debian-format package repository built by the tests (importable helper).

:func:`build_repo` makes genuine ``.deb`` files with ``dpkg-deb --build``, writes ``Packages``
indexes (plain, ``.xz`` and ``.gz``) with the real ``Filename``/``Size``/``SHA256`` of each file,
and a ``Release`` file clear-signed into ``InRelease`` by a throwaway key
(:func:`make_signing_key`).
Architecture ``all`` packages go into every architecture's index, as in Debian.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import lzma
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import BinaryIO

from couturier.debian.transport import HttpTransport

__all__ = ["SigningKey", "build_repo", "make_signing_key", "sign_release"]

_INDEX_ONLY = ("Filename", "Size", "SHA256", "MD5sum")
# Not a control field: the text of usr/share/doc/<name>/changelog.Debian.gz in the .deb.
_CHANGELOG = "Changelog"


@dataclass(frozen=True)
class SigningKey:
    """A throwaway OpenPGP key: its GnuPG home, fingerprint and exported public keyrings."""

    home: Path
    fingerprint: str
    keyring: Path  # binary public key
    armored: Path  # ASCII-armored public key

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.home, ignore_errors=True)


def _gpg(home: Path, *args: str) -> bytes:
    return subprocess.run(
        [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            *args,
        ],
        check=True,
        capture_output=True,
    ).stdout


def make_signing_key(
    export_dir: Path, uid: str = "Couturier Test <test@example.invalid>"
) -> SigningKey:
    """Generate an ed25519 signing key (no passphrase) and export its public key to export_dir."""
    home = Path(tempfile.mkdtemp(prefix="cgpg"))  # short path: gpg-agent socket length limit
    home.chmod(0o700)
    _gpg(home, "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = _gpg(home, "--with-colons", "--list-keys").decode()
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    export_dir.mkdir(parents=True, exist_ok=True)
    keyring = export_dir / f"{fingerprint[-8:]}.gpg"
    keyring.write_bytes(_gpg(home, "--export", fingerprint))
    armored = export_dir / f"{fingerprint[-8:]}.asc"
    armored.write_bytes(_gpg(home, "--armor", "--export", fingerprint))
    return SigningKey(home, fingerprint, keyring, armored)


def sign_release(suite_dir: Path, key: SigningKey) -> None:
    """Clear-sign ``suite_dir/Release`` into ``suite_dir/InRelease``."""
    _gpg(
        key.home,
        "--local-user",
        key.fingerprint,
        "--digest-algo",
        "SHA256",
        "--clearsign",
        "--output",
        str(suite_dir / "InRelease"),
        str(suite_dir / "Release"),
    )


def _control(stanza: Mapping[str, str], index: Mapping[str, str] | None = None) -> str:
    """A control stanza; ``index`` adds the index-only fields (Filename, Size, SHA256)."""
    fields = {
        "Maintainer": "Couturier Tests <test@example.invalid>",
        "Description": f"{stanza['Package']} test package",
    }
    fields.update({k: v for k, v in stanza.items() if k not in (*_INDEX_ONLY, _CHANGELOG)})
    fields.update(index or {})
    return "".join(f"{k}: {v}\n" for k, v in fields.items())


def _build_deb(
    pool: Path, stanza: Mapping[str, str], files: Mapping[str, Path] | None = None
) -> Path:
    name, version, arch = stanza["Package"], stanza["Version"], stanza.get("Architecture", "all")
    deb = pool / f"{name}_{version.split(':')[-1]}_{arch}.deb"
    if deb.exists():
        return deb
    with tempfile.TemporaryDirectory(prefix="cdeb") as tmp:
        tree = Path(tmp) / "root"
        doc = tree / "usr" / "share" / "doc" / name
        doc.mkdir(parents=True)
        (doc / "README").write_text(f"{name} {version}\n")
        if _CHANGELOG in stanza:
            changelog = gzip.compress(stanza[_CHANGELOG].encode(), mtime=0)
            (doc / "changelog.Debian.gz").write_bytes(changelog)
        for target, source in (files or {}).items():
            placed = tree / target.lstrip("/")
            placed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, placed)  # keeps the mode: an executable stays one
        (tree / "DEBIAN").mkdir()
        (tree / "DEBIAN" / "control").write_text(_control({**stanza, "Architecture": arch}))
        pool.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
            check=True,
            capture_output=True,
        )
    return deb


def build_repo(
    root: Path,
    suites: Mapping[str, Sequence[Mapping[str, str]]],
    *,
    arch: Sequence[str] = ("amd64", "arm64"),
    key: SigningKey,
    valid_until: dt.datetime | None = None,
    date: dt.datetime | None = None,
    component: str = "main",
    origin: str = "Couturier fixture",
    version: str = "",
    files: Mapping[str, Mapping[str, Path]] | None = None,
) -> Path:
    """Build (or rebuild) a signed repository under ``root``; return ``root``.

    ``suites`` maps a suite name to its stanzas (``Package``, ``Version``, optional
    ``Architecture`` (default ``all``) and any other control fields; ``Changelog``, not a
    control field, is the package's ``changelog.Debian.gz`` text). ``origin`` and
    ``version`` are the Release file's ``Origin`` and ``Version`` (none when empty).
    ``files`` maps ``NAME_VERSION`` to the files that package ships (absolute path in the
    package → local file copied there); every package ships its README besides.
    """
    date = date or dt.datetime.now(dt.UTC).replace(microsecond=0)
    for suite, stanzas in suites.items():
        suite_dir = root / "dists" / suite
        entries: list[tuple[str, bytes]] = []
        for a in arch:
            chunks = []
            for stanza in stanzas:
                if stanza.get("Architecture", "all") not in (a, "all"):
                    continue
                shipped = (files or {}).get(f"{stanza['Package']}_{stanza['Version']}")
                deb = _build_deb(root / "pool" / component, stanza, shipped)
                blob = deb.read_bytes()
                index_fields = {
                    "Filename": str(deb.relative_to(root)),
                    "Size": str(len(blob)),
                    "SHA256": hashlib.sha256(blob).hexdigest(),
                }
                full = {k: v for k, v in stanza.items() if k != _CHANGELOG}
                full["Architecture"] = stanza.get("Architecture", "all")
                chunks.append(_control(full, index_fields))
            text = "\n".join(chunks).encode()
            base = f"{component}/binary-{a}/Packages"
            entries += [
                (base, text),
                (base + ".xz", lzma.compress(text)),
                (base + ".gz", gzip.compress(text, mtime=0)),
            ]
        if suite_dir.exists():
            shutil.rmtree(suite_dir)
        for path, blob in entries:
            target = suite_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        lines = [
            f"Origin: {origin}",
            f"Suite: {suite}",
            f"Codename: {suite}",
            *([f"Version: {version}"] if version else []),
            f"Date: {format_datetime(date, usegmt=True)}",
        ]
        if valid_until is not None:
            lines.append(f"Valid-Until: {format_datetime(valid_until, usegmt=True)}")
        lines += [f"Architectures: {' '.join(arch)}", f"Components: {component}", "SHA256:"]
        lines += [f" {hashlib.sha256(b).hexdigest()} {len(b):8d} {p}" for p, b in entries]
        (suite_dir / "Release").write_text("\n".join(lines) + "\n")
        sign_release(suite_dir, key)
    return root


class CountingTransport:
    """A real transport that records every URL it was asked for and the threads that asked."""

    def __init__(self) -> None:
        self.inner = HttpTransport(retries=0)
        self.urls: list[str] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def _record(self, url: str) -> None:
        with self._lock:
            self.urls.append(url)
            self.threads.add(threading.get_ident())

    def get(self, url: str, limit: int | None = None) -> bytes:
        self._record(url)
        return self.inner.get(url, limit)

    def get_to(self, url: str, dest: BinaryIO, limit: int | None = None) -> int:
        self._record(url)
        return self.inner.get_to(url, dest, limit)
