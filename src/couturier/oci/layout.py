"""OCI image layout directories: writing them atomically and reading them back.

A layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``) holds many tagged images: each
tag is its own ``index.json`` entry whose ``org.opencontainers.image.ref.name`` annotation is the
tag, so ``skopeo inspect oci:DIR:3.13`` and ``podman run oci:DIR:latest`` find it.

:class:`LayoutWriter` stages everything in a temporary directory beside the target
(``.<name>.partial-*``, locked by its writer: staging directories that no running writer holds,
a killed build's, are removed when the next writer starts), then publishes it:

- a new layout is renamed into place whole, so the target either does not exist or is complete;
- into an existing layout, the staged blobs are renamed in first (blobs are content-addressed and
  written once: one already present is kept, once its sha256 was checked; a damaged one is
  replaced by the new build's and reported through ``warn``), and ``index.json`` is replaced
  last by a rename. A failure at any point leaves the old ``index.json`` in force, referring
  only to whole blobs.

An existing layout's ``oci-layout`` file that no longer says ``{"imageLayoutVersion":
"1.0.0"}`` is rewritten at commit (and reported through ``warn``). A damaged ``index.json`` is
refused (:class:`StateError` naming it, when the writer is made and again at commit): it alone
holds the layout's tags, which the blobs cannot tell, so overwriting it would lose them.

Commits are serialized with an ``flock`` on the target's parent directory, so two builds adding
lines to one layout do not lose each other's tags. :class:`Layout` reads a layout and verifies
blobs against their digests.

Documents about an image (SBOMs) are stored as OCI 1.1 *referrers*
(:func:`couturier.oci.sink.write_referrer`): an artifact manifest whose ``subject`` is the
image's manifest, listed in ``index.json`` without a tag (with its ``artifactType``,
:meth:`LayoutWriter.list_referrer`), so it survives later commits and clients that look images
up by tag (skopeo, podman) pass over it; :meth:`Layout.referrers` finds them again by subject,
as a registry's referrers API would.

:class:`LayoutSink` is a layout directory as the build's image sink
(:class:`couturier.oci.sink.ImageSink`); :class:`LayoutWriter` is its writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from couturier.core.tags import TAG_PATTERN
from couturier.errors import Code, InputError, IntegrityError, NotFoundError, StateError
from couturier.integrity import Partial, atomic_write, file_problem, is_partial_of, sweep_partials
from couturier.oci.documents import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    Blob,
    Descriptor,
    Platform,
    canonical_json,
)
from couturier.oci.layer import Layer

__all__ = ["LAYOUT_VERSION", "Layout", "LayoutSink", "LayoutWriter"]

LAYOUT_VERSION = "1.0.0"
# Docker/OCI distribution tag grammar: what registries accept, so a layout tag can be pushed as is.
_TAG = TAG_PATTERN
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LAYOUT_FILE = canonical_json({"imageLayoutVersion": LAYOUT_VERSION})


class LayoutSink:
    """The OCI image layout directory at ``root`` as an image sink
    (:class:`couturier.oci.sink.ImageSink`): each writer is a :class:`LayoutWriter`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def check(self) -> None:
        """Refuse, before anything is built, a ``root`` the layout writer would refuse after
        the build: anything that exists and is not an OCI image layout (a file, a directory of
        other things; an empty directory is fine and becomes the layout), a missing ``root``
        below a file (it could never be made), or a layout whose ``index.json`` cannot be
        read. A missing ``root`` is otherwise fine; the commit checks again. Raises
        :class:`InputError` naming it, :class:`StateError` for a damaged layout."""
        output = self.root
        hint = "name a new directory (it is created) or an OCI image layout"
        code, fields = Code.OUTPUT_UNUSABLE, {"path": str(output)}
        try:
            if not output.exists():
                above = next((p for p in output.absolute().parents if p.exists()), None)
                if above is not None and not above.is_dir():
                    message = f"output {output} cannot be made: {above} is not a directory"
                    raise InputError(message, hint, code=code, fields=fields)
                return
            if not output.is_dir():
                message = f"output {output} exists and is not a directory"
                raise InputError(message, hint, code=code, fields=fields)
            if (output / "oci-layout").is_file():
                Layout(output).read_index()  # a damaged index.json: StateError, as at the commit
                return
            if next(output.iterdir(), None) is None:
                return  # an empty directory becomes the layout
            raise InputError(
                f"output {output} is a directory that holds other things than an OCI image "
                "layout (no oci-layout file)",
                hint,
                code=code,
                fields=fields,
            )
        except OSError as error:
            message = f"output {output} cannot be used: {error.strerror}"
            raise InputError(message, hint, code=code, fields=fields) from None

    def writer(self, warn: Callable[[str], None]) -> LayoutWriter:
        """A :class:`LayoutWriter` staging beside ``root``."""
        return LayoutWriter(self.root, warn)


class LayoutWriter:
    """Stages blobs and tags for the layout at ``root``; :meth:`commit` publishes them at once.

    Use as a context manager: leaving the block normally commits, an exception aborts (the staging
    directory is removed and ``root`` is untouched). Not thread-safe; one writer per build.
    ``warn`` receives one line per damaged blob (or ``oci-layout`` file) of an existing layout
    that was rewritten. Raises :class:`InputError` for an existing ``root`` that is not an OCI
    layout and :class:`StateError` for one whose ``index.json`` is damaged.
    """

    def __init__(self, root: Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self._warn = warn or (lambda message: None)
        if root.exists() and not _empty_directory(root):
            Layout(root).read_index()  # refused now, before anything is staged
        root.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{root.name}.partial-"
        sweep_partials(root.parent, lambda name: name.startswith(prefix))
        self._partial = Partial.directory(root.parent, prefix)
        self._stage = self._partial.path
        try:
            umask = os.umask(0)
            os.umask(umask)
            self._stage.chmod(0o777 & ~umask)
            (self._stage / "blobs" / "sha256").mkdir(parents=True)
        except BaseException:
            self._partial.remove()  # no staging directory left behind
            raise
        self._sound: set[str] = set()  # blobs of the existing layout whose sha256 was checked
        self._tags: dict[str, Descriptor] = {}
        self._untagged: dict[str, Descriptor] = {}  # referrers, by digest
        self._finished = False

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    # -- blobs --------------------------------------------------------------------------------

    def _has_blob(self, digest: str) -> bool:
        """Whether ``digest`` is staged, or sound in the existing layout (checked once per
        writer: one read of the blob). A damaged blob counts as absent, so it is staged and
        replaces the damaged one at commit."""
        name = Path("blobs", "sha256", digest.removeprefix("sha256:"))
        if digest in self._sound or (self._stage / name).exists():
            return True
        if not (self.root / name).exists() or _blob_problem(self.root / name, digest):
            return False
        self._sound.add(digest)
        return True

    def _staged_path(self, digest: str) -> Path:
        return self._stage / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def add_blob(
        self,
        blob: Blob,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> Descriptor:
        """Stage a small document (config, manifest, index) unless the layout has it already."""
        descriptor = blob.descriptor(annotations, platform)
        if not self._has_blob(descriptor.digest):
            self._staged_path(descriptor.digest).write_bytes(blob.data)
        return descriptor

    def add_layer(self, layer: Layer) -> Descriptor:
        """Stage a layer blob unless the layout has it already.

        A file-backed layer is copied, not hardlinked: rewriting the layer file later must not
        change a published blob. (``copyfile`` uses the kernel's in-place copy where it can.)
        """
        if not self._has_blob(layer.digest):
            dest = self._staged_path(layer.digest)
            try:
                if layer.path is None:
                    dest.write_bytes(layer.data or b"")
                else:
                    shutil.copyfile(layer.path, dest)
            except BaseException:
                dest.unlink(missing_ok=True)  # a fragment must never carry a blob's name
                raise
        return Descriptor.of_layer(layer)

    def list_referrer(self, manifest: Descriptor) -> None:
        """List the staged artifact manifest ``manifest`` in ``index.json`` without a tag (with
        its ``artifactType`` and annotations): :meth:`Layout.referrers` finds it by subject."""
        self._untagged[manifest.digest] = manifest

    def tag(self, ref: str, descriptor: Descriptor) -> str:
        """Point tag ``ref`` at a staged manifest or index; a later call for ``ref`` wins.
        Returns ``ref`` (a layout's tags are all replaced by a later build's).

        Raises :class:`InputError` for a tag that registries would refuse.
        """
        if not _TAG.fullmatch(ref):
            raise InputError(
                f"tag {ref!r} is not a valid image tag",
                "use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')",
                fields={"kind": "tag", "value": ref[:200]},
            )
        annotations = {**descriptor.annotations, REF_NAME: ref}
        self._tags[ref] = Descriptor(
            descriptor.media_type, descriptor.digest, descriptor.size, annotations
        )
        return ref

    # -- publishing -----------------------------------------------------------------------------

    def commit(self) -> None:
        """Publish staged blobs and tags; afterwards this writer can no longer be used.

        Cost: one rename per new blob plus rewriting ``index.json``. Raises :class:`InputError`
        if ``root`` exists but is not an OCI layout, :class:`StateError` if its ``index.json``
        is damaged (nothing is changed then).
        """
        self._check_open()
        try:
            with _locked(self.root.parent):
                # rename(2) replaces an empty directory: `mkdir out` first is fine.
                if not self.root.exists() or _empty_directory(self.root):
                    self._publish_new()
                else:
                    self._publish_into_existing()
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop everything staged; ``root`` stays as it was. Safe to call more than once."""
        self._finished = True
        self._partial.remove()

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("layout writer was already committed or aborted")

    def _publish_new(self) -> None:
        _write_file(self._stage / "oci-layout", _LAYOUT_FILE)
        _write_file(self._stage / "index.json", _index_json({}, self._entries()))
        os.rename(self._stage, self.root)

    def _publish_into_existing(self) -> None:
        existing = Layout(self.root)
        current = existing.read_index()
        problem = existing.layout_file_problem()
        if problem is not None:
            _write_file(self.root / "oci-layout", _LAYOUT_FILE)
            self._warn(f"{self.root / 'oci-layout'} {problem}: it was damaged; rewrote it")
        blobs = self.root / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        # Only commits write these, under the lock held here: any left is a killed commit's.
        sweep_partials(self.root, _is_commit_partial)
        for staged in sorted((self._stage / "blobs" / "sha256").iterdir()):
            target = blobs / staged.name
            if not target.exists():
                os.rename(staged, target)
                continue
            problem = _blob_problem(target, f"sha256:{staged.name}")
            if problem is not None:
                os.replace(staged, target)
                self._warn(
                    f"blob sha256:{staged.name} in {self.root} {problem}: it was damaged; "
                    "rewrote it from this build"
                )
        kept = {_entry_key(entry): entry for entry in current}
        _write_file(self.root / "index.json", _index_json(kept, self._entries()))

    def _entries(self) -> dict[str, Descriptor]:
        """The ``index.json`` entries this writer adds: tags, and referrers by digest."""
        untagged = {_entry_key(entry): entry for entry in self._untagged.values()}
        return {**untagged, **self._tags}


def _damaged_index(path: Path, problem: str) -> StateError:
    return StateError(
        f"{path} {problem}: it holds the layout's tags, which cannot be recovered from the blobs",
        f"move {path.parent} aside (or restore {path.name} from a backup) and build again; "
        "Couturier does not overwrite it",
        str(path),
        fields={"problem": problem},
    )


def _blob_problem(path: Path, digest: str) -> str | None:
    """How the blob file at ``path`` differs from ``digest`` (None when it is that blob)."""
    try:
        return file_problem(path, digest.removeprefix("sha256:"))
    except OSError as error:
        return f"cannot be read ({error.strerror})"


def _empty_directory(path: Path) -> bool:
    """Whether ``path`` is a directory with nothing in it (a new layout may take its place)."""
    return path.is_dir() and not path.is_symlink() and next(path.iterdir(), None) is None


def _entry_key(descriptor: Descriptor) -> str:
    """What identifies an ``index.json`` entry: its tag, or for an untagged one its digest."""
    return _ref(descriptor) or f"\0{descriptor.digest}"


def _ref(descriptor: Descriptor) -> str:
    return descriptor.annotations.get(REF_NAME, "")


def _index_json(kept: Mapping[str, Descriptor], added: Mapping[str, Descriptor]) -> bytes:
    """The layout's ``index.json``: kept entries overridden by ``added`` (both keyed by
    :func:`_entry_key`), sorted by tag name (untagged entries first, by digest)."""
    merged = {**kept, **added}
    entries = sorted(merged.values(), key=lambda d: (_ref(d), d.digest))
    body = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [entry.to_json() for entry in entries],
    }
    return canonical_json(body)


def _is_commit_partial(name: str) -> bool:
    """A partial ``index.json`` or ``oci-layout`` (``.index.json.tmp-<pid>``: older versions')."""
    return (
        is_partial_of(name, "index.json")
        or is_partial_of(name, "oci-layout")
        or name.startswith(".index.json.tmp-")
    )


def _write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically (mode 0644; see :func:`atomic_write`)."""
    atomic_write(path, data, mode=0o644)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` (serializes commits of layouts inside it)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Layout:
    """Reads an OCI image layout at ``root``. Every blob read is checked against its digest.

    Raises :class:`NotFoundError` for a missing layout, tag or blob, :class:`IntegrityError` for
    a blob whose content does not match its digest or size, :class:`InputError` for a directory
    that is not an OCI layout.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_index(self) -> list[Descriptor]:
        """The entries of ``index.json``, in file order.

        Raises :class:`NotFoundError` when there is no layout, :class:`InputError` for a
        directory without an ``oci-layout`` file, and :class:`StateError` for an ``index.json``
        that cannot be read or parsed: it alone holds the layout's tags, so it is never
        rebuilt from the blobs (nothing would say which manifest each tag named).
        """
        if not (self.root / "oci-layout").is_file():
            if not self.root.exists():
                raise NotFoundError(
                    f"no OCI layout at {self.root}", fields={"path": str(self.root)}
                )
            raise InputError(
                f"{self.root} is not an OCI image layout (no oci-layout file)",
                fields={"path": str(self.root)},
            )
        path = self.root / "index.json"
        try:
            body = json.loads(path.read_bytes())
            if not isinstance(body, dict) or not isinstance(body.get("manifests", []), list):
                raise ValueError("it is not an image index")
            return [Descriptor.from_json(entry) for entry in body.get("manifests", [])]
        except OSError as error:
            problem = "is missing" if isinstance(error, FileNotFoundError) else error.strerror
            raise _damaged_index(path, str(problem)) from error
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            raise _damaged_index(path, f"cannot be parsed: {error}") from error

    def layout_file_problem(self) -> str | None:
        """How the ``oci-layout`` file differs from ``{"imageLayoutVersion": "1.0.0"}``, in
        words; None when it is that. Cost: one small read."""
        try:
            body = json.loads((self.root / "oci-layout").read_bytes())
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        except ValueError:
            return "is not JSON"
        if not isinstance(body, dict) or body.get("imageLayoutVersion") != LAYOUT_VERSION:
            return f"does not say imageLayoutVersion {LAYOUT_VERSION}"
        return None

    def tags(self) -> list[str]:
        """The tags of the layout, sorted."""
        return sorted(ref for entry in self.read_index() if (ref := _ref(entry)))

    def tagged(self, tag: str) -> Descriptor:
        """The descriptor (manifest or index) that ``tag`` points to."""
        for entry in self.read_index():
            if _ref(entry) == tag:
                return entry
        raise NotFoundError(
            f"tag {tag!r} is not in {self.root}",
            f"tags: {', '.join(self.tags())}",
            fields={"tag": tag, "path": str(self.root)},
        )

    def blob_path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives; raises :class:`InputError` for a non-sha256 digest."""
        if not _DIGEST.fullmatch(digest):
            raise InputError(f"unsupported digest {digest!r}", "layouts hold sha256 blobs only")
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def read_blob(self, descriptor: Descriptor) -> bytes:
        """The content of a blob, verified against the descriptor's digest and size."""
        path = self.blob_path(descriptor.digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"blob {descriptor.digest} is missing from {self.root}",
                fields={"digest": descriptor.digest, "path": str(self.root)},
            ) from None
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != descriptor.digest or len(data) != descriptor.size:
            raise IntegrityError(
                f"blob {descriptor.digest} in {self.root} has digest {actual} and size {len(data)}"
                f" (expected size {descriptor.size})",
                code=Code.BLOB_DAMAGED,
                fields={
                    "path": str(self.root),
                    "expected_digest": descriptor.digest,
                    "actual_digest": actual,
                    "expected_size": descriptor.size,
                    "actual_size": len(data),
                },
            )
        return data

    def read_json(self, descriptor: Descriptor) -> dict[str, Any]:
        """A verified JSON blob, parsed."""
        value: dict[str, Any] = json.loads(self.read_blob(descriptor))
        return value

    def manifest_descriptor(self, tag: str, platform: Platform | None = None) -> Descriptor:
        """The image manifest of ``tag``: itself, or for an index, the one for ``platform``.

        With an index and no ``platform``, the index must hold exactly one manifest.
        """
        descriptor = self.tagged(tag)
        if descriptor.media_type == MANIFEST_MEDIA_TYPE:
            return descriptor
        candidates = [
            Descriptor.from_json(entry) for entry in self.read_json(descriptor)["manifests"]
        ]
        if platform is not None:
            candidates = [c for c in candidates if _matches(c.platform, platform)]
        if len(candidates) != 1:
            wanted = f"platform {platform}" if platform else "one platform"
            raise NotFoundError(
                f"tag {tag!r} has {len(candidates)} manifests for {wanted}",
                fields={"tag": tag, "path": str(self.root), "manifests": len(candidates)},
            )
        return candidates[0]

    def manifest(self, tag: str, platform: Platform | None = None) -> dict[str, Any]:
        """The parsed image manifest of ``tag`` (see :meth:`manifest_descriptor`)."""
        return self.read_json(self.manifest_descriptor(tag, platform))

    def config(self, tag: str, platform: Platform | None = None) -> dict[str, Any]:
        """The parsed image config of ``tag``."""
        return self.read_json(Descriptor.from_json(self.manifest(tag, platform)["config"]))

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """The artifacts in ``index.json`` whose ``subject`` is ``digest``, optionally only those
        of ``artifact_type``, sorted by digest.

        Each descriptor carries the manifest's ``artifactType`` and annotations, as a registry's
        referrers API lists them. Cost: reads every manifest and index that ``index.json``
        lists (small JSON documents), verified.
        """
        found: dict[str, Descriptor] = {}
        for entry in self.read_index():
            if entry.media_type not in (MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE):
                continue
            body = self.read_json(entry)
            if (body.get("subject") or {}).get("digest") != digest:
                continue
            kind = body.get("artifactType") or body.get("config", {}).get("mediaType", "")
            if artifact_type is not None and kind != artifact_type:
                continue
            annotations = dict(body.get("annotations") or {})
            found[entry.digest] = Descriptor(
                entry.media_type, entry.digest, entry.size, annotations, artifact_type=kind
            )
        return [found[key] for key in sorted(found)]

    def read_artifact(self, descriptor: Descriptor) -> bytes:
        """The payload of an artifact manifest that carries exactly one layer, verified.

        Raises :class:`InputError` when the manifest has no layer or several.
        """
        layers = self.read_json(descriptor).get("layers") or []
        if len(layers) != 1:
            raise InputError(
                f"artifact {descriptor.digest} has {len(layers)} layers, not one",
                "read its layers one by one with read_blob",
            )
        return self.read_blob(Descriptor.from_json(layers[0]))

    def verify(self) -> int:
        """Check every blob reachable from ``index.json``; returns how many were checked.

        Cost: reads every blob once (layers streamed in 1 MiB chunks).
        """
        seen: set[str] = set()
        pending = list(self.read_index())
        while pending:
            descriptor = pending.pop()
            if descriptor.digest in seen:
                continue
            seen.add(descriptor.digest)
            if descriptor.media_type == INDEX_MEDIA_TYPE:
                body = self.read_json(descriptor)
                pending += [Descriptor.from_json(entry) for entry in body["manifests"]]
            elif descriptor.media_type == MANIFEST_MEDIA_TYPE:
                body = self.read_json(descriptor)
                pending.append(Descriptor.from_json(body["config"]))
                pending += [Descriptor.from_json(entry) for entry in body["layers"]]
            else:
                self._verify_streamed(descriptor)
        return len(seen)

    def _verify_streamed(self, descriptor: Descriptor) -> None:
        path = self.blob_path(descriptor.digest)
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise NotFoundError(
                f"blob {descriptor.digest} is missing from {self.root}",
                fields={"digest": descriptor.digest, "path": str(self.root)},
            ) from None
        actual = "sha256:" + digest.hexdigest()
        if actual != descriptor.digest or size != descriptor.size:
            raise IntegrityError(
                f"blob {descriptor.digest} in {self.root} has digest {actual} and size {size}"
                f" (expected size {descriptor.size})",
                code=Code.BLOB_DAMAGED,
                fields={
                    "path": str(self.root),
                    "expected_digest": descriptor.digest,
                    "actual_digest": actual,
                    "expected_size": descriptor.size,
                    "actual_size": size,
                },
            )


def _matches(have: Platform | None, want: Platform) -> bool:
    if have is None:
        return False
    same = have.architecture == want.architecture and have.os == want.os
    return same and (not want.variant or have.variant == want.variant)
