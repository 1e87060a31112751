"""The installation key: made once, private, refused in one line when it cannot be trusted, and
sealing secrets so that only it, for the same purpose, opens them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from couturier.errors import StateError
from couturier.store.key import KEY_FILE, InstallationKey, load_or_create_key


def test_the_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    key, made = load_or_create_key(tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE
    assert made and path.stat().st_mode & 0o777 == 0o600
    again, made_again = load_or_create_key(tmp_path / "data")
    assert not made_again and again.fingerprint == key.fingerprint
    assert key.fingerprint in repr(key) and path.read_text().split("\n")[1] not in repr(key)
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no partial file left


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    keys: list[InstallationKey] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key(tmp_path)[0]))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({key.fingerprint for key in keys}) == 1


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda p: p.chmod(0o644), "open to other users (mode 0644)"),
        (lambda p: p.write_text(p.read_text()[:-5]), "is damaged"),
        (lambda p: p.write_text(p.read_text().replace("v1", "v2")), "is damaged"),
        (lambda p: p.write_bytes(b"\xff" * 40), "is damaged"),
        (lambda p: p.write_text(""), "is damaged"),
        (lambda p: (p.unlink(), p.mkdir()), "not a regular file"),
        (lambda p: (p.unlink(), p.symlink_to("/nonexistent")), "not a regular file"),
    ],
)
def test_a_key_that_cannot_be_trusted_is_refused_in_one_line(
    tmp_path: Path, damage: object, says: str
) -> None:
    load_or_create_key(tmp_path)
    path = tmp_path / KEY_FILE
    damage(path)  # type: ignore[operator]
    with pytest.raises(StateError) as refused:
        load_or_create_key(tmp_path)
    assert says in refused.value.message
    assert "\n" not in str(refused.value)
    assert refused.value.path == str(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_is_refused(tmp_path: Path) -> None:  # pragma: no cover - as root
    load_or_create_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o000)
    with pytest.raises(StateError, match="cannot be read"):
        load_or_create_key(tmp_path)


def test_secrets_open_only_with_the_same_key_and_purpose(tmp_path: Path) -> None:
    key, _ = load_or_create_key(tmp_path / "one")
    other, _ = load_or_create_key(tmp_path / "two")
    sealed = key.seal(b"hunter2", "destination:7:password")
    assert b"hunter2" not in sealed.encode()
    assert key.seal(b"hunter2", "destination:7:password") != sealed  # a nonce of its own
    assert key.open(sealed, "destination:7:password") == b"hunter2"
    with pytest.raises(StateError, match="cannot be decrypted"):
        key.open(sealed, "destination:8:password")
    with pytest.raises(StateError):
        other.open(sealed, "destination:7:password")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    for bad in (tampered, "", "not base64!", "YWJj"):
        with pytest.raises(StateError):
            key.open(bad, "destination:7:password")


def test_a_derived_key_is_stable_per_purpose_and_reveals_no_other(tmp_path: Path) -> None:
    """The registry signs its bearer tokens with a key derived for that purpose alone: the
    same key file gives the same bytes after a restart, another purpose other bytes."""
    key, _ = load_or_create_key(tmp_path)
    again, made = load_or_create_key(tmp_path)
    assert not made
    signing = key.derive("registry bearer token v1")
    assert len(signing) == 32 and again.derive("registry bearer token v1") == signing
    assert key.derive("another purpose") != signing
    other, _ = load_or_create_key(tmp_path / "other")
    assert other.derive("registry bearer token v1") != signing
