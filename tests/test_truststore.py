"""The native Java trust store: read back by a real ``keytool`` and by an independent parser.

``keytool`` comes from a JRE (``./run-tests`` installs ``default-jre-headless``); the parser
below follows the JKS layout of OpenJDK's ``JavaKeyStore.engineLoad`` on its own, digest
included.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from couturier.assembly.generated import JAVA_TRUSTSTORE, has_java, java_truststore, system_files
from couturier.assembly.truststore import jks_truststore, modified_utf8
from couturier.core.entries import Entry, EntryType
from tests.certs import Issued, make_certificate

EPOCH = 1_700_000_000


@dataclass(frozen=True)
class JksEntry:
    alias: str
    timestamp: int
    kind: str
    der: bytes


def _read_utf(data: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">H", data, at)
    raw = data[at + 2 : at + 2 + length]
    # Modified UTF-8: decode 1-, 2- and 3-byte forms to UTF-16 units, then to text.
    units: list[int] = []
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte < 0x80:
            units.append(byte)
            i += 1
        elif byte >> 5 == 0b110:
            units.append((byte & 0x1F) << 6 | raw[i + 1] & 0x3F)
            i += 2
        else:
            units.append((byte & 0x0F) << 12 | (raw[i + 1] & 0x3F) << 6 | raw[i + 2] & 0x3F)
            i += 3
    text = struct.pack(f">{len(units)}H", *units).decode("utf-16-be")
    return text, at + 2 + length


def parse_jks(data: bytes, password: str = "changeit") -> list[JksEntry]:
    """Every trusted-certificate entry of a JKS store, after checking its keyed SHA-1."""
    magic, version, count = struct.unpack_from(">III", data, 0)
    assert magic == 0xFEEDFEED and version == 2
    at = 12
    entries = []
    for _ in range(count):
        (tag,) = struct.unpack_from(">I", data, at)
        assert tag == 2, "only trusted certificates are expected"
        alias, at = _read_utf(data, at + 4)
        (timestamp,) = struct.unpack_from(">q", data, at)
        kind, at = _read_utf(data, at + 8)
        (length,) = struct.unpack_from(">I", data, at)
        der = data[at + 4 : at + 4 + length]
        at += 4 + length
        entries.append(JksEntry(alias, timestamp, kind, der))
    keyed = b"".join(bytes([ord(c) >> 8, ord(c) & 0xFF]) for c in password)
    expected = hashlib.sha1(keyed + b"Mighty Aphrodite" + data[:at]).digest()
    assert data[at:] == expected, "integrity digest does not match"
    return entries


@pytest.fixture(scope="module")
def cas() -> list[Issued]:
    return [make_certificate(f"Test Root {n}") for n in range(3)]


@pytest.fixture(scope="module")
def keytool() -> str:
    path = shutil.which("keytool")
    if path is None:
        pytest.fail("keytool is not installed: ./run-tests installs default-jre-headless")
    return path


def test_store_parses_with_its_digest_sorted_and_dated(cas: list[Issued]) -> None:
    pairs = [("debian:zeta.pem", cas[0].der), ("Debian:Alpha.pem", cas[1].der)]
    store = jks_truststore(pairs, EPOCH * 1000)
    entries = parse_jks(store)
    assert [e.alias for e in entries] == ["debian:alpha.pem", "debian:zeta.pem"]
    assert {e.alias: e.der for e in entries} == {
        "debian:alpha.pem": cas[1].der,
        "debian:zeta.pem": cas[0].der,
    }
    assert all(e.timestamp == EPOCH * 1000 and e.kind == "X.509" for e in entries)
    # Same certificates in another order: the same bytes.
    assert jks_truststore(list(reversed(pairs)), EPOCH * 1000) == store
    with pytest.raises(AssertionError, match="digest"):
        parse_jks(store, password="changeme")


def test_duplicate_alias_is_refused(cas: list[Issued]) -> None:
    with pytest.raises(ValueError, match="twice"):
        jks_truststore([("a", cas[0].der), ("A", cas[1].der)], 0)


def test_modified_utf8_matches_java_for_nul_and_astral_characters() -> None:
    assert modified_utf8("ab") == b"\x00\x02ab"
    assert modified_utf8("\0") == b"\x00\x02\xc0\x80"
    # U+1F512 is a surrogate pair, each half three bytes (Java's writeUTF, not UTF-8's four).
    assert modified_utf8("\U0001f512") == b"\x00\x06\xed\xa0\xbd\xed\xb4\x92"
    assert _read_utf(modified_utf8("é\U0001f512x"), 0) == ("é\U0001f512x", 11)


def _keytool_list(
    keytool: str, store: Path, password: str = "changeit"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [keytool, "-list", "-v", "-keystore", str(store), "-storepass", password],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_keytool_reads_the_store(tmp_path: Path, cas: list[Issued], keytool: str) -> None:
    store = tmp_path / "cacerts"
    pairs = [(f"debian:root-{n}.pem", ca.der) for n, ca in enumerate(cas)]
    store.write_bytes(jks_truststore(pairs, EPOCH * 1000))
    listed = _keytool_list(keytool, store)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Your keystore contains 3 entries" in listed.stdout
    for n in range(3):
        assert f"Alias name: debian:root-{n}.pem" in listed.stdout
        assert f"CN=Test Root {n}" in listed.stdout
    assert listed.stdout.count("Entry type: trustedCertEntry") == 3
    # The password keys the digest: keytool refuses the store with another one.
    wrong = _keytool_list(keytool, store, "changeme")
    assert wrong.returncode != 0
    assert "password was incorrect" in (wrong.stdout + wrong.stderr)


def _tree(*entries: Entry) -> dict[str, Entry]:
    return {e.path: e for e in entries}


def _cert_file(path: str, issued: Issued, owner: str = "ca-certificates") -> Entry:
    return Entry(path, EntryType.FILE, 0o644, data=issued.pem, owner=owner)


def test_generated_store_holds_system_and_local_certificates(cas: list[Issued]) -> None:
    both = cas[1].pem + cas[2].pem
    tree = _tree(
        _cert_file("usr/share/ca-certificates/mozilla/Root_(One).crt", cas[0]),
        Entry("usr/local/share/ca-certificates/corp/root.crt", EntryType.FILE, data=both),
        Entry(
            "usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts",
            EntryType.SYMLINK,
            0o777,
            target="/etc/ssl/certs/java/cacerts",
            owner="openjdk-17-jre-headless",
        ),
    )
    assert has_java(tree)
    entries = java_truststore(tree, EPOCH)
    assert [e.path for e in entries] == [JAVA_TRUSTSTORE]
    parsed = parse_jks(entries[0].data)
    assert {e.alias: e.der for e in parsed} == {
        "debian:root_=one=.pem": cas[0].der,
        "debian:root.pem": cas[1].der,
        "debian:root-2.pem": cas[2].der,
    }
    assert {e.timestamp for e in parsed} == {EPOCH * 1000}
    # system_files includes it (dated by its epoch) next to the CA bundle.
    generated = {e.path: e for e in system_files(tree, "amd64", epoch=EPOCH)}
    assert generated[JAVA_TRUSTSTORE].data == entries[0].data
    assert generated["etc/ssl/certs/ca-certificates.crt"].data == cas[0].pem + both


def test_store_follows_other_jre_links_and_never_replaces_a_shipped_file(
    cas: list[Issued],
) -> None:
    tree = _tree(
        _cert_file("usr/share/ca-certificates/mozilla/A.crt", cas[0]),
        Entry(
            "usr/lib/jvm/other/lib/security/cacerts",
            EntryType.SYMLINK,
            0o777,
            target="../../../../../../etc/pki/java/cacerts",
        ),
    )
    assert [e.path for e in java_truststore(tree, EPOCH)] == [
        "etc/pki/java/cacerts",
        JAVA_TRUSTSTORE,
    ]
    shipped = Entry(JAVA_TRUSTSTORE, EntryType.FILE, data=b"vendor", owner="vendor-jre")
    vendor = _tree(_cert_file("usr/share/ca-certificates/mozilla/A.crt", cas[0]), shipped)
    assert java_truststore(vendor, EPOCH) == []


@pytest.mark.parametrize(
    "marker",
    [
        Entry("etc/ssl/certs/java", EntryType.DIRECTORY, 0o755, owner="ca-certificates-java"),
        Entry("usr/share/ca-certificates-java/x.jar", EntryType.FILE, owner="ca-certificates-java"),
        Entry("usr/lib/jvm/j/lib/security/cacerts", EntryType.SYMLINK, target="/x/cacerts"),
    ],
    ids=["etc-ssl-certs-java", "ca-certificates-java", "jre-cacerts"],
)
def test_java_is_detected_by_each_sign(marker: Entry, cas: list[Issued]) -> None:
    plain = _tree(_cert_file("usr/share/ca-certificates/mozilla/A.crt", cas[0]))
    assert not has_java(plain)
    assert java_truststore(plain, EPOCH) == []
    assert not any(e.path == JAVA_TRUSTSTORE for e in system_files(plain, "amd64"))
    with_java = {**plain, marker.path: marker}
    assert has_java(with_java)
    stores = java_truststore(with_java, EPOCH)
    assert JAVA_TRUSTSTORE in [e.path for e in stores]
    assert [e.alias for e in parse_jks(stores[-1].data)] == ["debian:a.pem"]
