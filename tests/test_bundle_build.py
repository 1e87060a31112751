"""File bundles in a build, on a fixture repository of real, signed ``.deb`` files (no network).

The fixture starter ships a stand-in ``ca-certificates`` (one real root certificate) and the
line's ``tool``; ``fake-jre`` is a JRE whose ``lib/security/cacerts`` links to
``/etc/ssl/certs/java/cacerts``, as Debian's ``openjdk-*-jre-headless`` do. The oracles are
OpenSSL (a real TLS handshake through Python's ``ssl`` against the generated CA bundle) and a
real ``keytool`` reading the generated Java trust store.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from couturier.assembly.errors import BuildError
from couturier.assembly.fetch import fetch
from couturier.assembly.image import LineImage, build_line_image
from couturier.assembly.layercache import LayerCache
from couturier.core.bundle import Bundle, BundleFile
from couturier.core.catalog import Package
from couturier.core.entries import Entry, EntryType
from couturier.core.planner import plan_line
from couturier.core.relations import parse_request
from couturier.core.starter import Starter, parse_starter
from couturier.oci.documents import Platform
from couturier.oci.layer import Layer
from couturier.oci.layout import LayoutWriter
from couturier.oci.sink import write_image
from couturier.services import catalog as catalog_service
from couturier.services.bundles import create_bundle
from couturier.settings import Settings, load_settings
from tests.certs import NOW, Issued, key_pem, make_certificate
from tests.conftest import make_settings
from tests.debs import Content, File, Link, build_suites
from tests.fixture_repo import SigningKey, build_repo
from tests.materialize import materialize
from tests.starters import starter_named
from tests.test_truststore import parse_jks

RELEASES = {"oldrel": ["oldrel"]}
DATE = 1_600_000_000  # every package file's date: the default layer date
STARTER_DOC: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny fixture starter with CA certificates",
    "packages": ["base-files", "ca-certificates"],
    "env": {"LANG": "C.UTF-8"},
    "entrypoint": ["/usr/bin/tool"],
    "lines": [{"version": "1", "release": "oldrel", "primary": "tool", "eol": "2031-01-01"}],
}
CA_CERTS = "etc/ssl/certs/ca-certificates.crt"
CACERTS = "etc/ssl/certs/java/cacerts"


@pytest.fixture(scope="module")
def system_root() -> Issued:
    """The one root of the fixture's ca-certificates package (Mozilla's stand-in)."""
    return make_certificate("Fixture System Root")


@pytest.fixture(scope="module")
def corp_ca() -> Issued:
    return make_certificate("Corp Root CA")


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey, system_root: Issued
) -> Path:
    packages: list[tuple[dict[str, str], dict[str, Content]]] = [
        ({"Package": "base-files"}, {"etc/issue": "Tiny fixture\n"}),
        (
            {"Package": "ca-certificates"},
            {
                "usr/share/ca-certificates/mozilla/Fixture_System_Root.crt": system_root.pem,
                "etc/ssl/certs/.keep": "",
            },
        ),
        (
            {"Package": "tool", "Version": "1.4-1"},
            {
                "usr/bin/tool": File(b"#!/bin/sh\necho tool\n", 0o755),
                "usr/lib/tool/plugins/.keep": "",
            },
        ),
        (
            {"Package": "fake-jre", "Depends": "ca-certificates"},
            {
                "usr/lib/jvm/fake-jre/bin/java": File(b"#!/bin/sh\n", 0o755),
                "usr/lib/jvm/fake-jre/lib/security/cacerts": Link("/etc/ssl/certs/java/cacerts"),
            },
        ),
    ]
    root = tmp_path_factory.mktemp("bundle-repo") / "repo"
    suites = build_suites(root / "pool" / "main", {"oldrel": [(c, f, DATE) for c, f in packages]})
    return build_repo(root, suites, key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_bundle_build.py", releases=tuple(RELEASES))


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


class Machine:
    """Settings of one machine (its indexes, download and layer caches) and a counted fetcher."""

    def __init__(self, directory: Path, repo: Path, key: SigningKey) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.settings = make_settings(directory, repo, key.keyring, RELEASES, ("amd64",))
        self.fetched: list[str] = []

    def build(
        self,
        starter: Starter,
        bundles: Sequence[Bundle] = (),
        added: Sequence[str] = (),
        epoch: int | None = None,
    ) -> LineImage:
        catalog = catalog_service.catalog(self.settings, "oldrel", "amd64", lambda m: None)
        plan = plan_line(catalog, starter, starter.lines[0], [parse_request(a) for a in added])

        def fetcher(packages: Sequence[Package]) -> dict[str, Path]:
            self.fetched += [p.name for p in packages]
            return fetch(packages, catalog.url_of, self.settings.cache_dir / "debs")

        return build_line_image(
            plan,
            starter=starter,
            env={},
            fetch=fetcher,
            cache=LayerCache(self.settings.cache_dir / "layers"),
            epoch=epoch,
            bundles=bundles,
        )


@pytest.fixture(scope="module")
def new_machine(repo: Path, signing_key: SigningKey) -> Callable[[Path], Machine]:
    """A fresh machine (own indexes and caches) under a directory."""
    return lambda directory: Machine(directory, repo, signing_key)


def store(directory: Path) -> Settings:
    """Settings whose bundle store lives under ``directory``."""
    data = {"COUTURIER_DATA_DIR": str(directory / "data"), "COUTURIER_CACHE_DIR": str(directory)}
    return load_settings(None, data)


def members(layer: Layer) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    found: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with layer.open() as blob, tarfile.open(fileobj=blob, mode="r:gz") as tar:
        for info in tar.getmembers():
            handle = tar.extractfile(info) if info.isfile() else None
            found[info.name.strip("/")] = (info, handle.read() if handle else b"")
    return found


@pytest.fixture(scope="module")
def bundles(
    tmp_path_factory: pytest.TempPathFactory, corp_ca: Issued
) -> tuple[Settings, Bundle, Bundle]:
    """A store with a certificates bundle and a files bundle (one file lands through /bin)."""
    base = tmp_path_factory.mktemp("bundle-store")
    settings = store(base)
    (base / "ca.pem").write_bytes(corp_ca.pem)
    certs = create_bundle(settings, "corp-ca", "certificates", [base / "ca.pem"], now=NOW)
    conf = base / "conf"
    (conf / "conf.d").mkdir(parents=True)
    (conf / "app.conf").write_text("mode=prod\n")
    (conf / "app.conf").chmod(0o640)
    (conf / "conf.d" / "hook").write_text("#!/bin/sh\n")
    (conf / "conf.d" / "hook").chmod(0o6755)  # setuid and setgid never reach the image
    (conf / "current").symlink_to("app.conf")
    files = create_bundle(settings, "app-conf", "files", [conf], target="/etc/app", now=NOW)
    return settings, certs, files


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    new_machine: Callable[[Path], Machine],
    starter: Starter,
    bundles: tuple[Settings, Bundle, Bundle],
) -> dict[str, LineImage]:
    """The line built with fake-jre added, without and with both bundles, on one machine."""
    machine = new_machine(tmp_path_factory.mktemp("bundle-build"))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        plain = machine.build(starter, added=["fake-jre"])
        bundled = machine.build(starter, bundles[1:], added=["fake-jre"])
    return {"plain": plain, "bundled": bundled}


def test_bundles_get_their_own_layer_and_share_the_others(built: dict[str, LineImage]) -> None:
    plain, bundled = built["plain"].layers, built["bundled"].layers
    assert len(plain) == 3 and len(bundled) == 4
    assert [layer.digest for layer in bundled[:2]] == [layer.digest for layer in plain[:2]]
    assert bundled[3].digest != plain[2].digest
    assert built["bundled"].history[2] == "file bundles: corp-ca@1, app-conf@1"


def test_bundle_layer_places_files_with_modes_and_owners(built: dict[str, LineImage]) -> None:
    layer = members(built["bundled"].layers[2])
    cert_info, cert_data = layer["usr/local/share/ca-certificates/corp-ca/ca.crt"]
    assert cert_info.mode == 0o644 and (cert_info.uid, cert_info.gid) == (0, 0)
    conf_info, conf_data = layer["etc/app/app.conf"]
    assert conf_data == b"mode=prod\n" and conf_info.mode == 0o640
    hook = layer["etc/app/conf.d/hook"][0]
    assert hook.mode == 0o755  # setuid and setgid dropped
    assert (
        layer["etc/app/current"][0].issym() and layer["etc/app/current"][0].linkname == "app.conf"
    )
    # Parents the packages do not have are made; those they have are not repeated.
    assert layer["etc/app"][0].isdir() and layer["etc/app/conf.d"][0].isdir()
    assert "etc" not in layer and "usr/local" in layer
    assert all((info.uid, info.gid) == (0, 0) for info, _ in layer.values())
    assert all(info.mtime == DATE for info, _ in layer.values() if not info.isdir())
    assert set(layer) == {
        "usr/local",
        "usr/local/share",
        "usr/local/share/ca-certificates",
        "usr/local/share/ca-certificates/corp-ca",
        "usr/local/share/ca-certificates/corp-ca/ca.crt",
        "etc/app",
        "etc/app/app.conf",
        "etc/app/conf.d",
        "etc/app/conf.d/hook",
        "etc/app/current",
    }
    assert cert_data.startswith(b"-----BEGIN CERTIFICATE-----")


def test_ca_bundle_ends_with_the_bundle_certificates(
    built: dict[str, LineImage], system_root: Issued, corp_ca: Issued
) -> None:
    generated = members(built["bundled"].layers[3])
    assert generated[CA_CERTS][1] == system_root.pem + corp_ca.pem
    assert members(built["plain"].layers[2])[CA_CERTS][1] == system_root.pem
    link = generated["etc/ssl/certs/ca.pem"][0]
    assert link.issym() and link.linkname == "/usr/local/share/ca-certificates/corp-ca/ca.crt"


def _handshake(cafile: Path, server: Issued, chain: bytes, tmp_path: Path) -> None:
    """A real TLS handshake to a server on localhost presenting ``chain``, trusting ``cafile``."""
    (tmp_path / "server.pem").write_bytes(chain)
    (tmp_path / "server.key").write_bytes(key_pem(server))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    client_context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
                client_context.wrap_socket(raw, server_hostname="app.corp.test") as tls,
            ):
                tls.sendall(b"x")
        finally:
            thread.join(timeout=30)


def test_openssl_trusts_a_server_the_bundle_ca_signed(
    built: dict[str, LineImage], corp_ca: Issued, tmp_path: Path
) -> None:
    server = make_certificate("app.corp.test", ca=False, issuer=corp_ca, dns_name="app.corp.test")
    bundled = tmp_path / "bundled.crt"
    bundled.write_bytes(members(built["bundled"].layers[3])[CA_CERTS][1])
    _handshake(bundled, server, server.pem, tmp_path)
    plain = tmp_path / "plain.crt"
    plain.write_bytes(members(built["plain"].layers[2])[CA_CERTS][1])
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(plain, server, server.pem, tmp_path)


def test_java_trust_store_holds_system_and_bundle_certificates(
    built: dict[str, LineImage], system_root: Issued, corp_ca: Issued, tmp_path: Path
) -> None:
    store = members(built["bundled"].layers[3])[CACERTS][1]
    entries = parse_jks(store)
    assert {e.alias: e.der for e in entries} == {
        "debian:fixture_system_root.pem": system_root.der,
        "debian:ca.pem": corp_ca.der,
    }
    assert {e.timestamp for e in entries} == {DATE * 1000}
    # Without any bundle, the JRE still gets a store: the system roots.
    plain = parse_jks(members(built["plain"].layers[2])[CACERTS][1])
    assert [e.alias for e in plain] == ["debian:fixture_system_root.pem"]

    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.fail("keytool is not installed: ./run-tests installs default-jre-headless")
    (tmp_path / "cacerts").write_bytes(store)
    listed = subprocess.run(
        [keytool, "-list", "-keystore", str(tmp_path / "cacerts"), "-storepass", "changeit"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Your keystore contains 2 entries" in listed.stdout
    assert "debian:ca.pem" in listed.stdout


def test_no_java_no_store(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    image = new_machine(tmp_path).build(starter)
    assert CACERTS not in members(image.layers[-1])


def test_the_image_tree_and_a_warm_rebuild(
    tmp_path: Path,
    new_machine: Callable[[Path], Machine],
    starter: Starter,
    bundles: tuple[Settings, Bundle, Bundle],
    built: dict[str, LineImage],
) -> None:
    machine = new_machine(tmp_path / "m")
    first = machine.build(starter, bundles[1:], added=["fake-jre"])
    # Another machine builds the same bytes.
    assert [layer.digest for layer in first.layers] == [
        layer.digest for layer in built["bundled"].layers
    ]
    assert machine.fetched
    machine.fetched.clear()
    again = machine.build(starter, bundles[1:], added=["fake-jre"])
    assert machine.fetched == []
    assert [layer.digest for layer in again.layers] == [layer.digest for layer in first.layers]

    root = tmp_path / "root"
    root.mkdir()
    entries: dict[str, Entry] = {}
    for layer in first.layers:
        for name, (info, data) in members(layer).items():
            kind = EntryType.DIRECTORY if info.isdir() else EntryType.FILE
            if info.issym():
                kind = EntryType.SYMLINK
            entries[name] = Entry(name, kind, info.mode, data=data, target=info.linkname)
    materialize(entries.values(), root)
    assert (root / "etc/app/current").read_text() == "mode=prod\n"
    assert (root / "usr/lib/jvm/fake-jre/lib/security/cacerts").read_bytes()[
        :4
    ] == b"\xfe\xed\xfe\xed"


def test_a_bundle_file_overrides_a_generated_one(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    settings = store(tmp_path)
    (tmp_path / "nsswitch.conf").write_text("hosts: files\n")
    override = create_bundle(settings, "nss", "files", [tmp_path / "nsswitch.conf"], target="/etc")
    image = new_machine(tmp_path / "m").build(starter, [override])
    assert members(image.layers[-2])["etc/nsswitch.conf"][1] == b"hosts: files\n"
    assert "etc/nsswitch.conf" not in members(image.layers[-1])


def test_files_land_through_the_images_links(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    settings = store(tmp_path)
    (tmp_path / "helper").write_text("#!/bin/sh\n")
    (tmp_path / "helper").chmod(0o755)
    bundle = create_bundle(settings, "helper", "files", [tmp_path / "helper"], target="/bin")
    image = new_machine(tmp_path / "m").build(starter, [bundle])
    layer = members(image.layers[-2])
    assert "usr/bin/helper" in layer and "bin/helper" not in layer
    assert layer["usr/bin/helper"][0].mode == 0o755


@pytest.mark.parametrize(
    "case",
    [
        (("/etc/app", "a.conf"), ("/etc/app", "a.conf"), "both place /etc/app/a.conf"),
        (("/usr/lib", "tool"), None, "/usr/lib/tool, but it is a directory"),
        (("/usr/bin/tool", "x"), None, "/usr/bin/tool is a file in the image"),
        (("/etc", "app"), ("/etc/app", "a.conf"), "/etc/app is a file in the image"),
        (("/etc/app", "a.conf"), ("/etc", "app"), "another bundle places files below it"),
    ],
)
def test_clashing_bundles_fail_the_build(
    tmp_path: Path,
    new_machine: Callable[[Path], Machine],
    starter: Starter,
    case: tuple[tuple[str, str], tuple[str, str] | None, str],
) -> None:
    first, second, expected = case
    settings = store(tmp_path)
    made = []
    for n, spec in enumerate([first, second]):
        if spec is None:
            continue
        target, name = spec
        (tmp_path / f"in{n}").mkdir()
        (tmp_path / f"in{n}" / name).write_text("x\n")
        made.append(
            create_bundle(settings, f"b{n}", "files", [tmp_path / f"in{n}" / name], target=target)
        )
    with pytest.raises(BuildError, match="bundle") as failed:
        new_machine(tmp_path / "m").build(starter, made)
    assert expected in str(failed.value)


def test_links_that_escape_together_never_reach_the_image(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    """A bundle made by hand (as if edited in the store) whose links each stay inside the
    target but together carry a file to /etc/passwd: the build refuses it."""
    passwd = b"root::0:0:root:/root:/bin/sh\n"
    link = hashlib.sha256(b"..").hexdigest()
    crafted = Bundle(
        "app",
        1,
        "files",
        "/etc/myapp",
        (
            BundleFile("a/s", link, 0o777, 0, link=".."),
            BundleFile("a/s/y", link, 0o777, 0, link=".."),
            BundleFile(
                "a/s/y/passwd",
                hashlib.sha256(passwd).hexdigest(),
                0o644,
                len(passwd),
                data=passwd,
            ),
        ),
    )
    with pytest.raises(BuildError) as failed:
        new_machine(tmp_path / "m").build(starter, [crafted])
    assert "a/s/y/passwd: lands at /etc/passwd" in str(failed.value)
    assert "create the bundle again" in str(failed.value)


def test_the_bundle_digest_keys_the_layers(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    settings = store(tmp_path)
    (tmp_path / "a.conf").write_text("one\n")
    one = create_bundle(settings, "conf", "files", [tmp_path / "a.conf"], target="/etc/x")
    (tmp_path / "a.conf").write_text("two\n")
    two = create_bundle(settings, "conf", "files", [tmp_path / "a.conf"], target="/etc/x")
    machine = new_machine(tmp_path / "m")
    first = machine.build(starter, [one])
    second = machine.build(starter, [two])
    assert first.layers[0].digest == second.layers[0].digest
    assert first.layers[1].digest != second.layers[1].digest
    assert members(second.layers[1])["etc/x/a.conf"][1] == b"two\n"


# The real thing: Debian's JRE finds the generated trust store, bundle included.


@pytest.mark.network
@pytest.mark.e2e
def test_jre_image_trust_store_holds_the_bundle(
    mirror_settings: Settings, corp_ca: Issued, tmp_path: Path
) -> None:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./run-tests installs podman and runc")
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    (tmp_path / "corp.pem").write_bytes(corp_ca.pem)
    bundle = create_bundle(store(tmp_path), "corp-ca", "certificates", [tmp_path / "corp.pem"])
    starter = starter_named("jre")
    line = starter.lines[-1]
    catalog = catalog_service.catalog(mirror_settings, line.release, "amd64", lambda m: None)
    plan = plan_line(catalog, starter, line)
    image = build_line_image(
        plan,
        starter=starter,
        env={},
        fetch=lambda packages: fetch(packages, catalog.url_of, mirror_settings.cache_dir / "debs"),
        cache=LayerCache(mirror_settings.cache_dir / "layers"),
        bundles=[bundle],
    )
    with LayoutWriter(tmp_path / "layout") as writer:
        descriptor = write_image(
            writer,
            Platform.for_debian("amd64"),
            image.layers,
            runtime=image.runtime,
            source_date_epoch=image.source_date_epoch,
            annotations={},
        )
        writer.tag("latest", descriptor)
    listed = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            "--entrypoint",
            '["keytool"]',
            f"oci:{tmp_path / 'layout'}:latest",
            *("-list", "-cacerts", "-storepass", "changeit"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "debian:corp.pem, " in listed.stdout
    count = re.search(r"Your keystore contains (\d+) entries", listed.stdout)
    assert count is not None and int(count.group(1)) > 100  # Mozilla's roots and ours


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/etc/passwd", "/etc/passwd is a file that Couturier generates in every image"),
        ("/etc/group/more", "/etc/group is a file that Couturier generates in every image"),
        ("/var/lock", "/var/lock is a link to /run/lock that Couturier generates"),
    ],
)
def test_a_bundle_below_a_generated_file_fails_instead_of_vanishing(
    tmp_path: Path,
    new_machine: Callable[[Path], Machine],
    starter: Starter,
    target: str,
    expected: str,
) -> None:
    """The generated layer would put the file (or link) back over the bundle's directory and
    every file of the bundle would be lost while the build said created: it fails instead,
    naming the bundle and the path."""
    settings = store(tmp_path)
    (tmp_path / "app.conf").write_text("x=1\n")
    bundle = create_bundle(settings, "app", "files", [tmp_path / "app.conf"], target=target)
    with pytest.raises(BuildError) as failed:
        new_machine(tmp_path / "m").build(starter, [bundle])
    message = str(failed.value)
    assert f"bundle app@1 places {target}/app.conf" in message
    assert expected in message


def test_a_link_through_the_image_into_run_fails_the_build(
    tmp_path: Path, new_machine: Callable[[Path], Machine], starter: Starter
) -> None:
    """A bundle stored by hand with a target the image links into /run (the runtime mounts
    its own /run there): refused at build time too."""
    data = b"x=1\n"
    crafted = Bundle(
        "app",
        1,
        "files",
        "/run/app",
        (BundleFile("app.conf", hashlib.sha256(data).hexdigest(), 0o644, len(data), data=data),),
    )
    with pytest.raises(BuildError) as failed:
        new_machine(tmp_path / "m").build(starter, [crafted])
    assert "must not be under /run" in str(failed.value)
