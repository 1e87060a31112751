"""Index diffs (pdiffs): ed scripts written by ``diff --ed`` (GNU diffutils, the oracle)
applied to reach the new index, and a refresh of a real signed fixture repository that
offers ``Packages.diff/Index``: it downloads only the diff, and downloads the whole index
when a diff's hash does not match."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import random
import subprocess
from pathlib import Path

import pytest

from couturier.debian.pdiff import PdiffError, apply_ed, parse_diff_index, patches_for
from couturier.debian.refresh import refresh
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import CountingTransport, SigningKey, build_repo, sign_release

INDEX = "main/binary-amd64/Packages"


def ed_script(old: bytes, new: bytes, tmp_path: Path) -> bytes:
    """``diff --ed OLD NEW``: exit status 1 means the files differ."""
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    done = subprocess.run(
        ["diff", "--ed", str(tmp_path / "old"), str(tmp_path / "new")],
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


@pytest.mark.parametrize("seed", range(12))
def test_ed_scripts_of_diff_turn_the_old_text_into_the_new(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    old = [f"line {i}\n".encode() for i in range(rng.randint(0, 40))]
    new = list(old)
    for _ in range(rng.randint(1, 8)):
        where = rng.randint(0, len(new))
        action = rng.choice(["add", "drop", "change"])
        if action == "add" or not new:
            new[where:where] = [f"new {rng.random()}\n".encode()] * rng.randint(1, 3)
        elif action == "drop":
            del new[min(where, len(new) - 1) : where + rng.randint(1, 3)]
        else:
            new[min(where, len(new) - 1)] = b"changed\n"
    script = ed_script(b"".join(old), b"".join(new), tmp_path)
    assert apply_ed(old, script) == new


@pytest.mark.parametrize(
    "script", [b"3x\n", b"9d\n", b"1a\nno end\n", b"1d\n3d\n", b"0d\n"], ids=repr
)
def test_a_script_that_does_not_fit_the_text_is_refused(script: bytes) -> None:
    with pytest.raises(PdiffError):
        apply_ed([b"a\n", b"b\n", b"c\n"], script)


def _write_diffs(
    suite_dir: Path, old: bytes, new: bytes, patch: bytes, *, merged: bool, listed: bytes
) -> None:
    """Offer ``patch`` (from ``old`` to ``new``) as the suite's only diff, its text listed
    with the hash of ``listed``, and list the Index in a re-signed InRelease."""
    gz = gzip.compress(patch, mtime=0)
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    index = "\n".join(
        [
            f"SHA256-Current: {sha(new)} {len(new)}",
            "SHA256-History:",
            f" {sha(b'unknown older index')} 19 T-0",
            f" {sha(old)} {len(old)} T-1",
            "SHA256-Patches:",
            f" {sha(listed)} {len(listed)} T-1",
            "SHA256-Download:",
            f" {sha(gz)} {len(gz)} T-1.gz",
            *(["X-Patch-Precedence: merged"] if merged else []),
            "",
        ]
    ).encode()
    directory = suite_dir / f"{INDEX}.diff"
    directory.mkdir()
    (directory / "Index").write_bytes(index)
    (directory / "T-1.gz").write_bytes(gz)
    release = suite_dir / "Release"
    listed = f" {sha(index)} {len(index):8d} {INDEX}.diff/Index\n"
    release.write_text(release.read_text() + listed)


STANZAS = [{"Package": f"pkg{i}", "Version": "1.0-1"} for i in range(30)]


@pytest.fixture
def repo_settings(tmp_path: Path, signing_key: SigningKey) -> tuple[Path, Settings]:
    repo = build_repo(
        tmp_path / "repo",
        {"rel": STANZAS},
        key=signing_key,
        arch=("amd64",),
        date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )
    settings = make_settings(tmp_path, repo, signing_key.keyring, {"rel": ["rel"]}, ("amd64",))
    return repo, settings


def _update(repo: Path, signing_key: SigningKey, *, merged: bool, corrupt: bool) -> bytes:
    """Build the repository's next version (pkg7 upgraded, pkg20 gone, pkg30 new) with a
    diff from the current one; the new index's text."""
    suite_dir = repo / "dists" / "rel"
    old = (suite_dir / INDEX).read_bytes()
    stanzas = [s for s in STANZAS if s["Package"] != "pkg20"]
    stanzas = [{**s, "Version": "1.1-1"} if s["Package"] == "pkg7" else s for s in stanzas]
    stanzas.append({"Package": "pkg30", "Version": "1.0-1"})
    build_repo(
        repo,
        {"rel": stanzas},
        key=signing_key,
        arch=("amd64",),
        date=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    )
    new = (suite_dir / INDEX).read_bytes()
    patch = ed_script(old, new, repo.parent)
    listed = patch.replace(b"1.1-1", b"6.6-6") if corrupt else patch
    _write_diffs(suite_dir, old, new, patch, merged=merged, listed=listed)
    sign_release(suite_dir, signing_key)
    return new


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "chained"])
def test_a_refresh_applies_the_diff_instead_of_downloading_the_index(
    repo_settings: tuple[Path, Settings], signing_key: SigningKey, merged: bool
) -> None:
    repo, settings = repo_settings
    refresh(settings)
    new = _update(repo, signing_key, merged=merged, corrupt=False)
    transport = CountingTransport()
    report = refresh(settings, transport=transport)
    (suite,) = report.suites
    assert suite.snapshots["main/amd64"] == hashlib.sha256(new).hexdigest()
    fetched = [url.rpartition("/dists/rel/")[2] for url in transport.urls]
    if merged:
        assert fetched == ["InRelease", f"{INDEX}.diff/Index", f"{INDEX}.diff/T-1.gz"]
    else:  # a chain from T-1 on: the same single patch here
        assert fetched[-1] == f"{INDEX}.diff/T-1.gz"
    assert not report.warnings


def test_a_diff_whose_hash_does_not_match_falls_back_to_the_whole_index(
    repo_settings: tuple[Path, Settings], signing_key: SigningKey
) -> None:
    repo, settings = repo_settings
    refresh(settings)
    new = _update(repo, signing_key, merged=True, corrupt=True)
    transport = CountingTransport()
    report = refresh(settings, transport=transport)
    (suite,) = report.suites
    assert suite.snapshots["main/amd64"] == hashlib.sha256(new).hexdigest()
    fetched = [url.rpartition("/dists/rel/")[2] for url in transport.urls]
    assert f"{INDEX}.diff/T-1.gz" in fetched
    assert any(name.startswith(f"{INDEX}.") and ".diff" not in name for name in fetched)
    (warning,) = report.warnings
    assert "T-1.gz unpacks to other text than the diff index lists" in warning
    assert "downloading it whole" in warning


def test_a_kept_index_older_than_the_history_takes_no_patch() -> None:
    index = parse_diff_index(
        "SHA256-Current: " + "c" * 64 + " 10\nSHA256-History:\n " + "a" * 64 + " 5 T-1\n"
        "SHA256-Patches:\n " + "d" * 64 + " 3 T-1\nSHA256-Download:\n " + "e" * 64 + " 4 T-1.gz\n"
    )
    assert [p.name for p in patches_for(index, "a" * 64)] == ["T-1"]
    assert patches_for(index, "c" * 64) == []
    with pytest.raises(PdiffError, match="older than the diff history"):
        patches_for(index, "b" * 64)
