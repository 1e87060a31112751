"""What maintainer scripts would do, made natively from an assembled tree: PHP's module links
and php.ini (assembly/php.py), nginx's default site and unprivileged configuration
(assembly/nginx.py), the starter's writable directories, links and files
(assembly/starterfiles.py)."""

from __future__ import annotations

from dataclasses import replace

from couturier.assembly.generated import accounts
from couturier.assembly.nginx import nginx_default_site, nginx_unprivileged, unprivileged_conf
from couturier.assembly.php import php_configuration
from couturier.assembly.starterfiles import starter_files, starter_key
from couturier.core.entries import Entry, EntryType
from couturier.core.starter import Starter, StarterFile, parse_starter


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


# Debian's nginx.conf and default site, as nginx-common ships them (trimmed).
NGINX_CONF = b"""user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {
\tworker_connections 768;
}
http {
\taccess_log /var/log/nginx/access.log;
\tinclude /etc/nginx/sites-enabled/*;
}
"""
NGINX_SITE = b"""server {
\tlisten 80 default_server;
\tlisten [::]:80 default_server;
\troot /var/www/html;
}
"""


def _nginx(path: str, data: bytes, owner: str | None = "nginx-common") -> Entry:
    return Entry(path, EntryType.FILE, 0o644, data=data, owner=owner)


def test_nginx_runs_unprivileged_on_8080() -> None:
    conf = _nginx("etc/nginx/nginx.conf", NGINX_CONF)
    site = _nginx("etc/nginx/sites-available/default", NGINX_SITE)
    made = {e.path: e for e in nginx_unprivileged(tree(conf, site, _dir("var/log/nginx")))}
    text = made["etc/nginx/nginx.conf"].data.decode()
    assert "\nuser " not in "\n" + text and "pid /run/nginx/nginx.pid;" in text
    assert "worker_connections 768;" in text  # the rest of Debian's file stays
    listens = [
        line.strip() for line in made[site.path].data.decode().splitlines() if "listen" in line
    ]
    assert listens == ["listen 8080 default_server;", "listen [::]:8080 default_server;"]
    assert made["var/log/nginx/access.log"].target == "/dev/stdout"
    assert made["var/log/nginx/error.log"].target == "/dev/stderr"
    # No pid line at all: one is added at the top.
    assert unprivileged_conf(b"events {}\n").startswith(b"pid /run/nginx/nginx.pid;\n")


def test_nginx_files_from_a_bundle_are_left_alone() -> None:
    conf = _nginx("etc/nginx/nginx.conf", NGINX_CONF, owner=None)  # a bundle's
    site = _nginx("etc/nginx/sites-available/default", NGINX_SITE)
    assert nginx_unprivileged(tree(conf, site)) == []
    ours = _nginx("etc/nginx/sites-available/default", b"server { listen 80; }\n", owner=None)
    made = {e.path for e in nginx_unprivileged(tree(_nginx(conf.path, NGINX_CONF), ours))}
    assert "etc/nginx/sites-available/default" not in made
    assert nginx_unprivileged(tree(site)) == []  # no nginx.conf: not nginx's configuration


def _starter(**fields: object) -> Starter:
    doc: dict[str, object] = {
        "name": "demo",
        "description": "demo",
        "packages": ["base-files"],
        "lines": [{"version": "1", "release": "bookworm", "primary": "demo", "eol": "2030-01-01"}],
        **fields,
    }
    return parse_starter(doc, "test_postinst.py", ("bookworm",))


def test_starter_writable_directories_links_and_files() -> None:
    starter = _starter(
        workdir="/var/lib/demo",
        writable=["/var/lib/demo", "/var/run/demo", "/etc/demo.conf"],
        links={"/usr/bin/python": "python3", "/usr/bin/missing": "nothing", "/bin/py": "python3"},
    )
    starter = replace(starter, files=(StarterFile("/usr/local/bin/start", b"#!/bin/sh\n", 0o755),))
    given = tree(
        _dir("usr"),
        _dir("usr/bin"),
        _dir("var/lib/demo"),
        _nginx("etc/demo.conf", b"x"),
        _nginx("usr/bin/python3", b"\x7fELF"),
        Entry("usr/bin/py", EntryType.SYMLINK, target="python3"),
    )
    made = {e.path: e for e in starter_files(given, starter)}
    home = made["var/lib/demo"]
    assert (home.type, home.uid, home.gid, home.mode) == (EntryType.DIRECTORY, 65532, 65532, 0o755)
    assert made["run/demo"].uid == 65532  # /var/run is base-files' link to /run
    assert "etc/demo.conf" not in made  # a package's file stays a file
    assert made["usr/bin/python"].target == "python3"
    assert "usr/bin/missing" not in made and "usr/bin/py" not in made  # no target; taken
    start = made["usr/local/bin/start"]
    assert (start.mode, start.data) == (0o755, b"#!/bin/sh\n")
    assert starter_key(starter) != starter_key(replace(starter, writable=()))


def test_home_of_the_image_user_is_made_and_owned_by_it() -> None:
    made = {e.path: e for e in accounts({})}
    home = made["home/nonroot"]
    assert (home.type, home.uid, home.gid) == (EntryType.DIRECTORY, 65532, 65532)
    assert _starter().workdir == "/home/nonroot"
