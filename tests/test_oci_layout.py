"""OCI image layouts: written by us, read back by us and by real clients (skopeo, umoci)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from couturier.core.entries import Entry, EntryType
from couturier.errors import InputError, IntegrityError, NotFoundError
from couturier.oci.documents import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    Platform,
    RuntimeConfig,
    image_annotations,
)
from couturier.oci.layer import Layer, write_layer
from couturier.oci.layout import Layout, LayoutWriter
from couturier.oci.sink import write_image, write_index

EPOCH = 1_700_000_000
RUNTIME = RuntimeConfig(
    env={"PATH": "/usr/local/bin:/usr/bin", "LANG": "C.UTF-8"},
    entrypoint=("/usr/bin/hello",),
    cmd=("--greet",),
    user="65532",
    working_dir="/home/nonroot",
    labels={"private image": "true"},
)


def base_layer() -> Layer:
    return write_layer(
        [
            Entry("etc", EntryType.DIRECTORY, mode=0o755),
            Entry("etc/os-release", EntryType.FILE, data=b"ID=debian\n"),
            Entry("usr", EntryType.DIRECTORY, mode=0o755),
            Entry("usr/bin", EntryType.DIRECTORY, mode=0o755),
            Entry("bin", EntryType.SYMLINK, mode=0o777, target="usr/bin"),
            Entry("tmp", EntryType.DIRECTORY, mode=0o1777),
        ],
        EPOCH,
    )


def arch_layer(arch: str, greeting: str = "hello") -> Layer:
    return write_layer(
        [
            Entry("usr", EntryType.DIRECTORY, mode=0o755),
            Entry("usr/bin", EntryType.DIRECTORY, mode=0o755),
            Entry(
                "usr/bin/hello", EntryType.FILE, mode=0o755, data=f"{greeting} {arch}\n".encode()
            ),
        ],
        EPOCH,
    )


def write_release(root: Path, version: str, tags: list[str], greeting: str = "hello") -> None:
    """One line of a multi-arch image: per-arch manifests, an index, tags on the index."""
    annotations = image_annotations(
        EPOCH, title="53/hello", description="test image", version=version, base_name="python"
    )
    with LayoutWriter(root) as writer:
        manifests: list[Descriptor] = []
        for arch in ("arm64", "amd64"):
            manifest = write_image(
                writer,
                Platform.for_debian(arch),
                [base_layer(), arch_layer(arch, greeting)],
                runtime=RUNTIME,
                source_date_epoch=EPOCH,
                annotations=annotations,
                history=["couturier: starter packages", "couturier: added packages"],
            )
            writer.tag(f"{version}-{arch}", manifest)
            manifests.append(manifest)
        index = write_index(writer, manifests, annotations)
        for tag in tags:
            writer.tag(tag, index)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    root = tmp_path / "out" / "hello"
    write_release(root, "1.0", ["1.0", "latest"])
    return root


def test_layout_files_and_tags(layout: Path) -> None:
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["schemaVersion"] == 2
    reader = Layout(layout)
    assert reader.tags() == ["1.0", "1.0-amd64", "1.0-arm64", "latest"]
    assert reader.tagged("latest").media_type == INDEX_MEDIA_TYPE
    assert reader.tagged("1.0-arm64").media_type == MANIFEST_MEDIA_TYPE
    assert not [p for p in layout.parent.iterdir() if p.name.startswith(".")]


def test_shared_layers_are_stored_once(layout: Path) -> None:
    # base layer (shared), 2 arch layers, 2 configs, 2 manifests, 1 index
    assert len(list((layout / "blobs" / "sha256").iterdir())) == 8
    assert Layout(layout).verify() == 8


def test_config_and_manifest_content(layout: Path) -> None:
    reader = Layout(layout)
    arm = Platform.for_debian("arm64")
    config = reader.config("latest", arm)
    assert (config["architecture"], config["os"], config["variant"]) == ("arm64", "linux", "v8")
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"] == {
        "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"],
        "Entrypoint": ["/usr/bin/hello"],
        "Cmd": ["--greet"],
        "User": "65532",
        "WorkingDir": "/home/nonroot",
        "Labels": {"private image": "true"},
    }
    manifest = reader.manifest("latest", arm)
    assert manifest["layers"][0]["digest"] == base_layer().digest
    assert config["rootfs"]["diff_ids"] == [base_layer().diff_id, arch_layer("arm64").diff_id]
    assert [h["created_by"] for h in config["history"]] == [
        "couturier: starter packages",
        "couturier: added packages",
    ]
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert annotations["org.opencontainers.image.version"] == "1.0"
    assert annotations["org.opencontainers.image.base.name"] == "python"
    amd = reader.config("1.0-amd64")
    assert amd["architecture"] == "amd64" and "variant" not in amd
    index = reader.read_json(reader.tagged("latest"))
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    with pytest.raises(NotFoundError):
        reader.manifest("latest")  # two platforms: the caller must choose
    with pytest.raises(NotFoundError, match="nope"):
        reader.tagged("nope")


def test_same_inputs_give_the_same_layout(tmp_path: Path, layout: Path) -> None:
    again = tmp_path / "again"
    write_release(again, "1.0", ["1.0", "latest"])
    assert (again / "index.json").read_bytes() == (layout / "index.json").read_bytes()
    assert sorted(os.listdir(again / "blobs/sha256")) == sorted(os.listdir(layout / "blobs/sha256"))


def test_adding_lines_into_an_existing_layout(layout: Path) -> None:
    before = Layout(layout).tagged("1.0")
    write_release(layout, "2.0", ["2.0", "latest"], greeting="hi")
    reader = Layout(layout)
    lines = ["1.0", "1.0-amd64", "1.0-arm64", "2.0", "2.0-amd64", "2.0-arm64"]
    assert reader.tags() == [*lines, "latest"]
    assert reader.tagged("1.0") == before
    assert reader.tagged("latest").digest == reader.tagged("2.0").digest != before.digest
    # the base layer is shared by both lines and still stored once
    assert len(list((layout / "blobs" / "sha256").iterdir())) == 8 + 7
    assert reader.verify() == 15
    assert not [p for p in layout.parent.iterdir() if p.name.startswith(".")]


def test_a_failed_build_leaves_no_layout(tmp_path: Path, layout: Path) -> None:
    index_before = (layout / "index.json").read_bytes()
    blobs_before = sorted(os.listdir(layout / "blobs/sha256"))
    for root in (tmp_path / "new", layout):
        with pytest.raises(RuntimeError), LayoutWriter(root) as writer:
            writer.tag("broken", writer.add_layer(arch_layer("amd64", "broken")))
            raise RuntimeError("build failed")
    assert not (tmp_path / "new").exists()
    assert (layout / "index.json").read_bytes() == index_before
    assert sorted(os.listdir(layout / "blobs/sha256")) == blobs_before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_tags_and_non_layouts_are_refused(tmp_path: Path) -> None:
    with LayoutWriter(tmp_path / "x") as writer, pytest.raises(InputError):
        writer.tag("-bad", writer.add_layer(base_layer()))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a layout")
    with (
        pytest.raises(InputError, match="not an OCI image layout"),
        LayoutWriter(tmp_path / "plain") as writer,
    ):
        writer.tag("ok", writer.add_layer(base_layer()))
    with pytest.raises(NotFoundError):
        Layout(tmp_path / "missing").tags()


def test_an_empty_directory_becomes_the_layout(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()  # as after `mkdir out`
    with LayoutWriter(tmp_path / "out") as writer:
        writer.tag("ok", writer.add_layer(base_layer()))
    assert Layout(tmp_path / "out").tags() == ["ok"]
    assert Layout(tmp_path / "out").verify() > 0


def test_corrupt_blob_is_detected(layout: Path) -> None:
    digest = base_layer().digest.removeprefix("sha256:")
    blob = layout / "blobs" / "sha256" / digest
    data = bytearray(blob.read_bytes())
    data[20] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=digest):
        Layout(layout).verify()


def test_file_backed_layers(tmp_path: Path) -> None:
    layer = write_layer(
        [Entry("data.bin", EntryType.FILE, data=os.urandom(3 << 20))], EPOCH, dest=tmp_path / "l.gz"
    )
    root = tmp_path / "layout"
    with LayoutWriter(root) as writer:
        manifest = write_image(
            writer,
            Platform.for_debian("amd64"),
            [layer],
            runtime=RuntimeConfig(),
            source_date_epoch=EPOCH,
            annotations={},
        )
        writer.tag("big", manifest)
    assert Layout(root).verify() == 3
    assert Layout(root).config("big")["config"] == {}


# -- real clients ------------------------------------------------------------------------------


def ensure_tool(command: str, package: str) -> str:
    """Path of ``command``, installing Debian's ``package`` when missing; skip if apt can't."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{command} is missing and apt-get is not usable here to install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", package]
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:  # a stale package list: refresh it once and retry
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    found = shutil.which(command)
    if not found:
        pytest.skip(f"apt-get could not install {package}: {result.stderr.strip()[-300:]}")
    return found


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args} failed: {result.stderr}"
    return result.stdout


def skopeo_inspect(skopeo: str, ref: str, *extra: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(run(skopeo, *extra, "inspect", ref))
    return value


def test_skopeo_reads_tags_and_platforms(layout: Path, tmp_path: Path) -> None:
    skopeo = ensure_tool("skopeo", "skopeo")
    reader = Layout(layout)
    for arch in ("amd64", "arm64"):
        info = skopeo_inspect(skopeo, f"oci:{layout}:latest", "--override-arch", arch)
        assert info["Architecture"] == arch
        assert info["Os"] == "linux"
        manifest = reader.manifest("latest", Platform.for_debian(arch))
        assert info["Layers"] == [layer["digest"] for layer in manifest["layers"]]
        assert info["Env"] == ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"]
    single = skopeo_inspect(skopeo, f"oci:{layout}:1.0-arm64")
    assert single["Architecture"] == "arm64"  # bookworm's skopeo 1.9 does not show "Variant"
    raw = json.loads(run(skopeo, "inspect", "--raw", f"oci:{layout}:1.0"))
    assert raw["mediaType"] == INDEX_MEDIA_TYPE
    copied = tmp_path / "copied"
    run(skopeo, "--override-arch", "arm64", "copy", f"oci:{layout}:1.0", f"dir:{copied}")
    assert (copied / "manifest.json").exists()
    arm_layer = arch_layer("arm64").digest.removeprefix("sha256:")
    assert (copied / arm_layer).read_bytes() == arch_layer("arm64").read_bytes()


def test_umoci_unpacks_the_files(layout: Path, tmp_path: Path) -> None:
    umoci = ensure_tool("umoci", "umoci")
    bundle = tmp_path / "bundle"
    run(umoci, "unpack", "--rootless", "--image", f"{layout}:1.0-amd64", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "usr/bin/hello").read_text() == "hello amd64\n"
    assert (rootfs / "etc/os-release").read_text() == "ID=debian\n"
    assert os.readlink(rootfs / "bin") == "usr/bin"
    assert (rootfs / "usr/bin/hello").stat().st_mode & 0o777 == 0o755
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["args"] == ["/usr/bin/hello", "--greet"]
    assert runtime["process"]["cwd"] == "/home/nonroot"
