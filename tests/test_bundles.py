"""File bundles: the rules, the store and the command line, on real files, archives and
certificates (made by ``cryptography``, archived by ``tarfile``/``zipfile``).

Every rule is broken on purpose; a refused bundle must leave the store byte for byte as it was
and list every violation at once.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from couturier.assembly.bundles import file_content
from couturier.cli.main import main
from couturier.core.bundle import MAX_FILE_SIZE, BundleError, parse_ref
from couturier.errors import InputError, IntegrityError, NotFoundError
from couturier.integrity import Partial
from couturier.services.bundles import (
    bundle_versions,
    check_bundle_refs,
    create_bundle,
    get_bundle,
    list_bundles,
    store_root,
    sweep_staging,
)
from couturier.settings import Settings, load_settings
from tests.certs import NOW, Issued, key_der, key_pem, make_certificate, pkcs12_store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    return load_settings(None, env)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_certificate("Corp Root CA")


@pytest.fixture(scope="module")
def ca2() -> Issued:
    return make_certificate("Corp Issuing CA")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` with its content (files), target (links) or "dir"."""
    if not root.exists():
        return {}
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = path.read_bytes()
    return found


# Archive builders


@dataclass(frozen=True)
class T:
    """A tar member: a file (``data``), ``dir``, ``sym``/``hard`` (``link``), ``chr``, ``fifo``."""

    name: str
    kind: str = "file"
    data: bytes = b""
    link: str = ""
    mode: int = 0o644


def make_tar(path: Path, members: list[T]) -> Path:
    kinds = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "sym": tarfile.SYMTYPE,
        "hard": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = kinds[member.kind]
            info.mode = member.mode
            info.linkname = member.link
            info.size = len(member.data) if member.kind == "file" else 0
            tar.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
    return path


def make_zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    """(name, data, st_mode) per member; st_mode 0 writes no Unix attributes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            if mode:
                info.create_system = 3
                info.external_attr = mode << 16
            else:
                info.create_system = 0
            archive.writestr(info, data)
    return path


# Good bundles, versions and references


def test_certificates_bundle_versions_and_refs(
    settings: Settings, tmp_path: Path, ca: Issued, ca2: Issued
) -> None:
    pem = tmp_path / "corp-root.pem"
    # Text around the blocks and CRLF line ends: kept out, the certificates come back clean.
    text = b"subject=CN = Corp Root CA\r\n" + ca.pem.replace(b"\n", b"\r\n") + b"trailer\n"
    pem.write_bytes(text + ca2.pem)
    first = create_bundle(settings, "corp-ca", "certificates", [pem], now=NOW)
    assert (first.name, first.version, first.kind, first.target) == (
        "corp-ca",
        1,
        "certificates",
        None,
    )
    assert first.warnings == ()
    [file] = first.files
    assert (file.path, file.mode, file.size) == ("corp-root.crt", 0o644, len(ca.pem + ca2.pem))
    assert file_content(file) == ca.pem + ca2.pem
    assert first.image_path(file) == "usr/local/share/ca-certificates/corp-ca/corp-root.crt"

    second = create_bundle(settings, "corp-ca", "certificates", [pem], now=NOW)
    assert second.version == 2
    assert second.digest == first.digest  # same content: same cache key, whatever the version
    assert get_bundle(settings, "corp-ca").version == 2
    assert get_bundle(settings, "corp-ca@1") == first
    assert [b.ref for b in list_bundles(settings)] == ["corp-ca@1", "corp-ca@2"]

    record = json.loads((store_root(settings) / "corp-ca" / "1" / "bundle.json").read_text())
    assert record["type"] == "certificates" and record["version"] == 1
    assert record["created"] == "2030-01-02T03:04:05Z"
    assert record["files"] == [
        {"path": "corp-root.crt", "size": file.size, "sha256": file.sha256, "mode": "0644"}
    ]
    assert (store_root(settings) / "corp-ca" / "1" / "files" / file.sha256).is_file()

    with pytest.raises(NotFoundError, match="no version 3") as missing:
        get_bundle(settings, "corp-ca@3")
    assert "1, 2" in str(missing.value)
    with pytest.raises(NotFoundError, match="no bundle other") as unknown:
        get_bundle(settings, "other")
    assert "corp-ca" in str(unknown.value)
    with pytest.raises(InputError):
        get_bundle(settings, "Corp CA")
    assert check_bundle_refs(settings, ["corp-ca", "corp-ca@2"]) == []
    problems = dict(check_bundle_refs(settings, ["corp-ca@9", "nope", "Bad_Ref", "corp-ca@1"]))
    assert set(problems) == {"corp-ca@9", "nope", "Bad_Ref"}
    assert "versions: 1, 2" in problems["corp-ca@9"]
    assert "known bundles: corp-ca" in problems["nope"]
    assert "not a bundle reference" in problems["Bad_Ref"]


def test_parse_ref() -> None:
    assert parse_ref("corp-ca") == ("corp-ca", None)
    assert parse_ref("corp-ca2@12") == ("corp-ca2", 12)
    for bad in ("corp-ca@0", "corp-ca@", "-x", "a", "Corp", "x@1@2", "x1@1" + "0" * 5000):
        with pytest.raises(InputError):
            parse_ref(bad)


def test_leaf_and_expired_certificates_are_accepted_with_warnings(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    leaf = make_certificate("server.internal", ca=False, issuer=ca)
    bare = make_certificate("old v1-style root", ca=None)
    expired = make_certificate(
        "Expired Root", not_before=NOW.replace(year=2020), not_after=NOW.replace(year=2029)
    )
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "leaf.crt").write_bytes(leaf.pem)
    (tmp_path / "certs" / "bare.cer").write_bytes(bare.pem)
    (tmp_path / "certs" / "expired.pem").write_bytes(expired.pem)
    bundle = create_bundle(settings, "mixed", "certificates", [tmp_path / "certs"], now=NOW)
    assert [f.path for f in bundle.files] == ["bare.crt", "expired.crt", "leaf.crt"]
    text = "\n".join(bundle.warnings)
    assert "certs:leaf.crt certificate 1 (CN=server.internal) is not a CA" in text
    assert "CN=old v1-style root) is not a CA" in text
    assert "CN=Expired Root) expired on 2029-" in text
    assert len(bundle.warnings) == 3
    assert get_bundle(settings, "mixed").warnings == bundle.warnings


def test_files_bundle_from_directory_tar_and_zip(settings: Settings, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "conf.d").mkdir(parents=True)
    (conf / "app.conf").write_text("listen 8080\n")
    (conf / "app.conf").chmod(0o640)
    (conf / "conf.d" / "run.sh").write_text("#!/bin/sh\n")
    (conf / "conf.d" / "run.sh").chmod(0o4755)  # setuid: dropped, with a warning
    (conf / "current.conf").symlink_to("app.conf")  # stays inside the target: kept
    archive = make_tar(
        tmp_path / "extra.tar.gz",
        [
            T("./extra/", "dir", mode=0o755),
            T("./extra/a.txt", data=b"a\n", mode=0o600),
            T("./extra/b.txt", "hard", link="./extra/a.txt", mode=0o600),  # becomes a copy
        ],
    )
    zipped = make_zip(
        tmp_path / "more.zip",
        [("zip/x.ini", b"x=1\n", stat.S_IFREG | 0o755), ("zip/win.txt", b"w\n", 0)],
    )
    bundle = create_bundle(
        settings, "app-conf", "files", [conf, archive, zipped], target="/etc/app", now=NOW
    )
    files = {f.path: f for f in bundle.files}
    assert sorted(files) == [
        "app.conf",
        "conf.d/run.sh",
        "current.conf",
        "extra/a.txt",
        "extra/b.txt",
        "zip/win.txt",
        "zip/x.ini",
    ]
    assert files["app.conf"].mode == 0o640
    assert files["conf.d/run.sh"].mode == 0o755
    assert files["current.conf"].link == "app.conf" and files["current.conf"].size == 0
    assert file_content(files["extra/b.txt"]) == b"a\n" and files["extra/b.txt"].mode == 0o600
    assert files["zip/x.ini"].mode == 0o755 and files["zip/win.txt"].mode == 0o644
    assert bundle.image_path(files["zip/x.ini"]) == "etc/app/zip/x.ini"
    assert any("setuid" in w and "run.sh" in w for w in bundle.warnings)
    # Files of one content are stored once; links have none.
    assert len(list((store_root(settings) / "app-conf" / "1" / "files").iterdir())) == 5


def test_files_bundle_at_the_root(settings: Settings, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "root.tar", [T("etc/motd", data=b"hello\n")])
    bundle = create_bundle(settings, "motd", "files", [archive], target="/", now=NOW)
    assert [bundle.image_path(f) for f in bundle.files] == ["etc/motd"]


def test_concurrent_creates_get_distinct_versions(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    pem = tmp_path / "root.pem"
    pem.write_bytes(ca.pem)
    versions: list[int] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            versions.append(create_bundle(settings, "corp-ca", "certificates", [pem]).version)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions) == list(range(1, 9))
    left = sorted(p.name for p in (store_root(settings) / "corp-ca").iterdir())
    assert left == [".lock", *sorted(str(v) for v in range(1, 9))]


# Refused bundles: nothing stored, every violation listed


@dataclass(frozen=True)
class Bad:
    """A refused bundle: its kind and target, a maker of its inputs in a directory, and the
    texts its violations must contain (one per violation, in any order)."""

    kind: str
    target: str | None
    inputs: Callable[[Path, Issued], list[Path]]
    expected: tuple[str, ...]
    name: str = "corp-ca"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _many(directory: Path, ca: Issued, count: int) -> list[Path]:
    (directory / "many").mkdir()
    for n in range(count):
        (directory / "many" / f"c{n:02}.pem").write_bytes(ca.pem)
    return [directory / "many"]


def _fifo_dir(directory: Path, ca: Issued) -> list[Path]:
    (directory / "d").mkdir()
    (directory / "d" / "ok.conf").write_text("ok\n")
    os.mkfifo(directory / "d" / "pipe")
    return [directory / "d"]


def _encrypted_zip(path: Path) -> Path:
    """A zip whose member is marked encrypted (zipfile cannot encrypt; the flag is what a
    reader meets first), set in both the local and the central header."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("secret.conf", b"x\n")
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x1
    path.write_bytes(bytes(data))
    return path


def _escaping_dir(directory: Path, ca: Issued) -> list[Path]:
    (directory / "d" / "sub").mkdir(parents=True)
    (directory / "d" / "sub" / "shadow").symlink_to("/etc/shadow")
    (directory / "d" / "sub" / "up").symlink_to("../../outside")
    (directory / "d" / "sub" / "fine").symlink_to("../sub/shadow")
    return [directory / "d"]


BAD: dict[str, Bad] = {
    "tar-traversal": Bad(
        "certificates",
        None,
        lambda d, ca: [
            make_tar(d / "c.tar", [T("ok.pem", data=ca.pem), T("../up.pem", data=ca.pem)])
        ],
        ("c.tar:../up.pem: climbs out with '..'",),
    ),
    "zip-traversal": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [make_zip(d / "c.zip", [("a/../../etc/cron.d/x", b"* * * * * root x\n", 0)])],
        ("c.zip:a/../../etc/cron.d/x: climbs out with '..'",),
    ),
    "tar-absolute": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            make_tar(d / "c.tar.gz", [T("/etc/passwd", data=b"root::0:0::/:/bin/sh\n")])
        ],
        ("c.tar.gz:/etc/passwd: has an absolute path",),
    ),
    "zip-absolute": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [make_zip(d / "c.zip", [("/etc/passwd", b"x\n", stat.S_IFREG | 0o644)])],
        ("c.zip:/etc/passwd: has an absolute path",),
    ),
    "tar-symlink-escaping": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            make_tar(
                d / "c.tar",
                [T("conf", "sym", link="../../etc/shadow"), T("abs", "sym", link="/etc/shadow")],
            )
        ],
        (
            "c.tar:conf: is a link to '../../etc/shadow', out of the target /etc/app",
            "c.tar:abs: is a link to '/etc/shadow', out of the target /etc/app",
        ),
    ),
    "zip-symlink-escaping": Bad(
        "files",
        "/srv",
        lambda d, ca: [
            make_zip(d / "c.zip", [("key", b"/root/.ssh/id_rsa", stat.S_IFLNK | 0o777)])
        ],
        ("c.zip:key: is a link to '/root/.ssh/id_rsa', out of the target /srv",),
    ),
    "directory-symlink-escaping": Bad(
        "files",
        "/etc/app",
        _escaping_dir,
        (
            "d:sub/shadow: is a link to '/etc/shadow', out of the target",
            "d:sub/up: is a link to '../../outside', out of the target",
        ),
    ),
    "symlink-in-certificates": Bad(
        "certificates",
        None,
        lambda d, ca: [make_tar(d / "c.tar", [T("ca.pem", "sym", link="other.pem")])],
        ("c.tar:ca.pem: is a symbolic link; a certificates bundle holds PEM files only",),
    ),
    "tar-hardlink-out": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            make_tar(
                d / "c.tar",
                [T("shadow", "hard", link="/etc/shadow"), T("up", "hard", link="../x")],
            )
        ],
        (
            "c.tar:shadow: is a hard link to '/etc/shadow', which is not a file of the same input",
            "c.tar:up: is a hard link to '../x', which is not a file of the same input",
        ),
    ),
    "tar-device-and-fifo": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            make_tar(d / "c.tar", [T("dev/null", "chr", mode=0o666), T("pipe", "fifo")])
        ],
        (
            "c.tar:dev/null: is a character device; a bundle holds regular files only",
            "c.tar:pipe: is a FIFO; a bundle holds regular files only",
        ),
    ),
    "directory-fifo": Bad(
        "files", "/etc/app", _fifo_dir, ("d:pipe: is a FIFO; a bundle holds regular files only",)
    ),
    "private-key-in-pem": Bad(
        "certificates",
        None,
        lambda d, ca: [_write(d / "server.pem", ca.pem + key_pem(ca))],
        ("server.pem: holds a private key; bundles are built into images",),
    ),
    "encrypted-key-in-files": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [_write(d / "tls.key", key_pem(ca, b"secret"))],
        ("tls.key: holds a private key",),
    ),
    "der-key-in-files": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [_write(d / "tls.der", key_der(ca))],
        ("tls.der: holds a DER private key",),
    ),
    "pkcs12-in-files": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [_write(d / "server.p12", pkcs12_store(ca, b"secret"))],
        ("server.p12: holds a PKCS#12 key store",),
    ),
    "encrypted-zip-member": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [_encrypted_zip(d / "c.zip")],
        ("c.zip:secret.conf: could not be read (it is encrypted; add it without a password)",),
    ),
    "not-a-certificate": Bad(
        "certificates",
        None,
        lambda d, ca: [
            _write(d / "readme.pem", b"just text\n"),
            _write(d / "root.der", ca.der),
            _write(
                d / "pub.pem",
                b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
            ),
            _write(
                d / "broken.pem",
                b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0=\n"
                b"-----END CERTIFICATE-----\n",
            ),
        ],
        (
            "readme.pem: holds no PEM certificate",
            "root.der: is DER, not PEM; convert it with openssl x509 -inform der",
            "pub.pem: block 1 is PUBLIC KEY; a certificates bundle holds only CERTIFICATE blocks",
            "broken.pem: block 1 is not a valid X.509 certificate",
        ),
    ),
    "21-files": Bad(
        "certificates",
        None,
        lambda d, ca: _many(d, ca, 20),  # and the good file: 21
        ("inputs 21: a bundle holds at most 20 files",),
    ),
    "file-too-large": Bad(
        "files",
        "/srv/data",
        lambda d, ca: [_write(d / "big.bin", b"x" * (MAX_FILE_SIZE + 1))],
        ("big.bin: has 1,048,577 bytes; a bundle file holds at most 1,048,576",),
    ),
    "backslash-names": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            make_tar(d / "c.tar", [T("conf\\app.conf", data=b"x\n")]),
            make_zip(d / "c.zip", [("..\\..\\evil.txt", b"x\n", 0)]),
        ],
        (
            "c.tar:conf\\app.conf: has a backslash in its path",
            "c.zip:..\\..\\evil.txt: has a backslash in its path",
        ),
    ),
    "relative-target": Bad(
        "files",
        "etc/app",
        lambda d, ca: [_write(d / "a.conf", b"x\n")],
        ("target 'etc/app': must be absolute",),
    ),
    "target-with-dots-and-backslash": Bad(
        "files",
        "/etc/../root\\x",
        lambda d, ca: [_write(d / "a.conf", b"x\n")],
        ("must not contain backslashes", "must not contain '..'"),
    ),
    "unnormalized-target": Bad(
        "files",
        "/etc//app/",
        lambda d, ca: [_write(d / "a.conf", b"x\n")],
        ("must be normalized, e.g. /etc/app",),
    ),
    "dpkg-database-target": Bad(
        "files",
        "/var/lib",
        lambda d, ca: [make_tar(d / "c.tar", [T("dpkg/status", data=b"")])],
        ("c.tar:dpkg/status: would land in /var/lib/dpkg",),
    ),
    "files-without-target": Bad(
        "files",
        None,
        lambda d, ca: [_write(d / "a.conf", b"x\n")],
        ("target: a files bundle needs an absolute target directory",),
    ),
    "certificates-with-target": Bad(
        "certificates",
        "/etc/ssl",
        lambda d, ca: [_write(d / "ca.pem", ca.pem)],
        ("target '/etc/ssl': certificates always land in /usr/local/share/ca-certificates",),
    ),
    "bad-name": Bad(
        "certificates",
        None,
        lambda d, ca: [_write(d / "ca.pem", ca.pem)],
        ("name 'Corp_CA': must be 2-40 characters",),
        name="Corp_CA",
    ),
    "unknown-type": Bad(
        "keys", None, lambda d, ca: [_write(d / "ca.pem", ca.pem)], ("type 'keys': must be one of",)
    ),
    "missing-and-corrupt-inputs": Bad(
        "files",
        "/etc/app",
        lambda d, ca: [
            d / "nowhere.conf",
            _write(d / "bad.tar.gz", b"\x1f\x8b not really gzip"),
            _write(d / "bad.zip", b"PK not really zip"),
        ],
        (
            "nowhere.conf: cannot be read (No such file or directory)",
            "bad.tar.gz: is not a readable tar archive",
            "bad.zip: is not a readable zip archive",
        ),
    ),
    "duplicate-paths": Bad(
        "certificates",
        None,
        lambda d, ca: [_write(d / "root.pem", ca.pem), _write(d / "root.crt", ca.pem)],
        ("root.crt: lands at root.crt, as root.pem does; rename one",),
    ),
}


@pytest.fixture
def store_with_a_bundle(settings: Settings, tmp_path: Path, ca: Issued) -> Settings:
    """A store already holding corp-ca@1, which a refused create must leave as it is."""
    create_bundle(settings, "corp-ca", "certificates", [_write(tmp_path / "ok.pem", ca.pem)])
    return settings


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_bundle_is_refused_whole(
    case: str,
    store_with_a_bundle: Settings,
    tmp_path: Path,
    ca: Issued,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = BAD[case]
    settings = store_with_a_bundle
    inputs_dir = tmp_path / "inputs"
    inputs_dir.mkdir()
    monkeypatch.chdir(inputs_dir)  # inputs are named relative, as a user types them
    inputs = [p.relative_to(inputs_dir) for p in bad.inputs(inputs_dir, ca)]
    # A good file next to the bad ones: it must not be stored either.
    if bad.kind == "certificates":
        good = _write(inputs_dir / "good.pem", ca.pem)
    else:
        good = _write(inputs_dir / "good.txt", b"fine\n")
    before = snapshot(settings.data_dir)
    with pytest.raises(BundleError) as refused:
        create_bundle(
            settings, bad.name, bad.kind, [*inputs, good.relative_to(inputs_dir)], bad.target
        )
    assert snapshot(settings.data_dir) == before
    listed = [str(v) for v in refused.value.violations]
    assert len(listed) == len(bad.expected), listed
    for text in bad.expected:
        assert any(text in line for line in listed), (text, listed)
    assert "nothing was stored" in str(refused.value)
    assert get_bundle(settings, "corp-ca").version == 1


def test_many_mistakes_are_reported_together(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    archive = make_tar(
        tmp_path / "c.tar",
        [
            T("../escape.conf", data=b"x"),
            T("/abs.conf", data=b"x"),
            T("link", "sym", link="/etc/shadow"),
            T("hard", "hard", link="../../x"),
            T("dev", "chr"),
            T("key.pem", data=key_pem(ca)),
        ],
    )
    big = _write(tmp_path / "big.bin", b"\0" * (MAX_FILE_SIZE + 1))
    with pytest.raises(BundleError) as refused:
        create_bundle(settings, "Bad Name", "files", [archive, big, tmp_path / "nope"], "app")
    text = str(refused.value)
    assert len(refused.value.violations) == 10, refused.value.violations
    for expected in (
        "name 'Bad Name'",
        "target 'app'",
        "c.tar:../escape.conf",
        "c.tar:/abs.conf",
        "c.tar:link",
        "c.tar:hard",
        "c.tar:dev",
        "c.tar:key.pem: holds a private key",
        "big.bin: has 1,048,577 bytes",
        "nope: cannot be read",
    ):
        assert expected in text
    assert not settings.data_dir.exists()


def test_damaged_store_files_are_noticed(settings: Settings, tmp_path: Path, ca: Issued) -> None:
    bundle = create_bundle(
        settings, "corp-ca", "certificates", [_write(tmp_path / "a.pem", ca.pem)]
    )
    [file] = bundle.files
    assert file.source is not None
    file.source.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="changed in the store"):
        file_content(file)
    (store_root(settings) / "corp-ca" / "1" / "bundle.json").write_text("{")
    with pytest.raises(IntegrityError, match="damaged"):
        get_bundle(settings, "corp-ca")


def test_get_bundle_verifies_every_file_each_time(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    bundle = create_bundle(
        settings, "corp-ca", "certificates", [_write(tmp_path / "cert.pem", ca.pem)]
    )
    [file] = bundle.files
    assert file.source is not None
    file.source.write_bytes(file.source.read_bytes()[:-1] + b"X")  # same size
    with pytest.raises(IntegrityError) as damaged:
        get_bundle(settings, "corp-ca@1")
    assert damaged.value.message.startswith("bundle corp-ca@1: file cert.crt changed in the store")
    assert "create the bundle again" in damaged.value.hint
    assert check_bundle_refs(settings, ["corp-ca"]) == [("corp-ca", str(damaged.value))]


def test_bundle_versions_lists_past_a_damaged_version(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    pem = _write(tmp_path / "a.pem", ca.pem)
    for _ in range(3):
        create_bundle(settings, "corp-ca", "certificates", [pem])
    store = store_root(settings) / "corp-ca"
    (store / "1" / "bundle.json").write_text("{")
    next((store / "2" / "files").iterdir()).write_bytes(b"tampered")
    (store / "4").mkdir()  # a version directory without its record
    listed = {v.ref: v.problem for v in bundle_versions(settings)}
    assert list(listed) == ["corp-ca@1", "corp-ca@2", "corp-ca@3", "corp-ca@4"]
    assert "corp-ca@1 is damaged in the store" in listed["corp-ca@1"]
    assert "file a.crt changed in the store" in listed["corp-ca@2"]
    assert listed["corp-ca@3"] == ""
    assert "has no bundle.json" in listed["corp-ca@4"]
    assert [b.ref for b in list_bundles(settings)] == ["corp-ca@3"]
    assert create_bundle(settings, "corp-ca", "certificates", [pem]).version == 5


def test_a_killed_creates_staging_directory_is_swept_a_running_ones_kept(
    settings: Settings, tmp_path: Path, ca: Issued
) -> None:
    pem = _write(tmp_path / "a.pem", ca.pem)
    create_bundle(settings, "corp-ca", "certificates", [pem])
    store = store_root(settings) / "corp-ca"
    killed = store / ".staging-killed"
    (killed / "files").mkdir(parents=True)
    running = Partial.directory(store, ".staging-")
    try:
        create_bundle(settings, "corp-ca", "certificates", [pem])
        assert not killed.exists() and running.path.is_dir()
        (store / ".staging-again").mkdir()
        assert sweep_staging(settings) == [store / ".staging-again"]
        assert running.path.is_dir()
    finally:
        running.remove()
    assert [v.ref for v in bundle_versions(settings)] == ["corp-ca@1", "corp-ca@2"]


# The command line


def test_cli_create_and_list(
    tmp_path: Path,
    ca: Issued,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    pem = _write(tmp_path / "root.pem", ca.pem)
    assert main(["-q", "bundle", "create", "corp-ca", "--type", "certificates", str(pem)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("corp-ca@1: certificates, 1 file")
    assert "/usr/local/share/ca-certificates/corp-ca/root.crt" in out

    conf = _write(tmp_path / "app.conf", b"x=1\n")
    command = ["bundle", "create", "app", "--type", "files", "--target", "/etc/app", str(conf)]
    assert main(["-q", *command]) == 0
    assert "/etc/app/app.conf" in capsys.readouterr().out

    assert main(["-q", "bundle", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["bundles"]
    assert [(b["name"], b["version"], b["type"], b["target"]) for b in listed] == [
        ("app", 1, "files", "/etc/app"),
        ("corp-ca", 1, "certificates", None),
    ]
    assert listed[1]["files"][0]["path"] == "root.crt"
    assert main(["-q", "bundle", "list"]) == 0
    table = capsys.readouterr().out
    assert "corp-ca@1" in table and "app@1" in table

    key = _write(tmp_path / "key.pem", key_pem(ca))
    bad = ["bundle", "create", "corp-ca", "--type", "certificates", "--target", "/x", str(key)]
    assert main(["-q", *bad]) == 1
    err = capsys.readouterr().err
    assert "bundle corp-ca refused (2 problems; nothing was stored)" in err
    assert "\n  --target '/x': certificates always land" in err
    assert f"\n  {key}: holds a private key" in err
    assert get_bundle(load_settings(None), "corp-ca").version == 1
