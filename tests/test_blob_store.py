"""The local blob store: content-addressed, atomic, verified on write and before serving."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from couturier.blobs import LocalBlobStore
from couturier.errors import Code, InputError, IntegrityError


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_blob_is_stored_once_under_its_digest_and_read_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"layer bytes" * 1000
    digest = digest_of(data)
    assert not store.has(digest) and store.read(digest) is None and store.path(digest) is None
    store.put_bytes(digest, data)
    store.put_bytes(digest, data)  # idempotent
    assert store.has(digest) and store.size(digest) == len(data)
    assert store.read(digest) == data
    path = store.path(digest)
    assert path == tmp_path / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # written read-only
    assert list(store.digests()) == [digest]
    assert list((tmp_path / "blobs" / "partial").iterdir()) == []  # no leftovers
    assert store.delete(digest) and not store.has(digest) and not store.delete(digest)


def test_from_a_file_and_from_a_stream(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    source = tmp_path / "layer.tar.gz"
    source.write_bytes(b"x" * (3 << 20))
    digest = digest_of(source.read_bytes())
    store.put_file(digest, source)
    source.write_bytes(b"rewritten")  # the cache may rewrite its file: the blob is a copy
    assert store.read(digest) == b"x" * (3 << 20)
    other = b"streamed"
    store.put_stream(digest_of(other), io.BytesIO(other))
    assert store.read(digest_of(other)) == other


def test_content_that_is_not_the_digest_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    wrong = digest_of(b"something else")
    with pytest.raises(IntegrityError) as caught:
        store.put_bytes(wrong, b"these bytes")
    assert caught.value.code is Code.BLOB_DAMAGED
    assert not store.has(wrong)
    assert list((tmp_path / "blobs" / "partial").iterdir()) == []
    with pytest.raises(InputError):
        store.put_bytes("sha256:../../etc/passwd", b"")
    with pytest.raises(InputError):
        store.has("md5:abc")


def test_a_damaged_blob_is_reported_never_served_and_repaired_by_a_new_write(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"the real content"
    digest = digest_of(data)
    store.put_bytes(digest, data)
    assert store.read(digest) == data  # verified once (and stamped)
    path = store.path(digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"the real c0ntent")  # same size, other bytes
    with pytest.raises(IntegrityError) as caught:
        store.open(digest)
    assert caught.value.code is Code.BLOB_DAMAGED
    assert caught.value.fields["digest"] == digest
    # The fields reach tenants through the API: never where the data directory lies.
    assert str(tmp_path) not in repr(caught.value.fields) + str(caught.value)
    assert store.verify(digest) is not None
    store.put_bytes(digest, data)  # the next build that makes it writes it again
    assert store.read(digest) == data and store.verify(digest) is None
