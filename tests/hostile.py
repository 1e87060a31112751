"""Hostile inputs made cheaply: archives whose members inflate to gigabytes, YAML alias bombs.

Shared by the tests and ``bench/hostile.py``. Each maker writes a file of a few MiB in well
under a second: compressed data of one MiB of zeros is made once and repeated (deflate blocks
after a full flush, and xz, gzip and bzip2 streams, may follow one another).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import tarfile
import zlib
from pathlib import Path

__all__ = ["alias_bomb", "huge_tar", "lying_zip"]

GiB = 1 << 30
_MiB = 1 << 20


def _deflate_zeros(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a whole number of MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\0" * _MiB) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return block * (size // _MiB) + final


def lying_zip(path: Path, inflated: int = GiB, declared: int = 10, name: str = "bomb.bin") -> Path:
    """A zip of one deflated member of ``inflated`` zero bytes whose headers declare
    ``declared`` bytes (and a CRC that matches nothing). About 1 KiB per MiB inflated."""
    data = _deflate_zeros(inflated)
    raw = name.encode()
    crc = 0x12345678
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), declared, len(raw), 0
    )
    central = struct.pack(
        "<4s6H3L5H2L",
        b"PK\x01\x02",
        0x031E,  # made by Unix
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(data),
        declared,
        len(raw),
        0,
        0,
        0,
        0,
        0o100644 << 16,
        0,
    )
    offset = len(local) + len(raw) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(raw), offset, 0)
    path.write_bytes(local + raw + data + central + raw + end)
    return path


_COMPRESS = {
    "xz": lambda data: lzma.compress(data, preset=0),
    "gz": lambda data: gzip.compress(data, compresslevel=1, mtime=0),
    "bz2": lambda data: bz2.compress(data, compresslevel=1),
}


def huge_tar(path: Path, size: int = 16 * GiB, compression: str = "xz", members: int = 1) -> Path:
    """A complete ``.tar.xz`` (or ``gz``, ``bz2``) holding ``members`` members of ``size`` zero
    bytes each (a whole number of MiB; ``big.bin``, then ``big-2.bin``...), written as one
    compressed stream per MiB. One member of 16 GiB makes about 4 MiB of xz."""
    compress = _COMPRESS[compression]
    zeros = compress(b"\0" * _MiB)
    with path.open("wb") as out:
        for number in range(1, members + 1):
            info = tarfile.TarInfo("big.bin" if number == 1 else f"big-{number}.bin")
            info.size = size
            out.write(compress(info.tobuf(format=tarfile.GNU_FORMAT)))  # base-256 past 8 GiB
            for _ in range(size // _MiB):
                out.write(zeros)
        out.write(compress(b"\0" * 1024))  # the two empty blocks that end an archive
    return path


def alias_bomb(levels: int = 9, key: str = "env") -> str:
    """A spec of ``levels`` nested aliases under ``key``, each level ten times the one below:
    about 600 bytes that expand to 10**levels strings."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        items = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{items}]")
    body = "\n".join(f"  {line}" for line in lines)
    return f"name: payments-api\nstarter: python\n{key}:\n{body}\n"
