"""SBOMs attached to images as OCI 1.1 referrers in a layout, read back by us and by real clients.

The image spec's artifact guidelines are the contract (artifactType, the empty config, the payload
as the one layer, ``subject``); skopeo and podman must still find and pull the tagged images when
``index.json`` also lists untagged artifact manifests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from couturier.errors import InputError
from couturier.oci.documents import (
    CYCLONEDX_MEDIA_TYPE,
    EMPTY_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    SPDX_MEDIA_TYPE,
    Descriptor,
    Platform,
    rfc3339,
)
from couturier.oci.layout import Layout, LayoutWriter
from couturier.oci.sink import write_image, write_referrer
from tests.test_oci_layout import EPOCH, arch_layer, ensure_tool, run, write_release

EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
SPDX = b'{"spdxVersion": "SPDX-2.3", "name": "arm64 sbom"}\n'
CDX = b'{"bomFormat": "CycloneDX", "specVersion": "1.6"}\n'
CREATED = {"org.opencontainers.image.created": rfc3339(EPOCH)}


def attach_sboms(root: Path, subject: Descriptor) -> tuple[Descriptor, Descriptor]:
    with LayoutWriter(root) as writer:
        spdx = write_referrer(
            writer,
            subject,
            SPDX_MEDIA_TYPE,
            SPDX,
            SPDX_MEDIA_TYPE,
            annotations=CREATED,
            title="sbom.spdx.json",
        )
        cdx = write_referrer(
            writer, subject, CYCLONEDX_MEDIA_TYPE, CDX, CYCLONEDX_MEDIA_TYPE, annotations=CREATED
        )
    return spdx, cdx


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    root = tmp_path / "out" / "hello"
    write_release(root, "1.0", ["1.0", "latest"])
    return root


def arm64(layout: Path) -> Descriptor:
    return Layout(layout).manifest_descriptor("latest", Platform.for_debian("arm64"))


def test_an_sbom_is_an_artifact_manifest_about_the_image(layout: Path) -> None:
    subject = arm64(layout)
    spdx, _ = attach_sboms(layout, subject)
    reader = Layout(layout)
    assert (spdx.media_type, spdx.artifact_type) == (MANIFEST_MEDIA_TYPE, SPDX_MEDIA_TYPE)
    manifest = reader.read_json(spdx)
    assert manifest == {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": SPDX_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [
            {
                "mediaType": SPDX_MEDIA_TYPE,
                "digest": "sha256:" + hashlib.sha256(SPDX).hexdigest(),
                "size": len(SPDX),
                "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"},
            }
        ],
        "subject": {
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": subject.digest,
            "size": subject.size,
        },
        "annotations": CREATED,
    }
    empty = Descriptor(EMPTY_MEDIA_TYPE, EMPTY_DIGEST, 2)
    assert reader.read_blob(empty) == b"{}"  # the empty config is really stored
    # index.json lists the artifacts untagged, with their artifactType
    entries = json.loads((layout / "index.json").read_bytes())["manifests"]
    untagged = [e for e in entries if REF_NAME not in e.get("annotations", {})]
    assert {e["artifactType"] for e in untagged} == {CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE}
    assert reader.tags() == ["1.0", "1.0-amd64", "1.0-arm64", "latest"]
    # 8 image blobs, + empty config, 2 payloads, 2 artifact manifests
    assert reader.verify() == 8 + 5


def test_referrers_are_found_by_subject_and_type(layout: Path) -> None:
    subject = arm64(layout)
    spdx, cdx = attach_sboms(layout, subject)
    reader = Layout(layout)
    found = reader.referrers(subject.digest)
    assert [d.digest for d in found] == sorted([spdx.digest, cdx.digest])
    assert {d.artifact_type for d in found} == {SPDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE}
    assert all(d.annotations == CREATED for d in found)
    [only] = reader.referrers(subject.digest, CYCLONEDX_MEDIA_TYPE)
    assert only == cdx
    assert reader.read_artifact(only) == CDX
    assert reader.read_artifact(reader.referrers(subject.digest, SPDX_MEDIA_TYPE)[0]) == SPDX
    amd = reader.manifest_descriptor("latest", Platform.for_debian("amd64"))
    assert reader.referrers(amd.digest) == []
    assert reader.referrers(subject.digest, "application/vnd.example+json") == []
    with pytest.raises(InputError, match="layers"):
        reader.read_artifact(reader.tagged("1.0-arm64"))  # an image has two layers


def test_referrers_survive_later_commits_and_are_stored_once(layout: Path) -> None:
    subject = arm64(layout)
    spdx, cdx = attach_sboms(layout, subject)
    write_release(layout, "2.0", ["2.0", "latest"], greeting="hi")
    attach_sboms(layout, subject)  # the same artifacts again: no second entry
    reader = Layout(layout)
    assert [d.digest for d in reader.referrers(subject.digest)] == sorted([spdx.digest, cdx.digest])
    entries = reader.read_index()
    assert len(entries) == 7 + 2  # 7 tags, 2 artifacts
    assert reader.tagged("1.0-arm64").digest == subject.digest
    assert reader.tagged("latest").digest == reader.tagged("2.0").digest
    assert not [p for p in layout.parent.iterdir() if p.name.startswith(".")]


def test_images_and_their_referrers_in_one_commit(tmp_path: Path) -> None:
    """What a build does: stage the image, attach its SBOMs, tag it, commit once."""
    from couturier.oci.documents import RuntimeConfig

    def write(root: Path) -> Descriptor:
        with LayoutWriter(root) as writer:
            image = write_image(
                writer,
                Platform.for_debian("amd64"),
                [arch_layer("amd64")],
                runtime=RuntimeConfig(),
                source_date_epoch=EPOCH,
                annotations={},
            )
            write_referrer(
                writer, image, SPDX_MEDIA_TYPE, SPDX, SPDX_MEDIA_TYPE, annotations=CREATED
            )
            writer.tag("1.0", image)
        return image

    image = write(tmp_path / "a")
    write(tmp_path / "b")
    assert (tmp_path / "a/index.json").read_bytes() == (tmp_path / "b/index.json").read_bytes()
    [sbom] = Layout(tmp_path / "a").referrers(image.digest)
    assert Layout(tmp_path / "a").read_artifact(sbom) == SPDX


def test_bad_referrers_are_refused(layout: Path) -> None:
    subject = arm64(layout)
    layer = Descriptor.of_layer(arch_layer("amd64"))
    blobs = sorted(os.listdir(layout / "blobs/sha256"))
    with LayoutWriter(layout) as writer:
        with pytest.raises(InputError, match="artifact type"):
            write_referrer(writer, subject, "spdx", SPDX, SPDX_MEDIA_TYPE)
        with pytest.raises(InputError, match="payload media type"):
            write_referrer(writer, subject, SPDX_MEDIA_TYPE, SPDX, "json")
        with pytest.raises(InputError, match="subject"):
            write_referrer(writer, layer, SPDX_MEDIA_TYPE, SPDX, SPDX_MEDIA_TYPE)
        with pytest.raises(InputError, match="tag name"):
            write_referrer(
                writer, subject, SPDX_MEDIA_TYPE, SPDX, SPDX_MEDIA_TYPE, annotations={REF_NAME: "x"}
            )
    assert Layout(layout).referrers(subject.digest) == []
    assert sorted(os.listdir(layout / "blobs/sha256")) == blobs  # nothing half-written


# -- real clients ------------------------------------------------------------------------------


def test_skopeo_still_reads_and_copies_tagged_images(layout: Path, tmp_path: Path) -> None:
    skopeo = ensure_tool("skopeo", "skopeo")
    subject = arm64(layout)
    attach_sboms(layout, subject)
    info = json.loads(run(skopeo, "--override-arch", "arm64", "inspect", f"oci:{layout}:latest"))
    assert info["Architecture"] == "arm64"
    single = json.loads(run(skopeo, "inspect", f"oci:{layout}:1.0-arm64"))
    assert single["Digest"] == subject.digest
    copied = tmp_path / "copied"
    run(skopeo, "copy", f"oci:{layout}:1.0-arm64", f"dir:{copied}")
    assert json.loads((copied / "manifest.json").read_bytes())["layers"][1]["digest"] == (
        arch_layer("arm64").digest
    )
    # a whole-layout copy to a fresh layout keeps the tag working there too
    again = tmp_path / "again"
    run(skopeo, "copy", f"oci:{layout}:1.0-amd64", f"oci:{again}:amd")
    assert Layout(again).tagged("amd").media_type == MANIFEST_MEDIA_TYPE


def test_podman_pulls_tagged_images_from_a_layout_with_referrers(
    layout: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    attach_sboms(layout, arm64(layout))
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    # A storage of its own (podman wants a short runroot path); vfs needs no kernel support.
    runroot = tempfile.mkdtemp(prefix="cr-", dir="/tmp")
    storage = ["--root", str(tmp_path / "storage"), "--runroot", runroot, "--storage-driver", "vfs"]
    request.addfinalizer(lambda: shutil.rmtree(runroot, ignore_errors=True))

    def podman(*args: str) -> str:
        done = subprocess.run(
            ["podman", *storage, *args], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    image_id = podman("pull", "-q", f"oci:{layout}:1.0-amd64").strip()
    [inspected] = json.loads(podman("image", "inspect", image_id))
    assert inspected["Architecture"] == "amd64"
    assert inspected["Config"]["Entrypoint"] == ["/usr/bin/hello"]
