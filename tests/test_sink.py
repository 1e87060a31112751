"""The build writes images through the image sink port only (:mod:`couturier.oci.sink`).

A second sink, kept in memory here, stands in for the blob store or registry of the next
issues: the build service never learns it is not a layout directory, and the same build gives
the same digests, blobs, referrers and tags in both. A sink whose writes fail for one line
fails that line only (on the fixture repository of :mod:`tests.test_build`).
"""

from __future__ import annotations

import ast
import errno
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from couturier.core.starter import Starter
from couturier.oci.documents import (
    CYCLONEDX_MEDIA_TYPE,
    REF_NAME,
    SPDX_MEDIA_TYPE,
    Blob,
    Descriptor,
    Platform,
)
from couturier.oci.layer import Layer
from couturier.oci.layout import Layout, LayoutSink
from couturier.oci.sink import ImageSink, ImageWriter
from couturier.services import build as build_service
from couturier.services.build import BuildResult, ImageRequest, build
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.fixture_repo import SigningKey
from tests.test_build import (  # noqa: F401 - fixtures
    NOW,
    RELEASES,
    repo,
    settings_in,
    starter,
)


class MemoryWriter:
    """Stores blobs in memory; publishes them into its :class:`MemorySink` at the commit."""

    def __init__(self, sink: MemorySink, fail_layer: Callable[[Layer], bool]) -> None:
        self._sink, self._fail_layer = sink, fail_layer
        self._blobs: dict[str, bytes] = {}
        self._tags: dict[str, Descriptor] = {}
        self._referrers: dict[str, Descriptor] = {}
        self._done = False

    def add_blob(
        self,
        blob: Blob,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> Descriptor:
        descriptor = blob.descriptor(annotations, platform)
        self._blobs[descriptor.digest] = blob.data
        return descriptor

    def add_layer(self, layer: Layer) -> Descriptor:
        if self._fail_layer(layer):
            raise OSError(errno.ENOSPC, "No space left on device")
        data = layer.path.read_bytes() if layer.path is not None else layer.data or b""
        self._blobs[layer.digest] = data
        return Descriptor.of_layer(layer)

    def list_referrer(self, manifest: Descriptor) -> None:
        self._referrers[manifest.digest] = manifest

    def tag(self, ref: str, descriptor: Descriptor) -> str:
        self._tags[ref] = descriptor
        return ref

    def commit(self) -> None:
        assert not self._done, "committed twice"
        self._sink.blobs.update(self._blobs)
        self._sink.tags.update(self._tags)
        self._sink.referrers.update(self._referrers)
        self._sink.commits += 1
        self._done = True

    def abort(self) -> None:
        self._done = True


class MemorySink:
    """An image sink holding everything in dicts: what a blob store or a registry would hold."""

    def __init__(self, fail_layer: Callable[[Layer], bool] = lambda layer: False) -> None:
        self.blobs: dict[str, bytes] = {}
        self.tags: dict[str, Descriptor] = {}
        self.referrers: dict[str, Descriptor] = {}
        self.commits = 0
        self.checked = 0
        self._fail_layer = fail_layer

    @property
    def location(self) -> str:
        return "memory"

    def check(self) -> None:
        self.checked += 1

    def writer(self, warn: Callable[[str], None]) -> ImageWriter:
        return MemoryWriter(self, self._fail_layer)


def test_both_sinks_are_image_sinks(tmp_path: Path) -> None:
    sinks: list[ImageSink] = [MemorySink(), LayoutSink(tmp_path / "out")]  # mypy checks this
    assert [sink.location for sink in sinks] == ["memory", str(tmp_path / "out")]


def test_the_build_service_knows_no_sink_implementation() -> None:
    """services/build.py imports the port, never the layout adapter."""
    tree = ast.parse(inspect.getsource(build_service))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "couturier.oci.sink" in imported
    assert "couturier.oci.layout" not in imported


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory,
    repo: Path,  # noqa: F811
    signing_key: SigningKey,
) -> Settings:
    return settings_in(tmp_path_factory.mktemp("sink") / "env", repo, signing_key)


def _build(settings: Settings, starter: Starter, sink: ImageSink) -> BuildResult:  # noqa: F811
    context = build_context(settings, sink=sink, now=NOW)
    return build(context, ImageRequest(starter, "tiny"))


def test_a_memory_sink_gets_what_a_layout_gets(
    tmp_path: Path,
    settings: Settings,
    starter: Starter,  # noqa: F811
) -> None:
    memory = MemorySink()
    in_memory = _build(settings, starter, memory)
    on_disk = _build(settings, starter, LayoutSink(tmp_path / "out"))
    assert in_memory.status == on_disk.status == "created", in_memory.to_json()
    assert (memory.checked, memory.commits) == (1, 1)
    assert [line.to_json() for line in in_memory.lines] == [
        line.to_json() for line in on_disk.lines
    ]
    layout = Layout(tmp_path / "out")
    # The same tags on the same digests, and every blob the layout holds, byte for byte.
    assert sorted(memory.tags) == layout.tags()
    for tag, descriptor in memory.tags.items():
        assert layout.tagged(tag).digest == descriptor.digest
    stored = {path.name for path in (tmp_path / "out" / "blobs" / "sha256").iterdir()}
    assert {digest.removeprefix("sha256:") for digest in memory.blobs} == stored
    for digest, data in memory.blobs.items():
        assert layout.blob_path(digest).read_bytes() == data
    # Both SBOMs of each line's image are referrers of its manifest, in both sinks.
    for line in in_memory.lines:
        kinds = sorted(r.artifact_type for r in layout.referrers(line.digest))
        assert kinds == sorted((SPDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE))
        body = Layout(tmp_path / "out").read_json(next(iter(layout.referrers(line.digest))))
        assert body["subject"]["digest"] == line.digest
    assert {d.digest for d in memory.referrers.values()} == {
        entry.digest for entry in layout.read_index() if REF_NAME not in entry.annotations
    }


def test_a_sink_that_cannot_store_one_line_fails_that_line_only(
    settings: Settings,
    starter: Starter,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Line 2's own layer (its tool of another version) does not fit: line 2 is failed with a
    storage error naming the sink, line 1 is written again without it and created."""
    reference = _build(settings, starter, LayoutSink(tmp_path / "reference"))
    layout = Layout(tmp_path / "reference")
    only_two = set(d["digest"] for d in layout.manifest("2")["layers"]) - {
        d["digest"] for d in layout.manifest("1")["layers"]
    }
    assert only_two
    memory = MemorySink(fail_layer=lambda layer: layer.digest in only_two)
    result = _build(settings, starter, memory)
    lines = {line.version: line for line in result.lines}
    assert result.status == "some lines created"
    assert lines["2"].status == "failed"
    problem = lines["2"].error
    assert problem is not None and problem.code == "storage-full"
    assert problem.message == "no space left on memory"
    assert problem.fields["path"] == "memory"
    assert lines["1"].status == "created"
    assert lines["1"].digest == {line.version: line for line in reference.lines}["1"].digest
    assert memory.commits == 1
    assert "2" not in memory.tags and "1" in memory.tags
