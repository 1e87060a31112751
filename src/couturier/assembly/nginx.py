"""nginx in an image: what its maintainer script would do, and what lets it run unprivileged.

Debian's ``nginx-common`` ships ``/etc/nginx/sites-available/default`` and
``/usr/share/nginx/html/index.html``; its ``postinst`` links the site into ``sites-enabled`` and
copies the page to ``/var/www/html/index.nginx-debian.html``. Without the link nginx starts and
listens on no port at all (:func:`nginx_default_site`).

Images run nginx as a user without privileges (nonroot, 65532), as hardened nginx images do, so
:func:`nginx_unprivileged` rewrites what Debian's configuration needs root for: the ``user``
directive goes (it only makes sense for a root master), the pid file moves to
``/run/nginx/nginx.pid``, the default site listens on :data:`UNPRIVILEGED_PORT` (8080) instead
of 80, and the log files are links to the container's standard output and error (as the
official nginx image makes them). The temporary paths compiled into Debian's nginx
(``/var/lib/nginx/body`` ...) stay: the starter makes ``/var/lib/nginx`` and ``/run/nginx``
its user's (its ``writable`` field).

A private image replaces the site with a files bundle (for example at
``/etc/nginx/sites-enabled/default`` or ``/etc/nginx/conf.d/``): a path a bundle holds, or that
no package shipped, is left alone.

Pure: reads the tree, returns entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from couturier.core.entries import Entry, EntryType

__all__ = ["PID_FILE", "UNPRIVILEGED_PORT", "nginx_default_site", "nginx_unprivileged"]

_SITE = "etc/nginx/sites-available/default"
_ENABLED = "etc/nginx/sites-enabled/default"
_PAGE = "usr/share/nginx/html/index.html"
_COPY = "var/www/html/index.nginx-debian.html"
_CONF = "etc/nginx/nginx.conf"
_LOGS = {"var/log/nginx/access.log": "/dev/stdout", "var/log/nginx/error.log": "/dev/stderr"}

UNPRIVILEGED_PORT = 8080
PID_FILE = "/run/nginx/nginx.pid"

_USER = re.compile(rb"^([ \t]*)user[ \t][^;\n]*;", re.MULTILINE)
_PID = re.compile(rb"^([ \t]*)pid[ \t][^;\n]*;", re.MULTILINE)
_LISTEN_80 = re.compile(rb"(\blisten[ \t]+(?:\[::\]:|0\.0\.0\.0:)?)80\b")


def nginx_default_site(tree: Mapping[str, Entry]) -> list[Entry]:
    """The ``sites-enabled/default`` link and the default page, when nginx's files are in
    ``tree`` and those paths are not."""
    out: list[Entry] = []
    if _SITE in tree and _ENABLED not in tree:
        out.append(Entry(_ENABLED, EntryType.SYMLINK, 0o777, target=f"/{_SITE}"))
    page = tree.get(_PAGE)
    # The page is the default site's document root, whichever site is enabled.
    if _SITE in tree and page is not None and page.type is EntryType.FILE and _COPY not in tree:
        out.append(Entry(_COPY, EntryType.FILE, 0o644, data=page.data))
    return out


def _packaged(tree: Mapping[str, Entry], path: str) -> Entry | None:
    """The regular file at ``path`` when a package shipped it (not a bundle, not generated)."""
    entry = tree.get(path)
    if entry is None or entry.type is not EntryType.FILE or entry.owner is None:
        return None
    return entry


def unprivileged_conf(text: bytes) -> bytes:
    """Debian's ``nginx.conf`` without the ``user`` directive and with the pid file in
    ``/run/nginx`` (added at the top when the file names none)."""
    text = _USER.sub(rb"\1# user: nginx runs as the image's user (Couturier)", text)
    pid = b"pid " + PID_FILE.encode() + b";"
    text, count = _PID.subn(lambda m: m.group(1) + pid, text)
    return text if count else pid + b"\n" + text


def unprivileged_site(text: bytes) -> bytes:
    """Debian's default site listening on :data:`UNPRIVILEGED_PORT` where it listens on 80."""
    return _LISTEN_80.sub(rb"\g<1>" + str(UNPRIVILEGED_PORT).encode(), text)


def nginx_unprivileged(tree: Mapping[str, Entry]) -> list[Entry]:
    """The rewritten ``nginx.conf`` and default site and the log links, when nginx's packaged
    configuration is in ``tree``; nothing for a path a bundle or nobody shipped."""
    conf = _packaged(tree, _CONF)
    if conf is None:
        return []
    out = [Entry(_CONF, EntryType.FILE, conf.mode, data=unprivileged_conf(conf.data))]
    site = _packaged(tree, _SITE)
    if site is not None:
        out.append(Entry(_SITE, EntryType.FILE, site.mode, data=unprivileged_site(site.data)))
    for path, target in _LOGS.items():
        if path not in tree:
            out.append(Entry(path, EntryType.SYMLINK, 0o777, target=target))
    return out
