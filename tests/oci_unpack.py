"""Unpack an image from an OCI layout into a root filesystem with ``umoci`` (not ours).

``umoci`` reads the layout itself (index, manifest, config), verifies every blob, and applies the
layers in order with OCI whiteouts, so a layout it cannot read is a failure of the test, not of a
helper of ours. ``--rootless`` keeps it from needing privileges (owners are mapped to the caller).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["unpack"]


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """Unpack ``layout:tag`` (one image manifest) into the runtime bundle ``bundle``; returns its
    root filesystem (``bundle/rootfs``).

    Cost: decompresses every layer once. Raises :class:`AssertionError` with umoci's message when
    the layout cannot be unpacked, :class:`FileNotFoundError` when umoci is not installed.
    """
    if shutil.which("umoci") is None:
        raise FileNotFoundError("umoci is not installed: ./run-tests installs it")
    done = subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:{tag}", str(bundle)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"umoci unpack {layout}:{tag} failed: {done.stderr[-2000:]}"
    return bundle / "rootfs"
