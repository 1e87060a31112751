"""The layer chart of the image page: per line, a bar of the image's size split by layer
(starter packages, added packages, bundles, generated files) beside the starter image's bar,
drawn as SVG by the template from the geometry computed here.

Read from ``GET /v1/images/{t}/{n}/lines/{l}/layers``
(:func:`couturier.services.image_layers.line_layers`); sizes are the stored (compressed)
bytes. Both bars share one scale, so the longer is the heavier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ROLE_NAMES", "Bar", "Segment", "human_size", "layer_bars"]

ROLE_NAMES = {
    "starter": "starter packages",
    "added": "added packages",
    "bundles": "file bundles",
    "generated": "generated files",
}
WIDTH = 600.0  # SVG user units of the widest bar


@dataclass(frozen=True)
class Segment:
    """One layer of a bar: its role, bytes, and where it is drawn (x and width, in SVG user
    units of a :data:`WIDTH`-wide chart)."""

    role: str
    size: int
    x: float
    width: float

    @property
    def label(self) -> str:
        return f"{ROLE_NAMES.get(self.role, self.role)}: {human_size(self.size)}"


@dataclass(frozen=True)
class Bar:
    """One image's bar: its title, total bytes and segments."""

    title: str
    size: int
    segments: list[Segment]


def human_size(size: int) -> str:
    """Bytes in the units ``podman images`` uses (decimal: kB, MB, GB)."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.2f} GB"


def _segments(layers: Sequence[Mapping[str, Any]], scale: float) -> list[Segment]:
    out, x = [], 0.0
    for layer in layers:
        width = int(layer["size"]) * scale
        out.append(Segment(str(layer["role"]), int(layer["size"]), round(x, 2), round(width, 2)))
        x += width
    return out


def layer_bars(layers: Mapping[str, Any], image: str) -> list[Bar]:
    """The bars of one line's chart: the image ``image``'s, then the starter image's when
    the answer has it (one scale for both)."""
    starter = layers.get("starter")
    totals = [int(layers["size"])] + ([int(starter["size"])] if starter else [])
    scale = WIDTH / max(*totals, 1)
    bars = [
        Bar(f"{image}:{layers['line']}", int(layers["size"]), _segments(layers["layers"], scale))
    ]
    if starter:
        bars.append(
            Bar(str(starter["image"]), int(starter["size"]), _segments(starter["layers"], scale))
        )
    return bars
