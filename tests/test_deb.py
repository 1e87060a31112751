"""Reading real .deb files (built by dpkg-deb, or by hand for malformed ones)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from couturier.assembly.deb import (
    _ar_members,
    _data_entries,
    _member_raw,
    _open_tar,
    _plain_members,
    _tarfile_entries,
    read_deb,
    read_deb_bytes,
)
from couturier.core.entries import EntryType
from couturier.errors import IntegrityError
from tests.debs import Dir, File, Link, build_deb

CONTROL = {
    "Package": "tool",
    "Version": "2.1-3",
    "Architecture": "amd64",
    "Depends": "libc6 (>= 2.36)",
    "Description": "a tool\n with a long description\n .\n and a paragraph",
}
FILES = {
    "usr/bin/tool": File(b"#!/bin/sh\necho tool\n", 0o4755),
    "usr/bin/alias": Link("tool"),
    "etc/tool.conf": "setting = 1\n",
    "usr/share/tool/empty": Dir(0o750),
}


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_reads_every_compression(tmp_path: Path, compression: str) -> None:
    deb = build_deb(tmp_path, CONTROL, FILES, compression, conffiles=["/etc/tool.conf"])
    contents = read_deb(deb)

    assert contents.name == "tool"
    assert contents.version == "2.1-3"
    assert contents.architecture == "amd64"
    assert contents.control["Depends"] == "libc6 (>= 2.36)"
    assert contents.control["Description"].splitlines()[0] == "a tool"
    assert contents.conffiles == ("/etc/tool.conf",)
    assert contents.md5sums["usr/bin/tool"] == hashlib.md5(b"#!/bin/sh\necho tool\n").hexdigest()
    by_path = {e.path: e for e in contents.entries}
    assert set(by_path) == {
        "etc",
        "etc/tool.conf",
        "usr",
        "usr/bin",
        "usr/bin/alias",
        "usr/bin/tool",
        "usr/share",
        "usr/share/tool",
        "usr/share/tool/empty",
    }
    tool = by_path["usr/bin/tool"]
    assert (tool.type, tool.mode, tool.uid, tool.gid) == (EntryType.FILE, 0o4755, 0, 0)
    assert tool.data == b"#!/bin/sh\necho tool\n"
    assert tool.owner == "tool"
    assert tool.mtime > 0
    alias = by_path["usr/bin/alias"]
    assert (alias.type, alias.target) == (EntryType.SYMLINK, "tool")
    empty = by_path["usr/share/tool/empty"]
    assert (empty.type, empty.mode) == (EntryType.DIRECTORY, 0o750)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n"
        out += [header.encode(), data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _handmade(data_members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    control = b"Package: odd\nVersion: 1\nArchitecture: all\n"
    return _ar(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", lzma.compress(_tar([(_info("./control"), control)]))),
            ("data.tar.xz", lzma.compress(_tar(data_members))),
        ]
    )


def test_hardlinks_keep_their_original() -> None:
    deb = _handmade(
        [
            (_info("./", tarfile.DIRTYPE), b""),
            (_info("./usr/bin/", tarfile.DIRTYPE), b""),
            (_info("./usr/bin/a"), b"same"),
            (_info("./usr/bin/b", tarfile.LNKTYPE, "./usr/bin/a"), b""),
        ]
    )
    entries = {e.path: e for e in read_deb_bytes(deb, "odd.deb").entries}
    assert "" not in entries
    assert (entries["usr/bin/b"].type, entries["usr/bin/b"].target) == (
        EntryType.HARDLINK,
        "usr/bin/a",
    )


@pytest.mark.parametrize(
    "member",
    [
        _info("../etc/passwd"),
        _info("/etc/passwd"),
        _info("./usr/../../x"),
        _info("./usr/bin/b", tarfile.LNKTYPE, "../../etc/shadow"),
        _info("./dev/null", tarfile.CHRTYPE),
        _info("./run/fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "climbing", "hardlink-out", "device", "fifo"],
)
def test_refuses_paths_outside_the_root_and_special_files(member: tarfile.TarInfo) -> None:
    deb = _handmade([(_info("./", tarfile.DIRTYPE), b""), (member, b"x")])
    with pytest.raises(IntegrityError, match=r"odd\.deb"):
        read_deb_bytes(deb, "odd.deb")


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_truncated_package_names_the_file(tmp_path: Path, compression: str) -> None:
    deb = build_deb(tmp_path, CONTROL, FILES, compression)
    data = deb.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 70, 7):
        with pytest.raises(IntegrityError, match=re.escape("tool_2.1-3_amd64.deb")):
            read_deb_bytes(data[:cut], deb.name)


@pytest.mark.parametrize("compression", ["xz", "gzip"])
def test_corrupt_member_names_the_file(tmp_path: Path, compression: str) -> None:
    files = {"usr/share/tool/blob": bytes(range(256)) * 64}
    deb = build_deb(tmp_path, CONTROL, files, compression)
    data = bytearray(deb.read_bytes())
    at = data.index(b"data.tar") + 60 + 200  # inside the compressed data member
    data[at : at + 16] = bytes(b ^ 0xFF for b in data[at : at + 16])
    with pytest.raises(IntegrityError, match=re.escape("tool_2.1-3_amd64.deb")):
        read_deb_bytes(bytes(data), deb.name)


def test_not_a_package(tmp_path: Path) -> None:
    path = tmp_path / "nope.deb"
    path.write_bytes(b"hello")
    with pytest.raises(IntegrityError, match=r"nope\.deb"):
        read_deb(path)
    with pytest.raises(IntegrityError, match=r"missing\.deb"):
        read_deb(tmp_path / "missing.deb")
    no_data = _ar([("debian-binary", b"2.0\n")])
    with pytest.raises(IntegrityError, match=r"no control\.tar"):
        read_deb_bytes(no_data, "x.deb")


@pytest.mark.parametrize("suffix", ["xz", "gz", "zst", "bz2"])
def test_truncated_stream_inside_a_whole_member(suffix: str) -> None:
    compress = {
        "xz": lzma.compress,
        "gz": gzip.compress,
        "zst": zstandard.ZstdCompressor().compress,
        "bz2": bz2.compress,
    }[suffix]
    payload = _tar([(_info("./", tarfile.DIRTYPE), b""), (_info("./a"), b"a" * 5000)])
    control = _tar([(_info("./control"), b"Package: odd\nVersion: 1\n")])
    deb = _ar(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar", control),
            (f"data.tar.{suffix}", compress(payload)[:-8]),
        ]
    )
    with pytest.raises(IntegrityError, match=r"odd\.deb is truncated or corrupt"):
        read_deb_bytes(deb, "odd.deb")


# The data archive is read by a plain reader when it is the tar dpkg-deb writes, by tarfile
# otherwise; on any archive, mangled or not, the answer (entries, or the error) is tarfile's.


def _members_of(format_: int) -> bytes:
    """A data archive with every member type, long names and link targets, in ``format_``."""
    long_dir = "./usr/share/" + "d" * 90
    members = [
        (_info("./", tarfile.DIRTYPE), b""),
        (_info("./usr/", tarfile.DIRTYPE), b""),
        (_info("./usr/bin/tool"), b"#!/bin/sh\necho tool\n"),
        (_info("./usr/bin/empty"), b""),
        (_info("./usr/bin/block"), b"b" * 512),
        (_info("./usr/bin/alias", tarfile.SYMTYPE, "tool"), b""),
        (_info("./usr/bin/hard", tarfile.LNKTYPE, "./usr/bin/tool"), b""),
        (_info(long_dir + "/", tarfile.DIRTYPE), b""),
        (_info(long_dir + "/" + "f" * 40), b"long\n"),
        (_info("./usr/lib/far", tarfile.SYMTYPE, "/" + "t" * 120), b""),
        (_info("./usr/lib/caf\u00e9"), b"\xe9"),
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format_) as tar:
        for info, data in members:
            info.size, info.mtime, info.uid = len(data), 1_600_000_000, 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


# GNU: what dpkg-deb writes (long names as L and K members); PAX: left to tarfile. USTAR cannot
# hold the long link target; its prefix is tested on its own.
_ARCHIVES = {"gnu": _members_of(tarfile.GNU_FORMAT), "pax": _members_of(tarfile.PAX_FORMAT)}


def _outcome(read: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", read()
    except IntegrityError as error:
        return "error", (error.code, str(error))
    except Exception as error:  # what tarfile lets through (OverflowError...) must match too
        return "raised", (type(error), str(error))


def _both(raw: bytes) -> tuple[tuple[str, object], tuple[str, object]]:
    def plain_first() -> object:
        plain = _plain_members(raw)
        tar = _open_tar(raw, "data.tar", "t.deb") if plain is None else None
        return _data_entries(plain, tar, "pkg", "t.deb")

    def tarfile_only() -> object:
        return _tarfile_entries(_open_tar(raw, "data.tar", "t.deb"), "pkg", "t.deb")

    return _outcome(plain_first), _outcome(tarfile_only)


def test_the_plain_reader_reads_dpkg_debs_gnu_archives(tmp_path: Path) -> None:
    assert _plain_members(_ARCHIVES["gnu"]) is not None  # long names and targets included
    assert _plain_members(_ARCHIVES["pax"]) is None  # PAX headers: tarfile reads them
    mine, theirs = _both(_ARCHIVES["gnu"])
    assert mine == theirs and mine[0] == "ok"
    # dpkg-deb's own archive (long names included) takes the plain reader.
    files = {**FILES, "usr/share/" + "x" * 120: "long\n", "usr/bin/far": Link("/" + "t" * 120)}
    deb = build_deb(tmp_path / "tool", CONTROL, files, "xz")
    _, raw = _member_raw(_ar_members(deb.read_bytes(), deb.name), "data.tar", deb.name)
    assert _plain_members(raw) is not None
    mine, theirs = _both(raw)
    assert mine == theirs and mine[0] == "ok"
    assert {e.path for e in read_deb(deb).entries} >= {"usr/bin/tool", "usr/share/" + "x" * 120}


def test_a_ustar_prefix_is_left_to_tarfile() -> None:
    info = _info("./usr/share/" + "p" * 90 + "/" + "n" * 60)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    assert _plain_members(buffer.getvalue()) is None
    mine, theirs = _both(buffer.getvalue())
    assert mine == theirs and mine[0] == "ok"


@settings(max_examples=300, deadline=None)
@given(
    archive=st.sampled_from(sorted(_ARCHIVES)),
    changes=st.lists(
        st.tuples(
            st.integers(0, 8000), st.sampled_from([0, 1, 0x20, 0x2F, 0x30, 0x37, 0x80, 0xFF])
        ),
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(0, 9000)),
)
def test_mangled_archives_read_as_tarfile_reads_them(
    archive: str, changes: list[tuple[int, int]], cut: int | None
) -> None:
    raw = bytearray(_ARCHIVES[archive])
    for at, value in changes:
        if at < len(raw):
            raw[at] = value
    mine, theirs = _both(bytes(raw[:cut]))
    assert mine == theirs


@settings(max_examples=200, deadline=None)
@given(
    at=st.integers(0, 15),
    field=st.sampled_from(
        [
            (100, 8),
            (108, 8),
            (116, 8),
            (124, 12),
            (136, 12),
            (148, 8),
            (156, 1),
            (329, 8),
            (337, 8),
            (345, 155),
        ]
    ),
    value=st.binary(min_size=1, max_size=12),
)
def test_mangled_header_fields_read_as_tarfile_reads_them(
    at: int, field: tuple[int, int], value: bytes
) -> None:
    """A header field of one member (by index) overwritten: with or without a fixed checksum."""
    raw = bytearray(_ARCHIVES["gnu"])
    starts = [
        o for o in range(0, len(raw), 512) if raw[o + 257 : o + 263] in (b"ustar ", b"ustar\0")
    ]
    start = starts[at % len(starts)] + field[0]
    raw[start : start + field[1]] = value[: field[1]].ljust(field[1], b"\0")
    mine, theirs = _both(bytes(raw))
    assert mine == theirs
    header = starts[at % len(starts)]
    block = raw[header : header + 512]
    block[148:156] = b"%06o\0 " % (256 + sum(block[:148]) + sum(block[156:]))
    raw[header : header + 512] = block
    mine, theirs = _both(bytes(raw))
    assert mine == theirs
