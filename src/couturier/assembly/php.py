"""What PHP's maintainer scripts would do in an image: enable modules and install ``php.ini``.

Debian's PHP extension packages ship ``/usr/share/php<version>-<package>/<dir>/<module>.ini``
(their ``postinst`` copies it to ``/etc/php/<version>/mods-available/`` with ``ucf``) or the
``mods-available`` file itself, and then run ``phpenmod``, which links the file into each SAPI's
``conf.d`` as ``<priority>-<module>.ini`` (the priority is a ``; priority=NN`` line of the file,
20 when absent). ``php<version>-cli`` (and the other SAPIs) copy ``/usr/lib/php/<version>/
php.ini-production[.<sapi>]`` to ``/etc/php/<version>/<sapi>/php.ini``. Without both, ``php -m``
lists no extension at all. As nothing of a package runs at build time, this module does the
same from the assembled tree, for every module found (a fresh install enables them all).

Pure: reads the tree, returns entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from couturier.core.entries import Entry, EntryType

__all__ = ["php_configuration"]

_SHIPPED = re.compile(r"^usr/share/php([0-9][0-9.]*)-[^/]+/[^/]+/([A-Za-z0-9_.-]+)\.ini$")
_MODULE = re.compile(r"^etc/php/([0-9][0-9.]*)/mods-available/([A-Za-z0-9_.-]+)\.ini$")
_SAPI = re.compile(r"^etc/php/([0-9][0-9.]*)/([a-z0-9]+)$")
_PRIORITY = re.compile(rb"^\s*;\s*priority\s*=\s*([0-9]+)\s*$", re.MULTILINE)
DEFAULT_PRIORITY = 20


def _priority(entry: Entry) -> int:
    match = _PRIORITY.search(entry.data) if entry.type is EntryType.FILE else None
    return int(match.group(1)) if match else DEFAULT_PRIORITY


def php_configuration(tree: Mapping[str, Entry]) -> list[Entry]:
    """The ``mods-available`` files of modules shipped under ``/usr/share``, the ``conf.d``
    links enabling every available module for every SAPI of every PHP version in ``tree``, and
    each SAPI's ``php.ini`` when a package does not ship one; existing paths are left alone.

    Cost: one pass over the tree's paths."""
    modules: dict[str, list[tuple[str, int]]] = {}
    sapis: dict[str, list[str]] = {}
    out: list[Entry] = []
    for path, entry in tree.items():
        if (match := _SHIPPED.fullmatch(path)) and entry.type is EntryType.FILE:
            version, module = match.groups()
            available = f"etc/php/{version}/mods-available/{module}.ini"
            if available not in tree:
                out.append(Entry(available, EntryType.FILE, 0o644, data=entry.data))
                modules.setdefault(version, []).append((module, _priority(entry)))
        elif match := _MODULE.fullmatch(path):
            modules.setdefault(match.group(1), []).append((match.group(2), _priority(entry)))
        elif (
            (match := _SAPI.fullmatch(path))
            and entry.type is EntryType.DIRECTORY
            and match.group(2) != "mods-available"
        ):
            sapis.setdefault(match.group(1), []).append(match.group(2))
    for version, names in sorted(sapis.items()):
        for sapi in sorted(names):
            for module, priority in sorted(modules.get(version, ())):
                link = f"etc/php/{version}/{sapi}/conf.d/{priority}-{module}.ini"
                if link not in tree:
                    target = f"/etc/php/{version}/mods-available/{module}.ini"
                    out.append(Entry(link, EntryType.SYMLINK, 0o777, target=target))
            out.extend(_php_ini(tree, version, sapi))
    return out


def _php_ini(tree: Mapping[str, Entry], version: str, sapi: str) -> list[Entry]:
    path = f"etc/php/{version}/{sapi}/php.ini"
    if path in tree:
        return []
    for name in (f"php.ini-production.{sapi}", "php.ini-production"):
        template = tree.get(f"usr/lib/php/{version}/{name}")
        if template is not None and template.type is EntryType.FILE:
            return [Entry(path, EntryType.FILE, 0o644, data=template.data)]
    return []
