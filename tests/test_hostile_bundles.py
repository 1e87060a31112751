"""Hostile and damaged bundles: links that escape together, decompression bombs, members that
declare gigabytes, and a store changed by hand. Each is refused with a violation or an error
that says what to do, never with a traceback, and reading stops early (the peak memory of the
bombs is measured in a child process; their time is a figure of ``bench/hostile.py``).
"""

from __future__ import annotations

import gzip
import json
import lzma
import resource
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from couturier.assembly.bundles import bundle_entries
from couturier.assembly.errors import BuildError
from couturier.cli.main import main
from couturier.core.bundle import MAX_FILE_SIZE, BundleError
from couturier.core.entries import Entry, EntryType
from couturier.errors import CouturierError, IntegrityError
from couturier.services.bundles import (
    MAX_ENTRIES,
    create_bundle,
    get_bundle,
    list_bundles,
    store_root,
)
from couturier.settings import Settings, load_settings
from tests.hostile import GiB, huge_tar, lying_zip
from tests.test_bundles import T, make_tar, snapshot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    return load_settings(None, env)


def refused(settings: Settings, inputs: list[Path], target: str = "/etc/myapp") -> list[str]:
    """The violations of a files bundle made of ``inputs``; the store must stay as it was."""
    before = snapshot(settings.data_dir)
    with pytest.raises(BundleError) as error:
        create_bundle(settings, "app", "files", inputs, target)
    assert snapshot(settings.data_dir) == before
    return [str(v) for v in error.value.violations]


# Links that each stay inside the target but escape together

ESCAPES: dict[str, tuple[list[T], str]] = {
    # a/s -> .. is the target itself; a/s/y lands at target/y, whose .. is /etc.
    "two-dot-dot-links": (
        [
            T("a/s", "sym", link=".."),
            T("a/s/y", "sym", link=".."),
            T("a/s/y/passwd", data=b"root::0:0:root:/root:/bin/sh\n"),
        ],
        "a/s/y/passwd: lands at /etc/passwd through the bundle's own links",
    ),
    "link-target-through-a-link": (
        [T("a/s", "sym", link=".."), T("l", "sym", link="a/s/..")],
        "l: is a link to 'a/s/..', which reaches /etc through the bundle's links",
    ),
    "absolute-link-through-a-link": (
        [T("a/s", "sym", link=".."), T("l", "sym", link="/etc/myapp/a/s/../shadow")],
        "l: is a link to '/etc/myapp/a/s/../shadow', which reaches /etc/shadow",
    ),
    "chain-of-links": (
        [
            T("d/e", "sym", link=".."),
            T("x", "sym", link="d/e"),
            T("y", "sym", link="x/.."),
        ],
        "y: is a link to 'x/..', which reaches /etc through",
    ),
    "loop": (
        [T("x", "sym", link="y/z"), T("y", "sym", link="x"), T("y2", data=b"x")],
        "which loops",
    ),
    "file-through-a-link-inside": (
        [T("conf", "sym", link="real"), T("conf/app.conf", data=b"x\n")],
        "conf/app.conf: is placed through a link of the bundle (it lands at /etc/myapp/real",
    ),
    "file-below-a-file": (
        [T("app.conf", data=b"x\n"), T("app.conf/more", data=b"y\n")],
        "app.conf/more: is below app.conf, which is a file of the bundle",
    ),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_links_that_escape_together_are_refused(
    case: str, settings: Settings, tmp_path: Path
) -> None:
    members, expected = ESCAPES[case]
    archive = make_tar(tmp_path / "app.tar", members)
    listed = refused(settings, [archive])
    assert any(expected in line for line in listed), listed


def test_links_that_stay_inside_together_are_kept(settings: Settings, tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "app.tar",
        [
            T("releases/v2/app.conf", data=b"x\n"),
            T("current", "sym", link="releases/v2"),
            T("conf", "sym", link="current/app.conf"),
            T("up", "sym", link="releases/../current"),
            T("abs", "sym", link="/etc/myapp/conf"),
        ],
    )
    bundle = create_bundle(settings, "app", "files", [archive], "/etc/myapp")
    assert [f.path for f in bundle.files] == [
        "abs",
        "conf",
        "current",
        "releases/v2/app.conf",
        "up",
    ]
    entries = bundle_entries([bundle], {}, 0)
    assert [e.path for e in entries] == [f"etc/myapp/{f.path}" for f in bundle.files]


def _stored(settings: Settings, tmp_path: Path, files: list[dict[str, str]]) -> None:
    """Rewrite app@1's record with ``files`` (paths, links), as someone editing the store."""
    good = tmp_path / "ok.conf"
    good.write_bytes(b"ok\n")
    bundle = create_bundle(settings, "app", "files", [good], "/etc/myapp")
    record_path = store_root(settings) / "app" / "1" / "bundle.json"
    record = json.loads(record_path.read_text())
    sha = bundle.files[0].sha256
    record["files"] = [{"size": 0, "sha256": sha, "mode": "0644", **f} for f in files]
    record_path.write_text(json.dumps(record))


def test_a_stored_bundle_crafted_by_hand_is_refused_by_the_layer(
    settings: Settings, tmp_path: Path
) -> None:
    _stored(
        settings,
        tmp_path,
        [
            {"path": "a/s", "link": ".."},
            {"path": "a/s/y", "link": ".."},
            {"path": "a/s/y/passwd"},
        ],
    )
    with pytest.raises(CouturierError) as error:
        bundle = get_bundle(settings, "app")
        bundle_entries([bundle], {}, 0)
    assert "a/s/y/passwd" in str(error.value)
    assert "create the bundle again" in str(error.value)


@pytest.mark.parametrize(
    "files",
    [
        [{"path": "../../etc/passwd"}],
        [{"path": "/etc/passwd"}],
        [{"path": "x\n"}],
        [{"path": "l", "link": "/etc/shadow"}],
    ],
)
def test_stored_paths_breaking_the_rules_are_refused(
    files: list[dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    _stored(settings, tmp_path, files)
    with pytest.raises(CouturierError, match="create the bundle again"):
        bundle_entries([get_bundle(settings, "app")], {}, 0)


def test_the_images_links_count_when_the_layer_is_made(settings: Settings, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "app.tar", [T("sub/x.conf", data=b"x\n")])
    bundle = create_bundle(settings, "app", "files", [archive], "/etc/myapp")
    tree = {
        "etc": Entry("etc", EntryType.DIRECTORY, 0o755),
        "etc/myapp": Entry("etc/myapp", EntryType.DIRECTORY, 0o755),
        "etc/myapp/sub": Entry("etc/myapp/sub", EntryType.SYMLINK, 0o777, target="../../usr"),
    }
    with pytest.raises(BuildError, match=r"lands at /usr/x.conf through links, out of /etc/myapp"):
        bundle_entries([bundle], tree, 0)
    # A target that is itself a link of the image: the files land where it leads.
    tree = {"srv": Entry("srv", EntryType.SYMLINK, 0o777, target="var/srv")}
    moved = create_bundle(settings, "moved", "files", [archive], "/srv")
    assert [e.path for e in bundle_entries([moved], tree, 0)] == ["var/srv/sub/x.conf"]


# Bombs: bounded reads whatever the headers declare

_CHILD = """
import resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from couturier.core.bundle import BundleError
from couturier.services.bundles import create_bundle
from couturier.settings import load_settings
data = {"COUTURIER_DATA_DIR": sys.argv[2], "COUTURIER_CACHE_DIR": sys.argv[2]}
settings = load_settings(None, data)
if len(sys.argv) > 3:  # a time budget of its own: the test is about another limit
    import couturier.services.bundle_inputs as inputs
    inputs.MAX_READ_SECONDS = float(sys.argv[3])
start = time.monotonic()
try:
    create_bundle(settings, "bomb", "files", [Path(sys.argv[1])], "/srv")
    print("STORED")
except BundleError as error:
    print("\\n".join(str(v) for v in error.violations))
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(f"RSS {int(peak) // 1024}")
print(f"SECONDS {time.monotonic() - start:.3f}")
"""


def refuse_in_child(archive: Path, data: Path, *, seconds: float | None = None) -> tuple[str, int]:
    """Run ``create_bundle`` on ``archive`` in a child process (address space capped at 2 GiB;
    ``seconds``: its read time budget instead of ``MAX_READ_SECONDS``); return its violations
    and its peak resident memory in MiB (its own: VmHWM)."""
    extra = [str(seconds)] if seconds is not None else []
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(archive), str(data), *extra],
        capture_output=True,
        text=True,
        timeout=60 if seconds is None else 60 + seconds,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rss = int(next(line for line in lines if line.startswith("RSS "))[4:])
    return "\n".join(lines), rss


def test_zip_whose_header_lies_is_refused_in_little_memory(tmp_path: Path) -> None:
    archive = lying_zip(tmp_path / "bomb.zip", inflated=GiB, declared=10)
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert "STORED" not in text
    assert "bomb.zip:bomb.bin: could not be read (it is damaged: Bad CRC-32" in text
    assert rss < 100, text


def test_zip_member_of_a_gigabyte_is_refused_in_little_memory(tmp_path: Path) -> None:
    archive = lying_zip(tmp_path / "bomb.zip", inflated=GiB, declared=GiB)
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert "bomb.zip:bomb.bin: has more than 1,048,576 bytes" in text
    assert rss < 100, text


@pytest.mark.parametrize(("compression", "size"), [("xz", 16 * GiB), ("bz2", 16 * GiB)])
def test_tar_member_of_gigabytes_is_refused_in_little_memory(
    compression: str, size: int, tmp_path: Path
) -> None:
    archive = huge_tar(tmp_path / f"big.tar.{compression}", size, compression)
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert "big.bin: has more than 1,048,576 bytes" in text
    assert f"needs {size:,} bytes for big.bin" in text
    assert rss < 100, text


def test_reading_stops_when_the_content_passes_the_budget(
    settings: Settings, tmp_path: Path
) -> None:
    # Forty members of 1 MiB, each within the limit: the stream is read for real until the
    # budget is spent.
    archive = huge_tar(tmp_path / "many.tar.gz", 1 << 20, "gz", members=40)
    listed = refused(settings, [archive], "/srv")
    assert any("many.tar.gz: needs more than 32 MiB of content" in line for line in listed)
    # A member that declares more than the budget stops the walk before it is skipped.
    archive = huge_tar(tmp_path / "two.tar.gz", 40 << 20, "gz", members=2)
    listed = refused(settings, [archive], "/srv")
    assert any(f"two.tar.gz: needs {40 << 20:,} bytes for big.bin" in x for x in listed), listed


def test_truncated_and_oversized_archives(settings: Settings, tmp_path: Path) -> None:
    whole = huge_tar(tmp_path / "whole.tar.xz", 4 << 20, "xz")
    cut = tmp_path / "cut.tar.xz"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    big = tmp_path / "big.tar"
    with big.open("wb") as out:
        out.truncate(40 << 20)
    listed = refused(settings, [cut, big], "/srv")
    assert any("cut.tar.xz: is not a readable tar archive" in line for line in listed), listed
    assert any("big.tar: is an archive of 41,943,040 bytes" in line for line in listed), listed


def test_zip_declaring_too_many_entries_is_not_listed(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    # An end record declaring 65,000 entries and a central directory that is not there.
    archive.write_bytes(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 65000, 65000, 0, 0, 0))
    listed = refused(settings, [archive], "/srv")
    assert listed == [
        f"{archive}: holds more than {MAX_ENTRIES} entries; " + listed[0].split("; ", 1)[1]
    ]


def test_zip_members_compressed_otherwise_are_refused(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_BZIP2) as out:
        out.writestr("a.conf", b"x" * 100)
    listed = refused(settings, [archive], "/srv")
    assert any("a.conf: could not be read (it is compressed with method 12" in x for x in listed)


def test_a_large_plain_file_is_read_no_further_than_the_limit(
    settings: Settings, tmp_path: Path
) -> None:
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as out:
        out.truncate(8 * GiB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    listed = refused(settings, [sparse], "/srv")
    assert listed == [f"{sparse}: has 8,589,934,592 bytes; a bundle file holds at most 1,048,576"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024
    assert MAX_FILE_SIZE == 1 << 20


# A damaged store: one line, never a traceback


def test_stray_entries_in_the_store_are_skipped(settings: Settings, tmp_path: Path) -> None:
    good = tmp_path / "ok.conf"
    good.write_bytes(b"ok\n")
    create_bundle(settings, "app", "files", [good], "/etc/myapp")
    root = store_root(settings)
    (root / "app" / "²").mkdir()  # a digit to str.isdigit, not to int()
    (root / "app" / "²" / "bundle.json").write_text("{}")
    (root / "app" / "7").mkdir()  # a version without a record
    (root / "stray").mkdir()
    (root / "file-not-dir").write_text("x")
    assert [b.ref for b in list_bundles(settings)] == ["app@1"]
    assert get_bundle(settings, "app").version == 1


def test_a_store_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bundles").write_text("not a directory")
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(data))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    conf = tmp_path / "a.conf"
    conf.write_bytes(b"x\n")
    command = ["-q", "bundle", "create", "app", "--type", "files", "--target", "/etc/a", str(conf)]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{data / 'bundles'}" in err
    assert main(["-q", "bundle", "list"]) == 0


@pytest.mark.parametrize(
    "record",
    ['{"files": [1]}', "[" * 100_000, '{"name": "app"}', "x" * (2 << 20)],
    ids=["files-not-mappings", "deep", "fields-missing", "huge"],
)
def test_damaged_records_are_integrity_errors(
    record: str, settings: Settings, tmp_path: Path
) -> None:
    good = tmp_path / "ok.conf"
    good.write_bytes(b"ok\n")
    create_bundle(settings, "app", "files", [good], "/etc/myapp")
    (store_root(settings) / "app" / "1" / "bundle.json").write_text(record)
    with pytest.raises(IntegrityError, match="bundle app@1 is damaged in the store"):
        get_bundle(settings, "app")


def test_a_store_file_replaced_by_a_huge_one_is_not_read_whole(
    settings: Settings, tmp_path: Path
) -> None:
    good = tmp_path / "ok.conf"
    good.write_bytes(b"ok\n")
    [file] = create_bundle(settings, "app", "files", [good], "/etc/myapp").files
    assert file.sha256
    blob = store_root(settings) / "app" / "1" / "files" / file.sha256
    with blob.open("wb") as out:
        out.truncate(8 * GiB)
    with pytest.raises(IntegrityError, match="changed in the store"):
        bundle_entries([get_bundle(settings, "app")], {}, 0)


# Certificates files and names that cost too much


def test_thousands_of_pem_lines_are_refused_in_a_few_lines(
    settings: Settings, tmp_path: Path
) -> None:
    # 38,000 BEGIN lines without an END (quadratic for a regex over whole blocks), then
    # thousands of empty CERTIFICATE blocks: a few violations, not thousands.
    lonely = tmp_path / "lonely.pem"
    lonely.write_bytes(b"-----BEGIN CERTIFICATE-----" * 38_000)
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" * 10_000)
    with pytest.raises(BundleError) as error:
        create_bundle(settings, "ca", "certificates", [lonely, empty])
    listed = [str(v) for v in error.value.violations]
    assert any("lonely.pem: holds no PEM certificate" in line for line in listed), listed
    assert sum("empty.pem" in line for line in listed) == 6, listed
    assert any("empty.pem: and 9995 more blocks like these" in line for line in listed)


def test_names_and_links_too_long_or_not_utf8(settings: Settings, tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "names.tar",
        [
            T("a" * 256, data=b"x"),
            T("/".join(["d" * 200] * 25), data=b"x"),
            T("long", "sym", link="x/" * 3000),
        ],
    )
    listed = refused(settings, [archive], "/srv")
    assert any("has a name longer than 255 bytes" in line for line in listed), listed
    assert any("has a path longer than 4096 bytes" in line for line in listed), listed
    assert any(
        "long: is a link to 'x/x/" in line and "not a usable path" in line for line in listed
    )
    raw = tmp_path / "raw.tar"
    with raw.open("wb") as out:  # a name of Latin-1 bytes, as an old tar may write
        info = tarfile.TarInfo("caf\udce9.conf")
        info.size = 1
        out.write(info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape"))
        out.write(b"x".ljust(512, b"\0") + b"\0" * 1024)
    listed = refused(settings, [raw], "/srv")
    assert any("has a path that is not UTF-8" in line for line in listed), listed


def test_the_cli_lists_at_most_fifty_violations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    archive = make_tar(tmp_path / "bad.tar", [T(f"/abs{n}", data=b"x") for n in range(300)])
    command = ["bundle", "create", "app", "--type", "files", "--target", "/srv", str(archive)]
    assert main(["-q", *command]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 52 and err[-1] == "  and 250 more", err[:3]


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz", ".zip", "dir"])
def test_the_largest_bundle_allowed_is_read_whole(
    suffix: str, settings: Settings, tmp_path: Path
) -> None:
    # 20 files of 1 MiB: the budget (decompressed bytes) leaves room for a full bundle.
    contents = {f"f{n:02}.bin": bytes([n + 1]) * MAX_FILE_SIZE for n in range(20)}
    if suffix == "dir":
        path = tmp_path / "files"
        path.mkdir()
        for name, data in contents.items():
            (path / name).write_bytes(data)
    elif suffix == ".zip":
        path = tmp_path / "files.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            for name, data in contents.items():
                out.writestr(name, data)
    else:
        path = make_tar(tmp_path / "files.tar", [T(n, data=d) for n, d in contents.items()])
        if suffix != ".tar":
            raw = path.read_bytes()
            path = tmp_path / f"files{suffix}"
            if suffix == ".tar.gz":
                path.write_bytes(gzip.compress(raw, compresslevel=1))
            else:
                path.write_bytes(lzma.compress(raw, preset=0))
    bundle = create_bundle(settings, "full", "files", [path], "/srv")
    assert [f.path for f in bundle.files] == sorted(contents)
    assert all(f.size == MAX_FILE_SIZE for f in bundle.files)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/etc/caf\udce9", "must be UTF-8 text"),
        ("/" + "d/" * 1100 + "x", "must be at most 2048 bytes long"),
        ("/etc/app\n", "must not contain control characters"),
    ],
)
def test_targets_that_no_image_can_hold(
    target: str, expected: str, settings: Settings, tmp_path: Path
) -> None:
    conf = tmp_path / "a.conf"
    conf.write_bytes(b"x\n")
    assert any(expected in line for line in refused(settings, [conf], target))


def test_entries_over_many_inputs_are_bounded(settings: Settings, tmp_path: Path) -> None:
    # A directory of 900 entries named 80 times: each under the per-input limit, too many
    # together.
    directory = tmp_path / "d"
    directory.mkdir()
    for m in range(900):
        (directory / f"{m}").mkdir()
    listed = refused(settings, [directory] * 80, "/srv")
    assert any("needs more than 32 MiB of content" in line for line in listed), listed[:3]


def test_a_tar_header_declaring_a_negative_size_is_damage(
    settings: Settings, tmp_path: Path
) -> None:
    info = tarfile.TarInfo("neg.bin")
    info.size = 5
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = b"\xff" * 11 + b"\xfb"  # base-256: -5
    checksum = sum(header[:148]) + 8 * 32 + sum(header[156:512])
    header[148:156] = b"%06o\x00 " % checksum
    archive = tmp_path / "neg.tar"
    archive.write_bytes(bytes(header) + b"x" * 512 + b"\0" * 1024)
    listed = refused(settings, [archive], "/srv")
    assert listed == [
        f"{archive}: is not a readable tar archive (neg.bin declares a negative size)"
    ]


def test_a_zip_link_too_long_is_refused_not_cut(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as out:
        info = zipfile.ZipInfo("l")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        out.writestr(info, "a/" * 3000)
    listed = refused(settings, [archive], "/srv")
    assert any("l.zip:l: is a link to 'a/a/" in x and "not a usable path" in x for x in listed)


def test_zip_directory_larger_than_its_count_says_is_not_listed(tmp_path: Path) -> None:
    # The end record declares 5 entries; the central directory holds 400,000 (zipfile would
    # make them all, some 200 MB of ZipInfo, before the first could be looked at).
    entries = []
    for n in range(400_000):
        name = b"n%06d" % n
        entries.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
    directory = b"".join(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 5, 5, len(directory), 0, 0)
    archive = tmp_path / "many.zip"
    archive.write_bytes(directory + end)
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert f"many.zip: holds more than {MAX_ENTRIES} entries" in text
    assert rss < 100, text


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    # 30 MB of tiny pax records (each a new key): tarfile would make a dict of 2.3 million.
    records = []
    for n in range(2_300_000):
        body = b" k%07d=\n" % n
        records.append(str(len(body) + 2).encode() + body)
    data = b"".join(records)
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = len(data)
    member = tarfile.TarInfo("x")
    archive = tmp_path / "pax.tar"
    archive.write_bytes(
        pax.tobuf(format=tarfile.USTAR_FORMAT)
        + data
        + b"\0" * (-len(data) % 512)
        + member.tobuf(format=tarfile.USTAR_FORMAT)
        + b"\0" * 1024
    )
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert f"pax.tar: is not a readable tar archive (an extended header of {len(data):,}" in text
    assert rss < 100, text


def test_long_names_in_pax_headers_still_read(settings: Settings, tmp_path: Path) -> None:
    long = "/".join(["d" * 200] * 10) + "/app.conf"
    archive = make_tar(tmp_path / "long.tar", [T(long, data=b"x\n"), T("l", "sym", link=long)])
    bundle = create_bundle(settings, "long", "files", [archive], "/srv")
    assert sorted(f.path for f in bundle.files) == sorted([long, "l"])


def test_an_old_gnu_sparse_member_is_refused_before_its_map(tmp_path: Path) -> None:
    # A sparse header whose map of holes runs on for 60,000 blocks (1.2 million entries).
    info = tarfile.TarInfo("s")
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[482] = 1  # isextended
    header[148:156] = b"%06o\x00 " % (sum(header[:148]) + 8 * 32 + sum(header[156:512]))
    block = bytearray(512)
    for n in range(21):
        block[n * 24 : n * 24 + 24] = b"%011o\x00%011o\x00" % (n, 1)
    block[504] = 1
    archive = tmp_path / "sparse.tar"
    archive.write_bytes(bytes(header) + bytes(block) * 60_000 + b"\0" * 1024)
    text, rss = refuse_in_child(archive, tmp_path / "data")
    assert "sparse.tar: is not a readable tar archive (s is an old GNU sparse file" in text
    assert rss < 100, text


def _pax(records: dict[str, str], kind: bytes = tarfile.XHDTYPE) -> bytes:
    """One pax extended header (its block and data) holding ``records``."""
    data = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body) + 1  # a record's length counts its own digits
        while len(str(length)) + len(body) != length:
            length = len(str(length)) + len(body)
        data += str(length).encode() + body
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = kind
    info.size = len(data)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def _file(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def test_pax_headers_kept_within_bounds(settings: Settings, tmp_path: Path) -> None:
    # As git archive writes: one small global header, kept.
    git = tmp_path / "git.tar"
    git.write_bytes(
        _pax({"comment": "a" * 40}, tarfile.XGLTYPE) + _file("app.conf", b"x\n") + b"\0" * 1024
    )
    assert [f.path for f in create_bundle(settings, "git", "files", [git], "/srv").files] == [
        "app.conf"
    ]
    # Global headers of more than 4 KiB in all: tarfile copies them into every later member.
    many = tmp_path / "global.tar"
    many.write_bytes(
        b"".join(_pax({f"k{n}.{m}": "v" for m in range(150)}, tarfile.XGLTYPE) for n in range(3))
        + _file("app.conf", b"x\n")
        + b"\0" * 1024
    )
    listed = refused(settings, [many], "/srv")
    assert any("global extended headers of more than 4,096 bytes" in x for x in listed), listed


def test_many_members_with_large_pax_headers_stay_in_little_memory(tmp_path: Path) -> None:
    # 900 members, each after 60 KiB of pax records: a stream that kept every member (as
    # tarfile does) would keep 4 million records.
    records = {f"k{n:06}": "" for n in range(5000)}
    header = _pax(records)
    archive = tmp_path / "pax.tar.gz"
    body = b"".join(header + _file(f"d/{n}", b"") for n in range(900)) + b"\0" * 1024
    archive.write_bytes(gzip.compress(body, compresslevel=1))
    # The size limit is what this is about: under load the 10 s read budget was spent first
    # (another refusal, of no interest here), so the child gets a budget no machine reaches.
    text, rss = refuse_in_child(archive, tmp_path / "data", seconds=600)
    assert "pax.tar.gz: needs more than 32 MiB of content" in text
    assert "STORED" not in text
    assert rss < 100, text
    stored = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert not [p for p in stored if "bundles" in p.parts], stored


def test_deep_paths_and_long_link_chains(settings: Settings, tmp_path: Path) -> None:
    # Paths of 2000 components and links of 1500 that lead to each other: each walk stays
    # linear in the path's length (a quadratic one took minutes here).
    deep = "/".join(["a"] * 2000)
    members = [T(f"{deep}/f{n}", data=b"x") for n in range(10)]
    for n in range(10):
        first = f"l{n + 1}" if n < 9 else "x"
        members.append(T(f"l{n}", "sym", link="/".join([first, *["a", ".."] * 780])))
    archive = make_tar(tmp_path / "deep.tar", members)
    bundle = create_bundle(settings, "deep", "files", [archive], "/srv")
    assert len(bundle.files) == 20
    assert len(bundle_entries([bundle], {}, 0)) == 20
