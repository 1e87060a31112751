"""Where the console's files are: its templates and its own static files (in this package),
and the browser libraries npm installed (``node_modules/`` of the checkout, see
``package.json``; none is committed)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from couturier.web.layerchart import human_size

__all__ = ["STATIC_DIR", "TEMPLATES", "vendor_dir"]

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"
TEMPLATES = Jinja2Templates(directory=_HERE / "templates")
TEMPLATES.env.filters["size"] = human_size
# The files of an npm package the pages load, by the URL path they are served at.
VENDOR_FILES = {"htmx.min.js": ("htmx.org", "dist/htmx.min.js")}


def vendor_dir() -> Path | None:
    """The ``node_modules`` directory of the checkout this package runs from (src/couturier/
    web/ is three levels below it), or None when npm has not installed it: the pages then
    work without their enhancements."""
    candidate = _HERE.parents[2] / "node_modules"
    return candidate if candidate.is_dir() else None
