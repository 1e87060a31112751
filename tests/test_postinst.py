"""What maintainer scripts would do, made natively from an assembled tree: PHP's module links
and php.ini (build/php.py), nginx's default site (build/nginx.py)."""

from __future__ import annotations

from couturier.build.entries import Entry, EntryType
from couturier.build.nginx import nginx_default_site
from couturier.build.php import php_configuration


def _dir(path: str) -> Entry:
    return Entry(path, EntryType.DIRECTORY, 0o755)


def _file(path: str, data: bytes) -> Entry:
    return Entry(path, EntryType.FILE, 0o644, data=data, owner="php8.2-common")


def tree(*entries: Entry) -> dict[str, Entry]:
    return {entry.path: entry for entry in entries}


def test_every_module_is_enabled_for_every_sapi_with_its_priority() -> None:
    made = php_configuration(
        tree(
            _dir("etc/php/8.2/cli"),
            _dir("etc/php/8.2/cli/conf.d"),
            _dir("etc/php/8.2/fpm"),
            _dir("etc/php/8.2/mods-available"),
            _file("usr/share/php8.2-curl/curl/curl.ini", b"; priority=20\nextension=curl.so\n"),
            _file("etc/php/8.2/mods-available/pdo.ini", b"; priority=10\nextension=pdo.so\n"),
            _file("etc/php/8.2/mods-available/imagick.ini", b"extension=imagick.so\n"),
            _file("usr/lib/php/8.2/php.ini-production", b"[PHP]\n"),
            _file("usr/lib/php/8.2/php.ini-production.cli", b"[PHP]\n; cli\n"),
        )
    )
    links = {e.path: e.target for e in made if e.type is EntryType.SYMLINK}
    assert links == {
        f"etc/php/8.2/{sapi}/conf.d/{name}": f"/etc/php/8.2/mods-available/{module}.ini"
        for sapi in ("cli", "fpm")
        for name, module in (
            ("20-curl.ini", "curl"),
            ("10-pdo.ini", "pdo"),
            ("20-imagick.ini", "imagick"),
        )
    }
    inis = {e.path: e.data for e in made if e.type is EntryType.FILE}
    assert inis == {
        # Shipped under /usr/share: copied to mods-available, as the postinst's ucf does.
        "etc/php/8.2/mods-available/curl.ini": b"; priority=20\nextension=curl.so\n",
        "etc/php/8.2/cli/php.ini": b"[PHP]\n; cli\n",
        "etc/php/8.2/fpm/php.ini": b"[PHP]\n",
    }


def test_what_a_package_ships_is_left_alone_and_no_php_means_nothing() -> None:
    shipped = tree(
        _dir("etc/php/8.4/cli"),
        _file("etc/php/8.4/cli/php.ini", b"ours\n"),
        _file("etc/php/8.4/mods-available/curl.ini", b"extension=curl.so\n"),
        Entry("etc/php/8.4/cli/conf.d/20-curl.ini", EntryType.SYMLINK, target="elsewhere"),
    )
    assert php_configuration(shipped) == []
    assert php_configuration(tree(_dir("etc/ssl"), _file("etc/issue", b"x"))) == []


def test_nginx_gets_its_default_site_unless_something_is_there() -> None:
    site = _file("etc/nginx/sites-available/default", b"server { listen 80; }\n")
    page = _file("usr/share/nginx/html/index.html", b"<h1>Welcome</h1>\n")
    made = {e.path: e for e in nginx_default_site(tree(site, page))}
    assert made["etc/nginx/sites-enabled/default"].target == "/etc/nginx/sites-available/default"
    assert made["var/www/html/index.nginx-debian.html"].data == b"<h1>Welcome</h1>\n"
    # A bundle (or package) that put its own site there wins; no nginx, nothing.
    own = Entry("etc/nginx/sites-enabled/default", EntryType.FILE, data=b"server {}\n")
    assert [e.path for e in nginx_default_site(tree(site, page, own))] == [
        "var/www/html/index.nginx-debian.html"
    ]
    assert nginx_default_site(tree(page)) == []
