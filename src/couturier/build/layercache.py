"""A content-addressed cache of built layers, so an unchanged rebuild reuses every layer.

A layer is named by a *key*: the sha256 of everything that decides its bytes (the kind of layer,
the sha256 of every package in it, the generated inputs, the timestamp, the engine's layer
format version). The compressed blob lives under ``blobs/<digest>`` and the key maps to its
descriptor in ``keys/<key>.json``; both are written atomically, so a killed build leaves either
nothing or a complete entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from couturier.oci.layer import Layer

__all__ = ["LAYER_FORMAT", "LayerCache", "layer_key"]

# Bumped whenever assembly or layer writing changes what the same inputs produce.
LAYER_FORMAT = "1"


def layer_key(*parts: str) -> str:
    """The cache key of a layer built from ``parts`` (order matters)."""
    digest = hashlib.sha256(LAYER_FORMAT.encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


class LayerCache:
    """Layers by key, under ``root``; safe against concurrent writers (last rename wins)."""

    def __init__(self, root: Path) -> None:
        self.root = root

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
        """The cached layer for ``key``, or None when absent or its blob is gone."""
        try:
            meta = json.loads(self._key_path(key).read_text())
            path = self.root / "blobs" / meta["digest"].removeprefix("sha256:")
            if path.stat().st_size != meta["size"]:
                return None
        except (OSError, ValueError, KeyError):
            return None
        return Layer(meta["digest"], meta["diff_id"], meta["size"], path=path)

    def build(
        self, key: str, make: Callable[[Path], Layer], note: dict[str, Any] | None = None
    ) -> Layer:
        """The layer for ``key``, made with ``make(destination)`` on a miss and then cached with
        the facts in ``note``."""
        cached = self.get(key)
        if cached is not None:
            return cached
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        (self.root / "keys").mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=blobs, prefix=".partial-")
        os.close(fd)
        try:
            layer = make(Path(temp))
            final = blobs / layer.digest.removeprefix("sha256:")
            os.replace(temp, final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        meta = {
            "digest": layer.digest,
            "diff_id": layer.diff_id,
            "size": layer.size,
            "note": note or {},
        }
        fd, temp_meta = tempfile.mkstemp(dir=self.root / "keys", prefix=".partial-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(meta, handle)
            os.replace(temp_meta, self._key_path(key))
        except BaseException:
            Path(temp_meta).unlink(missing_ok=True)  # e.g. ENOSPC: the blob stays, unnamed
            raise
        return Layer(layer.digest, layer.diff_id, layer.size, path=final)
