"""A fixture package source for the console's wizard: three releases (``bookworm``, ``trixie``,
``forky``, fixture suites of those names, not Debian's), and site starters ``python`` and
``php`` over them (a site starter wins over the shipped one of its name), so the wizard's
flows (``python3-requests-auto``, ``curl``, a family the php starter blocks, a dependency-only
family) run on packages built by the tests with ``dpkg-deb``.

:func:`console_environment` gives the environment of a ``couturier serve`` reading that
source, made the way :func:`tests.test_serve_builds.served_environment` makes its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.fixture_repo import SigningKey, build_repo
from tests.test_serve import environment

__all__ = ["CONSOLE_REPO", "PHP", "PYTHON", "RELEASES", "build_console_repo", "console_settings"]

RELEASES = {"bookworm": ["bookworm"], "trixie": ["trixie"], "forky": ["forky"]}
# (release, python line, php line, requests version, curl version)
_LINES = (
    ("bookworm", "3.11", "8.2", "2.28.1+dfsg-1", "7.88.1-10+deb12u8"),
    ("trixie", "3.13", "8.4", "2.32.3+dfsg-4", "8.14.1-2"),
    ("forky", "3.14", "8.4", "2.32.3+dfsg-5", "8.15.0-1"),
)
_REQUESTS = "Python HTTP library for humans (Python 3)"

PYTHON: dict[str, Any] = {
    "name": "python",
    "description": "Python interpreter on the fixture source",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/python3"],
    "env": {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
    "lines": [
        {"version": "3.11", "release": "bookworm", "primary": "python3.11", "eol": "2028-06-30"},
        {"version": "3.13", "release": "trixie", "primary": "python3.13", "eol": "2030-06-30"},
        {"version": "3.14", "release": "forky", "primary": "python3.14", "eol": "2032-06-30"},
    ],
}
# Each line ships its php-curl member: the family php-curl is blocked for this starter.
PHP: dict[str, Any] = {
    "name": "php",
    "description": "PHP interpreter on the fixture source",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/php"],
    "env": {"LANG": "C.UTF-8"},
    "lines": [
        {
            "version": "8.2",
            "release": "bookworm",
            "primary": "php8.2-cli",
            "packages": ["php8.2-curl"],
            "eol": "2027-06-30",
        },
        {
            "version": "8.4",
            "release": "trixie",
            "primary": "php8.4-cli",
            "packages": ["php8.4-curl"],
            "eol": "2029-06-30",
        },
    ],
}


def _release_stanzas(
    release: str, python: str, php: str, requests: str, curl: str
) -> Iterator[dict[str, str]]:
    yield {"Package": "base-files", "Version": "13-1", "Section": "admin"}
    yield {"Package": f"python{python}", "Version": f"{python}.2-1", "Section": "python"}
    yield {
        "Package": "python3-urllib3",
        "Version": "2.3.0-2",
        "Section": "python",
        "Description": "HTTP library with thread-safe connection pooling for Python3",
    }
    yield {
        "Package": "python3-requests",
        "Version": requests,
        "Section": "python",
        "Depends": "python3-urllib3",
        "Description": _REQUESTS,
    }
    yield {
        "Package": "curl",
        "Version": curl,
        "Section": "web",
        "Description": "command line tool for transferring data with URL syntax",
    }
    yield {"Package": "libcurl4-dev", "Version": curl, "Section": "libdevel"}
    yield {"Package": f"php{php}-cli", "Version": f"{php}.5-1", "Section": "php"}
    for extension in ("curl", "mbstring"):
        yield {
            "Package": f"php{php}-{extension}",
            "Version": f"{php}.5-1",
            "Section": "php",
            "Description": f"{extension} module for PHP",
        }
    yield {"Package": "php-common", "Version": "2:93-1", "Section": "php"}


CONSOLE_REPO = {release: list(_release_stanzas(release, *rest)) for release, *rest in _LINES}


def build_console_repo(root: Path, key: SigningKey) -> Path:
    """The fixture source under ``root`` (amd64), signed with ``key``; returns ``root``."""
    return build_repo(root, CONSOLE_REPO, key=key, arch=("amd64",))


def console_settings(
    tmp_path: Path, mirror_url: str, key: SigningKey, database_url: str | None = None
) -> dict[str, str]:
    """The environment of a ``serve`` reading the fixture source at ``mirror_url``, with the
    site starters :data:`PYTHON` and :data:`PHP`, its files under ``tmp_path``."""
    site = tmp_path / "site"
    site.mkdir(parents=True, exist_ok=True)
    for starter in (PYTHON, PHP):
        (site / f"{starter['name']}.yaml").write_text(yaml.safe_dump(starter))
    settings = {
        "architectures": ["amd64"],
        "starters_dir": str(site),
        "mirrors": {"fixture": {"url": mirror_url, "keyring": str(key.keyring)}},
        "releases": {
            name: {"suites": [{"mirror": "fixture", "suite": s} for s in suites]}
            for name, suites in RELEASES.items()
        },
    }
    (tmp_path / "couturier.yaml").write_text(yaml.safe_dump(settings))
    return {
        **environment(tmp_path, database_url),
        "COUTURIER_CONFIG": str(tmp_path / "couturier.yaml"),
    }
