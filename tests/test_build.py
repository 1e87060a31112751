"""The whole build service on a fixture repository of real, signed ``.deb`` files (no network).

Two releases (``oldrel`` and ``newrel``) carry a tiny starter (``base-files``, ``libfoo`` and the
line's primary ``tool``); ``extra`` exists only in ``oldrel`` and ``clash`` ships a path that
``tool`` already ships. Package file dates are pinned (``dpkg-deb`` clamps them to
``SOURCE_DATE_EPOCH``), so the expected layer dates are known.
"""

from __future__ import annotations

import datetime as dt
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from couturier.core.starter import Starter, parse_starter
from couturier.oci.layout import Layout
from couturier.services.build import BuildResult, ImageRequest, build
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.debs import Content, File, Link, build_suites
from tests.fixture_repo import CountingTransport, SigningKey, build_repo

RELEASES = {"oldrel": ["oldrel"], "newrel": ["newrel"]}
NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
STARTER_DATE = 1_600_000_000  # file dates of the starter's packages (tool 2.1 is newer)
TOOL2_DATE = 1_610_000_000
EXTRA_DATE = 1_650_000_000  # the added package is newer than every starter package

STARTER_DOC: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny fixture starter",
    "packages": ["base-files"],
    "env": {"LANG": "C.UTF-8", "TOOL_HOME": "/usr/lib/tool"},
    "entrypoint": ["/usr/bin/tool"],
    "ports": [8080],
    "writable": ["/var/lib/tool", "/var/run/tool"],
    "links": {"/usr/bin/tool-link": "tool"},
    "lines": [
        {"version": "1", "release": "oldrel", "primary": "tool", "eol": "2031-01-01"},
        {"version": "2", "release": "newrel", "primary": "tool", "eol": "2033-01-01"},
    ],
}


def _copyright(name: str) -> dict[str, Content]:
    return {
        f"usr/share/doc/{name}/copyright": f"{name}: public domain\n",
        f"usr/share/doc/{name}/README": f"{name} documentation, dropped\n",
    }


def _tool(version: str) -> dict[str, Content]:
    return {
        "usr/bin/tool": File(f"#!/bin/sh\necho tool {version}\n".encode(), 0o755),
        "bin/toolsh": File(b"#!/bin/sh\necho toolsh\n", 0o755),
        "usr/lib/tool/plugin.so": b"\x7fELF fake plugin\n",
        "usr/share/man/man1/tool.1": "man page, dropped\n",
        **_copyright("tool"),
    }


# (control fields, files, dpkg-deb file date), per suite.
PACKAGES: dict[str, list[tuple[dict[str, str], dict[str, Content], int]]] = {
    "oldrel": [
        (
            {"Package": "base-files", "Version": "1.0-1"},
            {"etc/issue": "Tiny fixture\n", **_copyright("base-files")},
            STARTER_DATE,
        ),
        (
            {"Package": "libfoo", "Version": "1.0-1"},
            {
                "usr/lib/libfoo/libfoo.so.1": b"\x7fELF fake library\n",
                "usr/lib/libfoo/libfoo.so": Link("libfoo.so.1"),
                **_copyright("libfoo"),
            },
            STARTER_DATE,
        ),
        ({"Package": "tool", "Version": "1.4-1", "Depends": "libfoo"}, _tool("1.4"), STARTER_DATE),
        (
            {"Package": "extra", "Version": "1.0-1"},
            {"usr/bin/extra": File(b"#!/bin/sh\necho extra\n", 0o755), **_copyright("extra")},
            EXTRA_DATE,
        ),
        (
            {"Package": "clash", "Version": "1.0-1"},
            {"usr/bin/tool": File(b"#!/bin/sh\necho clash\n", 0o755)},
            EXTRA_DATE,
        ),
    ],
    "newrel": [
        (
            {"Package": "base-files", "Version": "1.0-1"},
            {"etc/issue": "Tiny fixture\n", **_copyright("base-files")},
            STARTER_DATE,
        ),
        (
            {"Package": "libfoo", "Version": "1.0-1"},
            {
                "usr/lib/libfoo/libfoo.so.1": b"\x7fELF fake library\n",
                "usr/lib/libfoo/libfoo.so": Link("libfoo.so.1"),
                **_copyright("libfoo"),
            },
            STARTER_DATE,
        ),
        ({"Package": "tool", "Version": "2.1-1", "Depends": "libfoo"}, _tool("2.1"), TOOL2_DATE),
        (
            {"Package": "clash", "Version": "1.0-1"},
            {"usr/bin/tool": File(b"#!/bin/sh\necho clash\n", 0o755)},
            EXTRA_DATE,
        ),
    ],
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    """The signed fixture repository; its .deb files are built first (build_repo reuses them)."""
    root = tmp_path_factory.mktemp("build-repo") / "repo"
    suites = build_suites(root / "pool" / "main", PACKAGES)
    return build_repo(root, suites, key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_build.py", releases=tuple(RELEASES))


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def settings_in(directory: Path, repo: Path, key: SigningKey) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    return make_settings(directory, repo, key.keyring, RELEASES, architectures=("amd64",))


def run(
    settings: Settings,
    request: ImageRequest,
    output: Path,
    transport: CountingTransport | None = None,
    architectures: Sequence[str] | None = None,
    *,
    epoch: int | None = None,
) -> BuildResult:
    context = build_context(settings, output=output, transport=transport, epoch=epoch, now=NOW)
    return build(context, request, architectures=architectures)


def lines_of(result: BuildResult) -> dict[str, Any]:
    return {line.version: line for line in result.lines}


def layer_members(layout: Layout, digest: str) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """The entries of a layer blob by normalized path (no leading ``./`` or ``/``)."""
    members: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(layout.blob_path(digest), "r:gz") as tar:
        for info in tar.getmembers():
            name = info.name.removeprefix("./").strip("/")
            data = b""
            if info.isfile():
                handle = tar.extractfile(info)
                assert handle is not None
                data = handle.read()
            members[name] = (info, data)
    return members


def image_members(layout: Layout, tag: str) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """The merged view of every layer of ``tag`` (upper layers win)."""
    merged: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    for layer in layout.manifest(tag)["layers"]:
        merged.update(layer_members(layout, layer["digest"]))
    return merged


def layer_digests(output: Path, tag: str) -> list[str]:
    return [layer["digest"] for layer in Layout(output).manifest(tag)["layers"]]


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


@pytest.fixture(scope="module")
def machine(repo: Path, signing_key: SigningKey) -> Callable[[Path], Settings]:
    """Settings of a fresh machine under a directory: its own indexes and caches."""
    return lambda directory: settings_in(directory, repo, signing_key)


@pytest.fixture(scope="module")
def starter_image(
    tmp_path_factory: pytest.TempPathFactory, repo: Path, signing_key: SigningKey, starter: Starter
) -> Iterator[tuple[Settings, Path, BuildResult]]:
    """The starter built once (SOURCE_DATE_EPOCH unset), with its settings and layout."""
    base = tmp_path_factory.mktemp("starter-image")
    settings = settings_in(base / "env", repo, signing_key)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        result = run(settings, ImageRequest(starter, "tiny"), base / "out")
    assert result.status == "created", result.to_json()
    yield settings, base / "out", result


# 1. Golden digests


def test_same_definition_builds_the_same_digests(
    tmp_path: Path,
    repo: Path,
    signing_key: SigningKey,
    starter: Starter,
    starter_image: tuple[Settings, Path, BuildResult],
) -> None:
    _, _, first = starter_image
    # Another machine: its own indexes, an empty layer and download cache, another output.
    second = run(
        settings_in(tmp_path / "b", repo, signing_key),
        ImageRequest(starter, "tiny"),
        tmp_path / "out",
    )
    assert second.status == "created"
    want = {line.version: line.digest for line in first.lines}
    assert {line.version: line.digest for line in second.lines} == want
    assert all(digest.startswith("sha256:") for digest in want.values())
    assert want["1"] != want["2"]
    # The default date is the newest package date, so the layers carry exactly that.
    layout = Layout(tmp_path / "out")
    files = image_members(layout, "1")
    assert files["usr/bin/tool"][0].mtime == STARTER_DATE
    assert image_members(layout, "2")["usr/bin/tool"][0].mtime == TOOL2_DATE


def test_source_date_epoch_is_golden_too_and_changes_the_digest(
    tmp_path: Path,
    machine: Callable[[Path], Settings],
    starter: Starter,
    starter_image: tuple[Settings, Path, BuildResult],
) -> None:
    epoch = STARTER_DATE - 86_400  # older than every package file: every date is clamped
    results = [
        run(machine(tmp_path / name), ImageRequest(starter, "tiny"), out, epoch=epoch)
        for name, out in (("a", tmp_path / "out-a"), ("b", tmp_path / "out-b"))
    ]
    digests = [{line.version: line.digest for line in r.lines} for r in results]
    assert digests[0] == digests[1]
    unset = {line.version: line.digest for line in starter_image[2].lines}
    assert all(digests[0][v] != unset[v] for v in unset)
    layout = Layout(tmp_path / "out-a")
    assert image_members(layout, "1")["usr/bin/tool"][0].mtime == epoch
    assert layout.config("1")["created"].startswith(
        dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_two_architectures_build_the_same_index(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter
) -> None:
    digests = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        settings = make_settings(
            tmp_path / name, repo, signing_key.keyring, RELEASES, ("amd64", "arm64")
        )
        result = run(settings, ImageRequest(starter, "tiny"), tmp_path / f"out-{name}")
        assert result.status == "created"
        digests.append([line.digest for line in result.lines])
        index = Layout(tmp_path / f"out-{name}").tagged("1")
        assert index.media_type == "application/vnd.oci.image.index.v1+json"
    assert digests[0] == digests[1]


# 2. and 5. A private image


@pytest.fixture(scope="module")
def private_image(
    tmp_path_factory: pytest.TempPathFactory,
    repo: Path,
    signing_key: SigningKey,
    starter: Starter,
) -> tuple[Path, BuildResult]:
    """A private image built on its own machine (its own, empty caches)."""
    base = tmp_path_factory.mktemp("private-image")
    request = ImageRequest(
        starter,
        "my-tool",
        description="tool with extra",
        packages=("extra",),
        env={"MODE": "private"},
        private=True,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        result = run(settings_in(base / "env", repo, signing_key), request, base / "out")
    return base / "out", result


def test_private_image_shares_the_starter_layer(
    private_image: tuple[Path, BuildResult], starter_image: tuple[Settings, Path, BuildResult]
) -> None:
    output, result = private_image
    assert lines_of(result)["1"].status == "created", result.to_json()
    private_layers = layer_digests(output, "1")
    starter_layers = layer_digests(starter_image[1], "1")
    assert len(private_layers) == 3 and len(starter_layers) == 2
    assert private_layers[0] == starter_layers[0]
    assert private_layers[1:] != starter_layers[1:]


def test_image_config(
    private_image: tuple[Path, BuildResult], starter_image: tuple[Settings, Path, BuildResult]
) -> None:
    private = Layout(private_image[0]).config("1")["config"]
    assert set(private["Env"]) >= {"LANG=C.UTF-8", "TOOL_HOME=/usr/lib/tool", "MODE=private"}
    assert private["User"] == "65532:65532"
    assert private["Entrypoint"] == ["/usr/bin/tool"]
    assert private["Labels"]["private image"] == "true"
    assert private["Labels"]["org.opencontainers.image.version"] == "1.4"
    # The user's home is the working directory; the starter's ports are exposed.
    assert private["WorkingDir"] == "/home/nonroot"
    assert private["ExposedPorts"] == {"8080/tcp": {}}
    public = Layout(starter_image[1]).config("1")["config"]
    assert "MODE=private" not in public["Env"]
    assert "private image" not in (public.get("Labels") or {})
    assert public["User"] == "65532:65532"


def _status_packages(status: bytes) -> list[str]:
    return sorted(
        line.split(":", 1)[1].strip()
        for line in status.decode().splitlines()
        if line.startswith("Package:")
    )


def test_generated_layer_and_tree(private_image: tuple[Path, BuildResult]) -> None:
    layout = Layout(private_image[0])
    generated = layer_members(layout, layer_digests(private_image[0], "1")[-1])
    passwd = generated["etc/passwd"][1].decode()
    assert any(line.startswith("nonroot:x:65532:65532:") for line in passwd.splitlines())
    assert generated["tmp"][0].isdir() and generated["tmp"][0].mode & 0o7777 == 0o1777
    status = generated["var/lib/dpkg/status"][1]
    assert _status_packages(status) == ["base-files", "extra", "libfoo", "tool"]
    assert status.decode().count("Status: install ok installed") == 4
    # Every image: ld.so.cache (ldconfig -p), base-files' links, the user's home and the
    # starter's writable directories owned by the user, its links.
    assert generated["etc/ld.so.cache"][1].startswith(b"glibc-ld.so.cache1.1")
    assert generated["var/run"][0].issym() and generated["var/run"][0].linkname == "/run"
    assert generated["var/lock"][0].linkname == "/run/lock"
    assert generated["run/lock"][0].isdir() and generated["run/lock"][0].mode & 0o7777 == 0o1777
    for owned in ("home/nonroot", "var/lib/tool", "run/tool"):
        info = generated[owned][0]
        assert info.isdir() and (info.uid, info.gid) == (65532, 65532), owned
    assert generated["usr/bin/tool-link"][0].linkname == "tool"

    files = image_members(layout, "1")
    assert files["usr/bin/tool"][0].mode & 0o777 == 0o755
    assert files["usr/bin/extra"][1] == b"#!/bin/sh\necho extra\n"
    assert files["usr/lib/libfoo/libfoo.so.1"][0].isfile()
    assert files["usr/lib/tool/plugin.so"][0].isfile()
    # merged-/usr: the package's /bin/toolsh lands in usr/bin, /bin is a link to it
    assert files["usr/bin/toolsh"][0].isfile()
    assert "bin/toolsh" not in files
    assert files["bin"][0].issym() and files["bin"][0].linkname.strip("/") == "usr/bin"
    # documentation and man pages dropped, copyright files kept
    assert "usr/share/doc/tool/copyright" in files
    assert "usr/share/doc/tool/README" not in files
    assert "usr/share/man/man1/tool.1" not in files
    assert all(info.uid in (0, 65532) and not info.uname for info, _ in files.values())


# 3. Line skipping


def test_added_package_missing_from_a_release_skips_that_line(
    private_image: tuple[Path, BuildResult],
) -> None:
    output, result = private_image
    lines = lines_of(result)
    assert result.status == "some lines created"
    assert lines["1"].status == "created"
    assert lines["2"].status == "skipped"
    error = lines["2"].error
    assert error is not None and error.code == "package-not-found"
    assert error.fields["package"] == "extra" and error.fields["release"] == "newrel"
    assert lines["2"].tags == () and lines["2"].digest == ""
    assert "latest" in lines["1"].tags
    layout = Layout(output)
    assert layout.tagged("latest").digest == lines["1"].digest
    assert "2" not in layout.tags()


def test_latest_points_at_the_most_advanced_line(
    starter_image: tuple[Settings, Path, BuildResult],
) -> None:
    _, output, result = starter_image
    lines = lines_of(result)
    assert lines["1"].full_version == "1.4" and lines["2"].full_version == "2.1"
    assert "latest" in lines["2"].tags and "latest" not in lines["1"].tags
    layout = Layout(output)
    assert layout.tagged("latest").digest == lines["2"].digest
    assert layout.tagged("2.1").digest == lines["2"].digest
    assert layout.tagged("1.4-20300102030405").digest == lines["1"].digest
    assert layout.verify() > 0


def test_all_lines_unresolvable_writes_no_layout(
    tmp_path: Path,
    repo: Path,
    signing_key: SigningKey,
    starter: Starter,
) -> None:
    settings = settings_in(tmp_path / "env", repo, signing_key)
    request = ImageRequest(starter, "nope", packages=("no-such-package",), private=True)
    result = run(settings, request, tmp_path / "out")
    assert result.status == "image build failed"
    assert all(line.status == "skipped" for line in result.lines)
    for line in result.lines:
        assert line.error is not None and line.error.code == "package-not-found"
        assert line.error.fields["package"] == "no-such-package"
    assert not (tmp_path / "out").exists()

    # An existing layout is left untouched.
    assert run(settings, ImageRequest(starter, "tiny"), tmp_path / "kept").status == "created"
    before = tree_snapshot(tmp_path / "kept")
    assert run(settings, request, tmp_path / "kept").status == "image build failed"
    assert tree_snapshot(tmp_path / "kept") == before


# 4. A file conflict


def test_file_conflict_fails_the_line_naming_packages_path_and_trace(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter
) -> None:
    settings = settings_in(tmp_path / "env", repo, signing_key)
    request = ImageRequest(starter, "clashing", packages=("clash",), private=True)
    result = run(settings, request, tmp_path / "out")
    assert result.status == "image build failed"
    for line in result.lines:
        assert line.status == "failed", line
        error = line.error
        assert error is not None and error.code == "file-conflict"
        assert error.fields["path"] == "/usr/bin/tool"
        assert set(error.fields["packages"]) == {"tool", "clash"}
        assert error.fields["trace_id"] == result.trace_id
        assert line.to_json()["error"] == {
            "code": "file-conflict",
            "message": error.message,
            "fields": {**error.fields, "packages": list(error.fields["packages"])},
        }
    assert not (tmp_path / "out").exists()


# 6. Warm rebuild


def test_warm_rebuild_fetches_nothing_and_reuses_layers(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter
) -> None:
    settings = settings_in(tmp_path / "env", repo, signing_key)
    request = ImageRequest(starter, "mine", packages=("extra",), env={"A": "b"}, private=True)
    cold = CountingTransport()
    first = run(settings, request, tmp_path / "out-1", cold)
    assert first.status == "some lines created"
    assert any(url.endswith(".deb") for url in cold.urls)
    # A fresh machine refreshes its indexes first, through the same transport.
    assert any(url.endswith("/InRelease") for url in cold.urls)
    warm = CountingTransport()
    second = run(settings, request, tmp_path / "out-2", warm)
    assert warm.urls == []
    assert [line.to_json() | {"tags": None} for line in second.lines] == [
        line.to_json() | {"tags": None} for line in first.lines
    ]
    assert layer_digests(tmp_path / "out-2", "1") == layer_digests(tmp_path / "out-1", "1")
    # The same cache into the same layout: nothing changes but the result.
    third = run(settings, request, tmp_path / "out-1", CountingTransport())
    assert lines_of(third)["1"].digest == lines_of(first)["1"].digest
