"""A content-addressed cache of built layers, so an unchanged rebuild reuses every layer.

A layer is named by a *key*: the sha256 of everything that decides its bytes (the kind of layer,
the sha256 of every package in it, the generated inputs, the timestamp, the engine's layer
format version). On disk, under ``root``::

    blobs/<hex>          the compressed layer, named by its digest
    keys/<key>.json      its descriptor (digest, diff_id, size) and the facts noted with it
    .partial/<random>    a layer or descriptor being written (locked by its writer)

Both files are written under a partial name and renamed into place, so a killed build leaves
either nothing or a complete entry; partial files that no running build holds are removed the
next time a layer is written (:func:`sweep_layer_partials`).

A layer taken from the cache is verified first: its blob's size and sha256 against the digest
recorded (one read of the blob, about 20 ms for the 22 MB of a ``python`` line's layers; an
instance remembers what it verified, by inode, size, mtime and ctime, so the layers of one
line build are read once however often they are asked for). A damaged entry is reported
through ``warn`` (once per instance) and rebuilt; the rebuilt blob replaces it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from couturier.integrity import FileStamp, Partial, atomic_write, file_problem, sweep_partials
from couturier.oci.layer import Layer

__all__ = ["LAYER_FORMAT", "PARTIAL_DIR", "LayerCache", "layer_key", "sweep_layer_partials"]

# Bumped whenever assembly or layer writing changes what the same inputs produce.
LAYER_FORMAT = "1"
PARTIAL_DIR = ".partial"


def sweep_layer_partials(root: Path) -> list[Path]:
    """Remove the partial files under the layer cache ``root`` that no running build holds."""
    return sweep_partials(root / PARTIAL_DIR, lambda name: True)


def layer_key(*parts: str) -> str:
    """The cache key of a layer built from ``parts`` (order matters)."""
    digest = hashlib.sha256(LAYER_FORMAT.encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


class LayerCache:
    """Layers by key, under ``root``; safe against concurrent writers (last rename wins).

    ``warn`` receives one line for each damaged entry found by :meth:`get`.
    """

    def __init__(self, root: Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self._warn = warn or (lambda message: None)
        self._verified: dict[Path, FileStamp] = {}
        self._damaged: set[Path] = set()  # reported once per instance

    def _key_path(self, key: str) -> Path:
        return self.root / "keys" / f"{key}.json"

    def note(self, key: str) -> dict[str, Any]:
        """The extra facts stored with the layer of ``key`` (empty when absent)."""
        try:
            meta = json.loads(self._key_path(key).read_text())
        except (OSError, ValueError):
            return {}
        extra: dict[str, Any] = meta.get("note", {})
        return extra

    def get(self, key: str) -> Layer | None:
        """The cached layer for ``key``, its blob verified; None when absent or damaged.

        A damaged entry (blob gone, another size, another sha256, unreadable descriptor) is
        reported to ``warn``, so the caller rebuilds it (:meth:`build` replaces it). Cost:
        reading the descriptor, and the blob once per instance (see the module docstring).
        """
        key_path = self._key_path(key)
        try:
            meta = json.loads(key_path.read_text())
            digest, size = str(meta["digest"]), int(meta["size"])
            diff_id = str(meta["diff_id"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            key_path.unlink(missing_ok=True)
            self._warn(f"cached layer descriptor {key_path} was unreadable; rebuilding the layer")
            return None
        path = self.root / "blobs" / digest.removeprefix("sha256:")
        problem = self._problem(path, digest, size)
        if problem is not None:
            # Left in place: the rebuilt layer replaces it by a rename, and a concurrent build
            # that has just written a good copy under the same name keeps it.
            if path not in self._damaged:
                self._damaged.add(path)
                self._warn(f"cached layer {digest} {problem}: it was damaged; rebuilding it")
            return None
        return Layer(digest, diff_id, size, path=path)

    def _problem(self, path: Path, digest: str, size: int) -> str | None:
        try:
            stamp = FileStamp.of(path.stat())
        except FileNotFoundError:
            return "is missing"
        if self._verified.get(path) == stamp:
            return None
        try:
            problem = file_problem(path, digest.removeprefix("sha256:"), size)
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        if problem is None:
            self._verified[path] = stamp
        return problem

    def build(
        self, key: str, make: Callable[[Path], Layer], note: dict[str, Any] | None = None
    ) -> Layer:
        """The layer for ``key``, made with ``make(destination)`` on a miss and then cached with
        the facts in ``note``. Raises what ``make`` raises and :class:`OSError` (a full disk:
        the cache then holds no part of the entry)."""
        cached = self.get(key)
        if cached is not None:
            return cached
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        (self.root / "keys").mkdir(parents=True, exist_ok=True)
        partials = self.root / PARTIAL_DIR
        sweep_layer_partials(self.root)
        with Partial.file(partials, "") as partial:
            layer = make(partial.path)
            final = blobs / layer.digest.removeprefix("sha256:")
            os.replace(partial.path, final)
        meta = {
            "digest": layer.digest,
            "diff_id": layer.diff_id,
            "size": layer.size,
            "note": note or {},
        }
        # Not fsynced (nor is the blob): after a crash, get() verifies the blob and rebuilds it.
        atomic_write(
            self._key_path(key), json.dumps(meta).encode(), durable=False, staging=partials
        )
        self._verified[final] = FileStamp.of(final.stat())
        return Layer(layer.digest, layer.diff_id, layer.size, path=final)
