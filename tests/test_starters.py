"""Starter images: the shipped YAML files, the loader's validation, and line version tags."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from couturier.core.catalog import Catalog
from couturier.core.relations import parse_request
from couturier.core.resolver import resolve
from couturier.core.starter import Starter, full_version
from couturier.errors import ConfigError, NotFoundError
from couturier.services.starters import load_starter_file, load_starters
from tests.starters import DEFAULT_RELEASES, shipped, starter_named

EXPECTED = {
    "base": ["12", "13", "14"],
    "python": ["3.11", "3.13", "3.14"],
    "php": ["8.2", "8.4"],
    "ruby": ["3.1", "3.3"],
    "node": ["18", "20", "24"],
    "nginx": ["1.22", "1.26", "1.30"],
    "postgres": ["15", "17", "18"],
    "jre": ["17", "21", "25"],
}

GOOD = """\
name: demo
description: A demo starter
packages: [base-files, libc6]
entrypoint: [/usr/bin/demo]
env:
  PATH: /usr/bin
lines:
  - {version: "1.2", release: bookworm, primary: demo1.2, packages: [extra], eol: 2028-06-30}
"""


@pytest.mark.parametrize(
    ("debian", "label", "expected"),
    [
        ("3.11.2-6+deb12u6", "3.11", "3.11.2"),
        ("20.19.2+dfsg-1", "20", "20.19.2"),
        ("1:2.7", "2", "2.7"),
        ("1:2.7", "2.7", "2.7"),
        ("24.21.0+dfsg+~cs24.13.4-1", "24", "24.21.0"),
        ("17.0.21.1+2-1~deb12u1", "17", "17.0.21.1"),
        ("8.2.36-1~deb12u1", "8.2", "8.2.36"),
        ("3.14.0~rc1-1", "3.14", "3.14.0"),
        ("14.2", "14", "14.2"),
        ("2:8.2+93", "8.2", "8.2"),
        ("2.36-9+deb12u14", "12", "12"),  # versioned independently of the line: the label
        ("3.10.1-1", "3.1", "3.1"),  # 3.10 is not a 3.1 release
    ],
)
def test_full_version(debian: str, label: str, expected: str) -> None:
    assert full_version(debian, label) == expected


def test_shipped_starters_have_the_expected_lines() -> None:
    starters = shipped()
    assert {name: [line.version for line in s.lines] for name, s in starters.items()} == EXPECTED
    for starter in starters.values():
        assert "libc6" in starter.packages and "ca-certificates" in starter.packages
        assert all("PATH" in starter.line_env(line) for line in starter.lines)
        assert starter.uid in (0, 65532)


def test_python_starter_values() -> None:
    python = starter_named("python")
    line = python.line("3.13")
    assert (line.release, line.primary, line.eol) == ("trixie", "python3.13", dt.date(2030, 6, 30))
    assert line.package_set(python)[-2:] == ("python3.13", "python3-minimal")
    assert python.entrypoint == ("/usr/bin/python3",)
    assert python.user == "nonroot" and python.uid == 65532
    assert "PATH" in python.env_keys
    with pytest.raises(NotFoundError, match=r"lines: 3\.11, 3\.13, 3\.14"):
        python.line("2.7")


def test_postgres_line_puts_its_binaries_on_path() -> None:
    postgres = starter_named("postgres")
    env = postgres.line_env(postgres.line("17"))
    assert env["PATH"].startswith("/usr/lib/postgresql/17/bin:")
    assert "PGDATA" in env


def test_get_starter_unknown_lists_known_names() -> None:
    with pytest.raises(NotFoundError, match="no starter image called 'cobol'") as info:
        starter_named("cobol")
    assert "base, jre, nginx, node, php, postgres, python, ruby" in info.value.hint


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_loader_reads_a_good_file(tmp_path: Path) -> None:
    starter = load_starter_file(write(tmp_path, GOOD), DEFAULT_RELEASES)
    assert isinstance(starter, Starter)
    # The working directory defaults to the user's home, which the user can write.
    assert starter.user == "nonroot" and starter.workdir == "/home/nonroot" and starter.cmd == ()
    assert (starter.ports, starter.writable, dict(starter.links), starter.files) == ((), (), {}, ())
    assert starter.lines[0].packages == ("extra",)
    assert starter.lines[0].eol == dt.date(2028, 6, 30)
    assert load_starters(tmp_path, DEFAULT_RELEASES) == {"demo": starter}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD + "colour: red\n", "colour is not a known field"),
        (GOOD.replace("description: A demo starter\n", ""), "description is missing"),
        (GOOD.replace("release: bookworm", "release: potato"), "lines[0].release"),
        (GOOD.replace("eol: 2028-06-30", "eol: soon"), "lines[0].eol"),
        (GOOD.replace("primary: demo1.2, ", ""), "lines[0].primary is missing"),
        (GOOD.replace('version: "1.2"', "version: 1.2"), "lines[0].version"),
        (GOOD.replace("packages: [extra]", "packages: [extra], flavour: x"), "lines[0].flavour"),
        (GOOD.replace("packages: [base-files, libc6]", "packages: [Libc6]"), "packages has"),
        (GOOD.replace("PATH: /usr/bin", "1PATH: /usr/bin"), "env.1PATH"),
        (GOOD.replace("PATH: /usr/bin", "PORT: 80"), "env.PORT"),
        (GOOD.replace("name: demo", "name: other"), "name is 'other'"),
        (GOOD + "user: daemon\n", "user must be one of"),
        (GOOD + "workdir: app\n", "workdir must be an absolute path"),
        (GOOD + "workdir: /srv\n", "workdir must be /home/nonroot or under a writable"),
        (GOOD + "ports: [80000]\n", "ports has 80000"),
        (GOOD + "ports: [http]\n", "ports has 'http'"),
        (GOOD + "writable: [var/lib/x]\n", "writable has 'var/lib/x'"),
        (GOOD + "writable: [/var/../etc]\n", "writable has '/var/../etc'"),
        (GOOD + "links: [/usr/bin/x]\n", "links must be a mapping"),
        (GOOD + "files: [{path: /x, source: ../secret}]\n", "files[0].source must be"),
        (GOOD + "files: [{path: /x, source: missing.sh}]\n", "files[0].source cannot be read"),
        (GOOD + "files: [{path: /x, source: demo.yaml, mode: 755}]\n", "files[0].mode"),
        (GOOD + "files: [{path: /x, src: demo.yaml}]\n", "files[0].src is not a known"),
        (GOOD + GOOD.splitlines(keepends=True)[-1], "lines[1].version repeats"),
        (GOOD.replace("lines:\n", "lines: []\n").split("  - ")[0], "lines must be"),
        # Whole-value matching: a trailing newline or a control character never gets through.
        (GOOD.replace("name: demo", 'name: "demo\\n"'), "name must be"),
        (GOOD.replace("packages: [extra]", 'packages: ["extra\\n"]'), "lines[0].packages has"),
        (GOOD.replace("PATH: /usr/bin", '"PATH\\n": /usr/bin'), "is not a POSIX variable"),
        (GOOD.replace("PATH: /usr/bin", 'PATH: "/usr/bin\\0"'), "env.PATH must not hold"),
        (GOOD + 'entrypoint: ["/usr/bin/demo\\n"]\n', "entrypoint has"),
        (GOOD + 'ports: ["8080\\n"]\n', "ports has"),
        (GOOD + 'workdir: "/home/nonroot\\n"\n', "workdir"),
        (GOOD.replace('version: "1.2"', 'version: "1.2\\n"'), "lines[0].version"),
        (GOOD.replace("description: A demo starter", 'description: "A\\x1b[2Jdemo"'), "one line"),
        # Bounded like specs and settings: no aliases.
        (GOOD + "cmd: &a [x]\nentrypoint: *a\n", "alias"),
    ],
)
def test_loader_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_starter_file(path, DEFAULT_RELEASES)
    assert str(path) in str(info.value)
    assert field in str(info.value)


def test_loader_reads_ports_writable_links_and_files(tmp_path: Path) -> None:
    (tmp_path / "start.sh").write_bytes(b"#!/bin/sh\nexec demo\n")
    text = GOOD + (
        'ports: [8080, "53/udp", 8080]\n'
        "workdir: /var/lib/demo/data\n"
        "writable: [/var/lib/demo, /run/demo]\n"
        "links: {/usr/bin/demo3: demo}\n"
        'files: [{path: /usr/local/bin/start, source: start.sh, mode: "0755"}]\n'
    )
    starter = load_starter_file(write(tmp_path, text), DEFAULT_RELEASES)
    assert starter.ports == ("8080/tcp", "53/udp")
    assert starter.writable == ("/var/lib/demo", "/run/demo")
    assert starter.workdir == "/var/lib/demo/data"
    assert dict(starter.links) == {"/usr/bin/demo3": "demo"}
    (script,) = starter.files
    assert (script.path, script.mode, script.data) == (
        "/usr/local/bin/start",
        0o755,
        b"#!/bin/sh\nexec demo\n",
    )


def test_shipped_starters_run_unprivileged_in_a_directory_they_own() -> None:
    for starter in shipped().values():
        assert starter.user == "nonroot", starter.name
        assert "libc-bin" in starter.packages, starter.name  # ldconfig, C.UTF-8 (Essential)
        assert starter.workdir == starter.home or any(
            starter.workdir.startswith(path) for path in starter.writable
        )
    assert starter_named("nginx").ports == ("8080/tcp",)
    postgres = starter_named("postgres")
    assert postgres.ports == ("5432/tcp",) and "dash" in postgres.packages
    assert postgres.entrypoint == ("/usr/local/bin/docker-entrypoint.sh",)
    assert postgres.files[0].data.startswith(b"#!/bin/sh\n")
    assert dict(starter_named("python").links) == {"/usr/bin/python": "python3"}


def test_loader_rejects_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML") as info:
        load_starter_file(path, DEFAULT_RELEASES)
    assert str(path) in str(info.value)


def test_loader_rejects_a_list_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_starter_file(write(tmp_path, "- a\n- b\n"), DEFAULT_RELEASES)


def test_loader_accepts_releases_from_settings(tmp_path: Path) -> None:
    text = GOOD.replace("release: bookworm", "release: noble")
    with pytest.raises(ConfigError, match="unknown release 'noble'"):
        load_starter_file(write(tmp_path, text), DEFAULT_RELEASES)
    assert load_starter_file(write(tmp_path, text), releases=("noble",)).lines[0].release == "noble"


SHIPPED_LINES = [
    (starter.name, line.version) for starter in shipped().values() for line in starter.lines
]


@pytest.mark.network
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize(("starter_name", "version"), SHIPPED_LINES)
def test_every_shipped_line_resolves(
    mirror_catalogs_all: dict[tuple[str, str], Catalog], starter_name: str, version: str, arch: str
) -> None:
    starter = starter_named(starter_name)
    line = starter.line(version)
    catalog = mirror_catalogs_all[(line.release, arch)]
    resolution = resolve(catalog, [parse_request(name) for name in line.package_set(starter)])
    chosen = {package.name: package for package in resolution.packages}
    assert set(line.package_set(starter)) <= set(chosen)
    primary = chosen[line.primary]
    tag = full_version(primary.version, line.version)
    assert tag == line.version or tag.startswith(line.version + "."), primary.version


# -- a starter's files stay beside it ----------------------------------------------------------


def _with_file(tmp_path: Path, source: str) -> Path:
    return write(tmp_path, GOOD + f'files: [{{path: /etc/x, source: {source}, mode: "0644"}}]\n')


def test_a_file_source_that_links_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    """``ln -s /etc/shadow shadowlink`` beside the starter would put the building machine's
    file into every image: the source is resolved first and must stay in the directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root:$6$hash\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "shadowlink").symlink_to(outside / "secret")
    (site / "up").symlink_to(outside)
    for source in ("shadowlink", "up/secret"):
        path = _with_file(site, source)
        with pytest.raises(ConfigError) as info:
            load_starter_file(path, DEFAULT_RELEASES)
        text = str(info.value)
        assert str(path) in text and "files[0].source leads out of" in text, text
    # A link that stays inside the directory is followed.
    (site / "real.sh").write_text("#!/bin/sh\n")
    (site / "inside").symlink_to("real.sh")
    (script,) = load_starter_file(_with_file(site, "inside"), DEFAULT_RELEASES).files
    assert script.data == b"#!/bin/sh\n"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "is not a regular file"),
        (os.mkfifo, "is not a regular file"),
        (lambda p: p.write_bytes(b"x" * (1024 * 1024 + 1)), "is larger than 1048576 bytes"),
        (lambda p: p.symlink_to(p), "cannot be read"),
    ],
    ids=["directory", "fifo", "over 1 MiB", "link loop"],
)
def test_a_file_source_must_be_a_bounded_regular_file(
    tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    make(tmp_path / "source")
    path = _with_file(tmp_path, "source")
    with pytest.raises(ConfigError) as info:
        load_starter_file(path, DEFAULT_RELEASES)
    assert str(path) in str(info.value) and f"files[0].source {expected}" in str(info.value)


def test_a_file_source_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"y" * (1024 * 1024))
    (placed,) = load_starter_file(_with_file(tmp_path, "big"), DEFAULT_RELEASES).files
    assert len(placed.data) == 1024 * 1024


def test_a_stray_yaml_file_in_a_site_directory_is_named(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / "couturier.yaml").write_text("starters_dir: .\n")
    with pytest.raises(ConfigError) as info:
        load_starters(tmp_path, DEFAULT_RELEASES)
    assert str(tmp_path / "couturier.yaml") in info.value.message
    assert "starters_dir is not a known field" in info.value.message
    assert "every *.yaml file in" in info.value.hint


# -- the core only validates: file contents come from the caller -------------------------------


def test_parse_starter_takes_file_contents_from_the_caller() -> None:
    import yaml

    from couturier.core.starter import SourceUnreadable, parse_starter

    raw = yaml.safe_load(GOOD + 'files: [{path: /etc/x, source: x.conf, mode: "0600"}]\n')
    given = {"x.conf": b"setting = 1\n"}

    def read_source(name: str) -> bytes:
        if name not in given:
            raise SourceUnreadable("cannot be read (No such file or directory)")
        return given[name]

    (placed,) = parse_starter(raw, "demo.yaml", DEFAULT_RELEASES, read_source).files
    assert (placed.path, placed.mode, placed.data) == ("/etc/x", 0o600, b"setting = 1\n")
    given.clear()
    with pytest.raises(ConfigError, match=r"demo.yaml: files\[0\].source cannot be read \(No"):
        parse_starter(raw, "demo.yaml", DEFAULT_RELEASES, read_source)
    with pytest.raises(ConfigError, match="the starter has no directory"):
        parse_starter(raw, "demo.yaml", DEFAULT_RELEASES)


def test_the_shipped_set_is_read_once_whatever_the_threads() -> None:
    import threading

    from couturier.services.starters import ShippedStarters

    shelf = ShippedStarters()
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(shelf.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(found is seen[0] for found in seen)
    assert set(shelf.get()) == set(EXPECTED)
