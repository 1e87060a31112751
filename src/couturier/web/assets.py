"""Where the console's files are: its templates and its own static files (in this package),
and the browser libraries npm installed (``node_modules/`` of the checkout, see
``package.json``; none is committed).

The pages name the static files by a fingerprinted URL, ``/static/console/<version>/<path>``
(:func:`static_url`), where the version is a digest of every static file: a browser may keep
them for a year without asking again (each page load of the gallery would otherwise revalidate
its stylesheet and scripts with the server), and a new release of any file changes every URL.
One version for the whole folder, not one per file, so the wizard's ES modules still import
each other by relative paths."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.templating import Jinja2Templates

from couturier.web.layerchart import human_size

__all__ = ["STATIC_DIR", "STATIC_VERSION", "TEMPLATES", "static_url", "vendor_dir"]

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"


def static_version(directory: Path) -> str:
    """A digest (16 hex digits) of every file under ``directory``: their paths and contents."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix().encode()
        digest.update(len(name).to_bytes(4, "big") + name)
        content = path.read_bytes()
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()[:16]


STATIC_VERSION = static_version(STATIC_DIR)


def static_url(path: str) -> str:
    """The fingerprinted URL of the static file ``path`` (relative to :data:`STATIC_DIR`)."""
    return f"/static/console/{STATIC_VERSION}/{path}"


TEMPLATES = Jinja2Templates(directory=_HERE / "templates")
TEMPLATES.env.filters["size"] = human_size
TEMPLATES.env.globals["static_url"] = static_url
# The files of an npm package the pages load, by the URL path they are served at.
VENDOR_FILES = {"htmx.min.js": ("htmx.org", "dist/htmx.min.js")}


def vendor_dir() -> Path | None:
    """The ``node_modules`` directory of the checkout this package runs from (src/couturier/
    web/ is three levels below it), or None when npm has not installed it: the pages then
    work without their enhancements."""
    candidate = _HERE.parents[2] / "node_modules"
    return candidate if candidate.is_dir() else None
