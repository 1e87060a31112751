"""Deterministic layers: bytes, digests, tar headers and gzip framing, read back with stdlib."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from couturier.core.entries import Entry, EntryType
from couturier.errors import InputError
from couturier.oci.layer import (
    GZIP_BLOCK_SIZE,
    LAYER_MEDIA_TYPE,
    Layer,
    _header,
    _order,
    _tar_info,
    write_layer,
)

EPOCH = 1_700_000_000
LONG_DIR = "usr/share/" + "d" * 120
LONG_PATH = f"{LONG_DIR}/" + "f" * 140


def sample_entries() -> list[Entry]:
    """A small tree with every entry type, a long path and a hardlink that sorts before its file."""
    rng = random.Random(7)
    big = bytes(rng.getrandbits(8) for _ in range(200_000)) * 16  # several gzip blocks
    return [
        Entry("usr", EntryType.DIRECTORY, mode=0o755, mtime=EPOCH + 10),
        Entry("usr/bin", EntryType.DIRECTORY, mode=0o755, mtime=100),
        Entry("usr/bin/perl5.36", EntryType.FILE, mode=0o755, data=b"#!perl\n", uid=0, gid=0),
        Entry("usr/bin/perl", EntryType.HARDLINK, target="usr/bin/perl5.36"),
        Entry("bin", EntryType.SYMLINK, mode=0o777, target="usr/bin"),
        Entry("tmp", EntryType.DIRECTORY, mode=0o1777),
        Entry("home", EntryType.DIRECTORY, mode=0o755),
        Entry("home/nonroot", EntryType.DIRECTORY, mode=0o700, uid=65532, gid=65532),
        Entry("usr/share", EntryType.DIRECTORY, mode=0o755),
        Entry(LONG_DIR, EntryType.DIRECTORY, mode=0o755),
        Entry(LONG_PATH, EntryType.FILE, data=b"long"),
        Entry("usr/lib/big.bin", EntryType.FILE, data=big, mtime=EPOCH * 2),
        Entry("usr/lib", EntryType.DIRECTORY, mode=0o755),
        Entry("usr/lib/far", EntryType.SYMLINK, target="/" + "t" * 150),
    ]


def members(layer: Layer) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.read_bytes()))) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_same_entries_give_identical_bytes_and_digests() -> None:
    first = write_layer(sample_entries(), EPOCH)
    second = write_layer(sample_entries(), EPOCH)
    assert first.data == second.data
    assert (first.digest, first.diff_id, first.size) == (second.digest, second.diff_id, second.size)
    assert first.media_type == LAYER_MEDIA_TYPE


def test_golden_digests() -> None:
    """Pinned bytes: the tar is pure Python; the gzip is isal (pinned) on an AVX2 x86-64.

    A change here means a layer digest changed for the same entries (another isal or Python
    tarfile behaviour, or a CPU whose ISA-L code path deflates differently): every image built
    before would get new digests, so it must be a deliberate decision.
    """
    layer = write_layer(sample_entries(), EPOCH)
    assert layer.diff_id == (
        "sha256:aa60562617a7a859f797a9916f3bbaaaeaa1c5352b3685b199218e1b78e9c44d"
    )
    assert layer.digest == (
        "sha256:a839019114bb03693c8dbe3c8da494c4c119d542273ceeb19c232d24d7812575"
    )


def test_input_order_and_thread_count_do_not_matter() -> None:
    reference = write_layer(sample_entries(), EPOCH, threads=1)
    shuffled = sample_entries()
    random.Random(3).shuffle(shuffled)
    for threads in (2, 3):
        assert write_layer(shuffled, EPOCH, threads=threads).data == reference.data


def test_digests_describe_the_blob_and_the_tar() -> None:
    layer = write_layer(sample_entries(), EPOCH)
    assert layer.data is not None
    assert layer.digest == "sha256:" + hashlib.sha256(layer.data).hexdigest()
    assert layer.size == len(layer.data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(layer.data)).hexdigest()


def test_gzip_header_is_fixed() -> None:
    data = write_layer(sample_entries(), EPOCH).read_bytes()
    assert data[:4] == b"\x1f\x8b\x08\x00"  # deflate, no flags: no file name, no comment
    assert data[4:8] == b"\0\0\0\0"  # mtime 0
    assert data[8] == 0  # XFL
    assert data[9] == 255  # OS "unknown", whatever machine built it


def test_entries_are_sorted_parents_first() -> None:
    names = list(members(write_layer(sample_entries(), EPOCH)))
    for index, name in enumerate(names):
        parent = name.rpartition("/")[0]
        if parent:
            assert parent in names[:index], f"{name} comes before its parent"
    assert names.index("usr/bin/perl") < names.index("usr/bin/perl5.36")
    assert names.index("usr/bin") < names.index("usr/lib")


def test_headers_are_numeric_clamped_and_without_pax_for_normal_paths() -> None:
    found = members(write_layer(sample_entries(), EPOCH))
    for name, member in found.items():
        assert member.uname == "" and member.gname == ""
        assert member.mtime <= EPOCH
        if name not in (LONG_DIR, LONG_PATH, "usr/lib/far"):
            assert member.pax_headers == {}, name
    assert found["usr"].mtime == EPOCH
    assert found["usr/bin"].mtime == 100
    assert found["usr/lib/big.bin"].mtime == EPOCH
    assert found["tmp"].mode == 0o1777
    assert (found["home/nonroot"].uid, found["home/nonroot"].gid) == (65532, 65532)


def test_long_paths_use_only_deterministic_pax_records() -> None:
    found = members(write_layer(sample_entries(), EPOCH))
    assert set(found[LONG_PATH].pax_headers) == {"path"}
    assert set(found[LONG_DIR].pax_headers) == {"path"}
    assert found[LONG_DIR].isdir()
    assert set(found["usr/lib/far"].pax_headers) == {"linkpath"}
    assert found["usr/lib/far"].linkname == "/" + "t" * 150


def test_links_extract_as_links(tmp_path: Path) -> None:
    layer = write_layer(sample_entries(), EPOCH)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.read_bytes()))) as tar:
        tar.extractall(tmp_path, filter="tar")
    perl, perl536 = tmp_path / "usr/bin/perl", tmp_path / "usr/bin/perl5.36"
    assert perl.read_bytes() == b"#!perl\n"
    assert os.stat(perl).st_ino == os.stat(perl536).st_ino
    assert os.stat(perl).st_mode & 0o777 == 0o755
    assert os.readlink(tmp_path / "bin") == "usr/bin"
    assert (tmp_path / LONG_PATH).read_bytes() == b"long"
    big = next(e for e in sample_entries() if e.path == "usr/lib/big.bin")
    assert (tmp_path / "usr/lib/big.bin").read_bytes() == big.data


def test_paths_are_normalized_and_directories_get_tar_slash() -> None:
    entries = [
        Entry("/etc/", EntryType.DIRECTORY, mode=0o755),
        Entry("./etc/passwd", EntryType.FILE, data=b"root:x:0:0::/root:/sbin/nologin\n"),
    ]
    layer = write_layer(entries, EPOCH)
    raw = gzip.decompress(layer.read_bytes())
    assert raw[:4] == b"etc/" and raw[4] == 0  # tar's own convention for directory names
    assert list(members(layer)) == ["etc", "etc/passwd"]
    assert write_layer(
        [Entry("etc", EntryType.DIRECTORY, mode=0o755), entries[1]], EPOCH
    ).digest == (layer.digest)


def test_streaming_to_a_file_gives_the_same_blob(tmp_path: Path) -> None:
    in_memory = write_layer(sample_entries(), EPOCH)
    on_disk = write_layer(sample_entries(), EPOCH, dest=tmp_path / "layer.tar.gz")
    assert on_disk.data is None and on_disk.path == tmp_path / "layer.tar.gz"
    assert on_disk.read_bytes() == in_memory.data
    assert (on_disk.digest, on_disk.diff_id, on_disk.size) == (
        in_memory.digest,
        in_memory.diff_id,
        in_memory.size,
    )
    with on_disk.open() as handle:
        assert handle.read(2) == b"\x1f\x8b"


def test_empty_layer_is_a_valid_tar() -> None:
    layer = write_layer([], EPOCH)
    assert members(layer) == {}
    assert layer.digest == write_layer([], EPOCH).digest


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [Entry("a", EntryType.FILE), Entry("/a", EntryType.FILE)],
            "two entries for /a",
        ),
        ([Entry("usr/../etc", EntryType.FILE)], "not a path below the image root"),
        ([Entry("/", EntryType.DIRECTORY)], "not a path below the image root"),
        ([Entry("a", EntryType.HARDLINK, target="b")], "not a regular file of the same layer"),
        (
            [Entry("a", EntryType.HARDLINK, target="b"), Entry("b", EntryType.SYMLINK, target="c")],
            "not a regular file of the same layer",
        ),
    ],
)
def test_malformed_entries_are_refused(entries: list[Entry], message: str) -> None:
    with pytest.raises(InputError, match=message):
        write_layer(entries, EPOCH)


# The tar stream is written without tarfile; tarfile (as the layers were first written, with
# TarFile.addfile in PAX_FORMAT) is the reference its bytes must equal.


def tarfile_stream(entries: list[Entry], epoch: int) -> bytes:
    out = io.BytesIO()
    with tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in _order(entries):
            info = _tar_info(entry, epoch)
            tar.addfile(info, io.BytesIO(entry.data) if info.isreg() else None)
    return out.getvalue()


_NAMES = st.text(
    st.sampled_from(["a", "b", "Z", "0", "-", ".", "é", "\u00ff", "\U0001f600", " "]),
    min_size=1,
    max_size=60,
).filter(lambda name: name not in (".", ".."))
_PATHS = st.lists(_NAMES, min_size=1, max_size=4).map("/".join)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    kind = draw(st.sampled_from(list(EntryType)))
    return Entry(
        draw(_PATHS),
        kind,
        mode=draw(st.integers(0, 0o177777)),
        uid=draw(st.sampled_from([0, 33, 65532, 8**7 - 1, 8**7, 2**32 - 1])),
        gid=draw(st.sampled_from([0, 65534, 8**7 - 1, 8**7])),
        mtime=draw(st.sampled_from([0, 1, EPOCH - 1, EPOCH, EPOCH + 1, 8**11, 2**40])),
        data=draw(st.binary(max_size=1500)) if kind is EntryType.FILE else b"",
        target=draw(_PATHS) if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else "",
    )


@settings(max_examples=400)
@given(entry=entries(), epoch=st.sampled_from([0, EPOCH, 8**11 - 1, 8**11, 2**40]))
def test_headers_are_tarfiles_own(entry: Entry, epoch: int) -> None:
    assert _header(entry, epoch) == _tar_info(entry, epoch).tobuf(
        tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape"
    )


@settings(max_examples=60)
@given(tree=st.lists(entries(), max_size=12, unique_by=lambda e: e.path))
def test_tar_stream_is_tarfiles_own(tree: list[Entry]) -> None:
    files = {e.path for e in tree if e.type is EntryType.FILE}
    tree = [e for e in tree if e.type is not EntryType.HARDLINK or e.target in files]
    layer = write_layer(tree, EPOCH)
    stream = gzip.decompress(layer.read_bytes())
    assert stream == tarfile_stream(tree, EPOCH)
    assert layer.diff_id == "sha256:" + hashlib.sha256(stream).hexdigest()


def test_tar_stream_is_tarfiles_own_across_block_boundaries() -> None:
    rng = random.Random(11)
    tree = sample_entries() + [
        Entry(f"usr/lib/f{i}", EntryType.FILE, data=rng.randbytes(size))
        for i, size in enumerate([0, 1, 511, 512, 513, GZIP_BLOCK_SIZE - 1, GZIP_BLOCK_SIZE, 3])
    ]
    layer = write_layer(tree, EPOCH)
    assert gzip.decompress(layer.read_bytes()) == tarfile_stream(tree, EPOCH)
