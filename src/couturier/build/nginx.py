"""What nginx's maintainer script would do in an image: enable the default site and its page.

Debian's ``nginx-common`` ships ``/etc/nginx/sites-available/default`` and
``/usr/share/nginx/html/index.html``; its ``postinst`` links the site into ``sites-enabled`` and
copies the page to ``/var/www/html/index.nginx-debian.html``. Without the link nginx starts and
listens on no port at all. A private image replaces the site with a files bundle (for example at
``/etc/nginx/sites-enabled/default`` or ``/etc/nginx/conf.d/``): a path a bundle or a package
already holds is left alone.

Pure: reads the tree, returns entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from couturier.build.entries import Entry, EntryType

__all__ = ["nginx_default_site"]

_SITE = "etc/nginx/sites-available/default"
_ENABLED = "etc/nginx/sites-enabled/default"
_PAGE = "usr/share/nginx/html/index.html"
_COPY = "var/www/html/index.nginx-debian.html"


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
