"""Unpacking a layout tar accepts only an OCI layout's files, checks every blob against its
name, and writes the target whole or not at all."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from couturier.errors import InputError, IntegrityError
from couturier.oci.layout_tar import unpack_layout


def _tar(members: list[tuple[str, bytes]], extra: tarfile.TarInfo | None = None) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            tar.addfile(extra)
    out.seek(0)
    return out


BLOB = b'{"schemaVersion": 2}'
HEX = hashlib.sha256(BLOB).hexdigest()
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{HEX}",
                "size": len(BLOB),
            }
        ],
    }
).encode()
GOOD = [
    ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
    ("index.json", INDEX),
    (f"blobs/sha256/{HEX}", BLOB),
]


def test_a_layout_is_unpacked_whole(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert unpack_layout(_tar(GOOD), target) == 1
    assert (target / "blobs" / "sha256" / HEX).read_bytes() == BLOB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial left


@pytest.mark.parametrize(
    "members",
    [
        [*GOOD, ("../escape", b"x")],
        [*GOOD, ("/etc/passwd", b"x")],
        [*GOOD, ("blobs/sha256/../../../escape", b"x")],
        [*GOOD[:2], (f"blobs/sha256/{HEX}", b"other bytes")],
        [*GOOD, ("index.json", INDEX)],
        GOOD[:2],  # index.json names a blob the archive lacks
        [GOOD[0]],
    ],
)
def test_anything_but_a_sound_layout_is_refused_and_nothing_written(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(IntegrityError):
        unpack_layout(_tar(members), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_links_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo(f"blobs/sha256/{'0' * 64}")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(IntegrityError):
        unpack_layout(_tar(GOOD, link), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_file_or_a_directory_that_is_not_empty_is_not_a_target(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    (tmp_path / "file").write_text("mine")
    for target in (tmp_path / "full", tmp_path / "file"):
        with pytest.raises(InputError):
            unpack_layout(_tar(GOOD), target)
    assert (tmp_path / "full" / "keep").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert unpack_layout(_tar(GOOD), tmp_path / "empty") == 1
