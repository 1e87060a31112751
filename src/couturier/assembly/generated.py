"""The files maintainer scripts would create, made natively: nothing from a package is executed.

Each function is pure: it reads the assembled tree (image path → :class:`Entry`) and returns the
entries to add, owned by nobody (``owner`` None). :func:`system_files` gathers them all;
:mod:`couturier.assembly.dpkgdb` writes the dpkg database. Put the result on top of the packages'
layers with :func:`couturier.assembly.assemble.with_parents`.

What is covered: accounts (``/etc/passwd``, ``/etc/group``, home directories), ``/tmp``,
base-files' links (``/var/run`` → ``/run``, ``/var/lock`` → ``/run/lock``),
``/etc/os-release``, ``/etc/nsswitch.conf``, the CA bundle and its ``.pem`` links, the Java trust
store when the image has Java (:mod:`couturier.assembly.truststore`), the
``update-alternatives`` links of :data:`ALTERNATIVES`, ``/etc/ld.so.cache`` for every image
(:mod:`couturier.assembly.ldcache`), PHP's modules and nginx's site and non-root configuration.
"""

from __future__ import annotations

import glob
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from couturier.assembly.assemble import matches
from couturier.assembly.ldcache import CACHE_ARCHITECTURES, ld_so_cache, tree_real_path
from couturier.assembly.nginx import nginx_default_site, nginx_unprivileged
from couturier.assembly.php import php_configuration
from couturier.assembly.truststore import jks_truststore
from couturier.core.bundle import pem_blocks
from couturier.core.distro import DEBIAN, multiarch_triplet
from couturier.core.entries import Entry, EntryType
from couturier.core.starter import HOMES, NONROOT_ID, USERS

__all__ = [
    "ALTERNATIVES",
    "JAVA_TRUSTSTORE",
    "Account",
    "Alternative",
    "accounts",
    "alternatives",
    "base_files_links",
    "ca_bundle",
    "has_java",
    "java_truststore",
    "ld_so_cache_file",
    "nsswitch",
    "os_release",
    "system_files",
    "tmp",
]

Tree = Mapping[str, Entry]


@dataclass(frozen=True, slots=True)
class Account:
    """A user with a group of the same name and id."""

    name: str
    uid: int
    home: str = "/nonexistent"
    shell: str = "/usr/sbin/nologin"
    home_mode: int = 0o700
    group: str = ""

    def passwd_line(self) -> str:
        return f"{self.name}:x:{self.uid}:{self.uid}:{self.name}:{self.home}:{self.shell}\n"

    def group_line(self) -> str:
        return f"{self.group or self.name}:x:{self.uid}:\n"


ROOT = Account("root", USERS["root"], HOMES["root"])
NONROOT = Account("nonroot", NONROOT_ID, HOMES["nonroot"])
NOBODY = Account("nobody", 65534, group="nogroup")
# Debian's static account for web servers (base-passwd reserves uid/gid 33): nginx's and
# Apache's default configurations run their workers as it, and refuse to start without it.
WWW_DATA = Account("www-data", 33, "/var/www")


def _file(path: str, data: bytes | str, mode: int = 0o644) -> Entry:
    body = data.encode() if isinstance(data, str) else data
    return Entry(path, EntryType.FILE, mode, data=body)


def _link(path: str, target: str) -> Entry:
    return Entry(path, EntryType.SYMLINK, 0o777, target=target)


def _is_present(tree: Tree, path: str) -> bool:
    return path in tree and tree[path].type is not EntryType.DIRECTORY


def accounts(tree: Tree, extra: Sequence[Account] = ()) -> list[Entry]:
    """``/etc/passwd`` and ``/etc/group`` with root, nonroot (65532), www-data (33), nobody and
    ``extra``, plus the home directories that do not exist yet (not www-data's ``/var/www``).

    When ``base-passwd`` is installed its master files are the start (as its postinst copies
    them); nonroot and ``extra`` are appended unless already named there.
    """
    passwd_master = tree.get("usr/share/base-passwd/passwd.master")
    group_master = tree.get("usr/share/base-passwd/group.master")
    if passwd_master is not None and group_master is not None:
        passwd = passwd_master.data.decode()
        group = group_master.data.decode()
        wanted = [NONROOT, *extra]
    else:
        passwd = group = ""
        wanted = [ROOT, WWW_DATA, NONROOT, *extra, NOBODY]
    named = {line.split(":", 1)[0] for line in passwd.splitlines()}
    for account in wanted:
        if account.name not in named:
            passwd += account.passwd_line()
            group += account.group_line()
            named.add(account.name)
    entries = [_file("etc/passwd", passwd), _file("etc/group", group)]
    for account in [ROOT, NONROOT, *extra]:
        home = account.home.strip("/")
        if home and home != "nonexistent" and home not in tree:
            entries.append(
                Entry(home, EntryType.DIRECTORY, account.home_mode, account.uid, account.uid)
            )
    return entries


def tmp(tree: Tree) -> list[Entry]:
    """``/tmp`` (and ``/var/tmp``) world-writable with the sticky bit, as base-files makes them."""
    del tree
    return [
        Entry("tmp", EntryType.DIRECTORY, 0o1777),
        Entry("var/tmp", EntryType.DIRECTORY, 0o1777),
    ]


# base-files' postinst: ``install_directory run/lock 1777 root``, then ``migrate_directory``
# turns the directories it ships at /var/run and /var/lock into links (rmdir, ln -s).
_MIGRATED = (("var/run", "/run"), ("var/lock", "/run/lock"))


def base_files_links(tree: Tree) -> list[Entry]:
    """``/run/lock`` (1777) and the links ``/var/run`` → ``/run`` and ``/var/lock`` →
    ``/run/lock``, as Debian's base-files postinst makes them; a path that is a link already
    is left alone. What packages put below ``/var/run`` or ``/var/lock`` moves under the link's
    target (the postinst's ``rmdir`` expects them empty; a package installed later would land
    there through the link)."""
    entries: list[Entry] = []
    if "run/lock" not in tree:
        entries.append(Entry("run/lock", EntryType.DIRECTORY, 0o1777))
    for path, target in _MIGRATED:
        old = tree.get(path)
        if old is not None and old.type is EntryType.SYMLINK:
            continue
        entries.append(_link(path, target))
        new = target.strip("/")
        for below, entry in tree.items():
            if below.startswith(path + "/"):
                moved = new + below[len(path) :]
                if moved not in tree:
                    entries.append(replace(entry, path=moved, owner=None))
    return entries


def os_release(tree: Tree, fallback: Mapping[str, str] | None = None) -> list[Entry]:
    """``/etc/os-release``: nothing when a package ships it, a link to ``usr/lib/os-release``
    when ``base-files`` ships that, else a file written from ``fallback`` (``KEY`` → value: the
    facts of the distribution the packages come from, :meth:`Distro.os_release
    <couturier.core.distro.Distro.os_release>`; Debian's when None)."""
    if "etc/os-release" in tree:
        return []
    if _is_present(tree, "usr/lib/os-release"):
        return [_link("etc/os-release", "../usr/lib/os-release")]
    fields = fallback or DEBIAN.os_release()
    text = "".join(f'{key}="{value}"\n' for key, value in fields.items())
    return [_file("usr/lib/os-release", text), _link("etc/os-release", "../usr/lib/os-release")]


_NSSWITCH = """\
# /etc/nsswitch.conf (written by Couturier, as Debian's base-files does)

passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
"""


# Where packages keep the nsswitch.conf their postinst copies to /etc when it is absent:
# libc-bin's (``install_from_default``, bookworm on), then base-files' (older releases).
_NSSWITCH_TEMPLATES = ("usr/share/libc-bin/nsswitch.conf", "usr/share/base-files/nsswitch.conf")


def nsswitch(tree: Tree) -> list[Entry]:
    """``/etc/nsswitch.conf`` when absent: libc-bin's (or base-files') template if shipped,
    else the default."""
    if "etc/nsswitch.conf" in tree:
        return []
    for path in _NSSWITCH_TEMPLATES:
        template = tree.get(path)
        if template is not None and template.type is EntryType.FILE:
            return [_file("etc/nsswitch.conf", template.data)]
    return [_file("etc/nsswitch.conf", _NSSWITCH)]


def _pem_name(path: str) -> str:
    # update-ca-certificates: basename without .crt, spaces → _, parentheses → =, commas → _.
    stem = posixpath.basename(path).removesuffix(".crt")
    return re.sub(r"[()]", "=", stem.replace(" ", "_").replace(",", "_")) + ".pem"


def _ca_sources(tree: Tree) -> list[str]:
    """The certificate files ``update-ca-certificates`` would take, in its order: every ``.crt``
    under ``usr/share/ca-certificates`` (what the package's default configuration selects: all
    of them), then those under ``usr/local/share/ca-certificates`` (file bundles land there),
    each group sorted by path."""
    chosen: list[str] = []
    for root in ("usr/share/ca-certificates/", "usr/local/share/ca-certificates/"):
        chosen += sorted(
            p
            for p, e in tree.items()
            if p.startswith(root) and p.endswith(".crt") and e.type is EntryType.FILE
        )
    return chosen


def ca_bundle(tree: Tree, extra: Sequence[bytes] = ()) -> list[Entry]:
    """``/etc/ssl/certs/ca-certificates.crt`` as ``update-ca-certificates`` builds it.

    The certificates of :func:`_ca_sources`, then the PEM blobs of ``extra`` (already validated
    bundles), each ending with a newline. Also the ``<name>.pem`` links to the tree's
    certificates; when two files give one link name, the later one wins (``ln -sf``). Nothing
    when there is no certificate at all.
    """
    chosen = _ca_sources(tree)
    if not chosen and not extra:
        return []
    blobs = [tree[p].data for p in chosen] + list(extra)
    bundle = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs if b)
    entries = [_file("etc/ssl/certs/ca-certificates.crt", bundle)]
    links: dict[str, str] = {}
    for path in chosen:
        link = f"etc/ssl/certs/{_pem_name(path)}"
        if link not in tree:
            links[link] = f"/{path}"
    entries += [_link(link, target) for link, target in links.items()]
    return entries


JAVA_TRUSTSTORE = "etc/ssl/certs/java/cacerts"
_JRE_CACERTS = "usr/lib/jvm/*/lib/security/cacerts"


def has_java(tree: Tree) -> bool:
    """Whether the image has a Java runtime that reads a system trust store:
    ``ca-certificates-java`` is installed, ``/etc/ssl/certs/java`` exists, or a JRE under
    ``/usr/lib/jvm`` has a ``lib/security/cacerts``."""
    if "etc/ssl/certs/java" in tree:
        return True
    return any(
        entry.owner == "ca-certificates-java" or matches(_JRE_CACERTS, path)
        for path, entry in tree.items()
    )


def _truststore_paths(tree: Tree) -> list[str]:
    """Where the trust store goes: ``/etc/ssl/certs/java/cacerts`` (what Debian's JRE packages
    link their ``lib/security/cacerts`` to) and wherever another JRE's ``cacerts`` link points,
    except over a regular file a package ships."""
    wanted = {JAVA_TRUSTSTORE}
    for path, entry in tree.items():
        if entry.type is EntryType.SYMLINK and matches(_JRE_CACERTS, path):
            base = "/" if entry.target.startswith("/") else "/" + posixpath.dirname(path)
            target = posixpath.normpath(posixpath.join(base, entry.target)).lstrip("/")
            directory = tree_real_path(tree, posixpath.dirname(target))
            if directory is not None:
                target = posixpath.join(directory, posixpath.basename(target))
            wanted.add(target)
    return sorted(p for p in wanted if p and not _is_present(tree, p))


def _truststore_aliases(tree: Tree, extra: Sequence[bytes]) -> list[tuple[str, bytes]]:
    """(alias, DER) of every certificate of the CA bundle, named as ca-certificates-java names
    them (``debian:<file>.pem``; ``-2``, ``-3``... for more certificates in one file or a name
    already taken)."""
    sources = [(_pem_name(p), tree[p].data) for p in _ca_sources(tree)]
    sources += [(f"extra-{n}.pem", blob) for n, blob in enumerate(extra, start=1)]
    taken: set[str] = set()
    found: list[tuple[str, bytes]] = []
    for name, blob in sources:
        stem = name.lower().removesuffix(".pem")
        count = 1
        for label, der in pem_blocks(blob):
            if label != "CERTIFICATE" or not der:
                continue
            alias = f"debian:{stem}.pem"
            while alias in taken:
                count += 1
                alias = f"debian:{stem}-{count}.pem"
            taken.add(alias)
            found.append((alias, der))
    return found


def java_truststore(tree: Tree, epoch: int, extra: Sequence[bytes] = ()) -> list[Entry]:
    """The Java trust store (JKS, password ``changeit``) holding every certificate of the CA
    bundle, when :func:`has_java`; ``ca-certificates-java`` would make it with ``keytool`` in
    its maintainer script, which never runs here. Entries are dated ``epoch`` (seconds)."""
    if not has_java(tree):
        return []
    store = jks_truststore(_truststore_aliases(tree, extra), epoch * 1000)
    return [_file(path, store) for path in _truststore_paths(tree)]


@dataclass(frozen=True, slots=True)
class Alternative:
    """An ``update-alternatives`` group: its ``link`` and the candidate paths a package's postinst
    would register, best first. ``{triplet}`` stands for the multiarch triplet; a candidate may be
    a glob (its matches are taken newest version first). ``registered_by`` are ``fnmatch``
    patterns of the packages whose postinst registers the group: the replay policy judges by
    them a registration whose name the script computes (``services/maintscripts.py``)."""

    name: str
    link: str
    candidates: tuple[str, ...]
    registered_by: tuple[str, ...] = ()


ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative(
        "awk",
        "usr/bin/awk",
        ("usr/bin/gawk", "usr/bin/mawk", "usr/bin/original-awk"),
        ("gawk", "mawk", "original-awk"),
    ),
    Alternative(
        "nawk",
        "usr/bin/nawk",
        ("usr/bin/gawk", "usr/bin/mawk", "usr/bin/original-awk"),
        ("gawk", "mawk", "original-awk"),
    ),
    Alternative("pager", "usr/bin/pager", ("usr/bin/less", "usr/bin/more"), ("less",)),
    Alternative(
        "editor",
        "usr/bin/editor",
        ("usr/bin/nano", "usr/bin/vim.basic", "usr/bin/vim.tiny"),
        ("nano", "vim", "vim-tiny"),
    ),
    Alternative(
        "vi",
        "usr/bin/vi",
        ("usr/bin/vim.basic", "usr/bin/vim.tiny", "usr/bin/nvi"),
        ("vim", "vim-tiny", "nvi"),
    ),
    Alternative("which", "usr/bin/which", ("usr/bin/which.debianutils",), ("debianutils",)),
    Alternative(
        "nc",
        "usr/bin/nc",
        ("usr/bin/nc.openbsd", "usr/bin/nc.traditional"),
        ("netcat-openbsd", "netcat-traditional"),
    ),
    Alternative(
        "java",
        "usr/bin/java",
        ("usr/lib/jvm/java-*-openjdk-*/bin/java",),
        ("openjdk-*-jre-headless",),
    ),
    Alternative(
        "keytool",
        "usr/bin/keytool",
        ("usr/lib/jvm/java-*-openjdk-*/bin/keytool",),
        ("openjdk-*-jre-headless",),
    ),
    Alternative("php", "usr/bin/php", ("usr/bin/php[0-9]*.[0-9]*",), ("php*-cli",)),
    Alternative("phar", "usr/bin/phar", ("usr/bin/phar[0-9]*.[0-9]*",), ("php*-cli",)),
    Alternative(
        "libblas.so.3-{triplet}",
        "usr/lib/{triplet}/libblas.so.3",
        ("usr/lib/{triplet}/openblas-pthread/libblas.so.3", "usr/lib/{triplet}/blas/libblas.so.3"),
        ("libopenblas0-pthread", "libblas3"),
    ),
    Alternative(
        "liblapack.so.3-{triplet}",
        "usr/lib/{triplet}/liblapack.so.3",
        (
            "usr/lib/{triplet}/openblas-pthread/liblapack.so.3",
            "usr/lib/{triplet}/lapack/liblapack.so.3",
        ),
        ("libopenblas0-pthread", "liblapack3"),
    ),
)


def _natural_key(path: str) -> list[tuple[int, int | str]]:
    return [(1, int(t)) if t.isdigit() else (0, t) for t in re.split(r"(\d+)", path)]


def _candidates(tree: Tree, pattern: str) -> list[str]:
    if not glob.has_magic(pattern):
        return [pattern] if _is_present(tree, pattern) else []
    found = [p for p in tree if matches(pattern, p) and _is_present(tree, p)]
    return sorted(found, key=_natural_key, reverse=True)


def alternatives(
    tree: Tree, architecture: str, table: Sequence[Alternative] = ALTERNATIVES
) -> list[Entry]:
    """The links ``update-alternatives`` would make in auto mode for each group of ``table``
    whose link is missing and of which a candidate exists: ``link`` → ``/etc/alternatives/NAME``
    → the best candidate."""
    triplet = multiarch_triplet(architecture)
    entries: list[Entry] = []
    for alternative in table:
        link = alternative.link.format(triplet=triplet)
        if link in tree:
            continue
        for pattern in alternative.candidates:
            found = _candidates(tree, pattern.format(triplet=triplet))
            if found:
                name = alternative.name.format(triplet=triplet)
                entries.append(_link(f"etc/alternatives/{name}", f"/{found[0]}"))
                entries.append(_link(link, f"/etc/alternatives/{name}"))
                break
    return entries


def ld_so_cache_file(tree: Tree, architecture: str) -> list[Entry]:
    """``/etc/ld.so.cache`` listing every library of the configured and trusted directories
    (the multiarch ones included), for every machine :mod:`couturier.assembly.ldcache` knows.

    The loader finds libraries of its built-in directories without it, but ``ldconfig -p``
    answers only from it, and that is what Python's ``ctypes.util.find_library`` (and others)
    ask; libc-bin's trigger keeps it current on Debian, so every Debian system has one."""
    if architecture not in CACHE_ARCHITECTURES:
        return []
    return [_file("etc/ld.so.cache", ld_so_cache(tree, architecture))]


def system_files(
    tree: Tree,
    architecture: str,
    *,
    extra_accounts: Sequence[Account] = (),
    extra_certificates: Sequence[bytes] = (),
    os_release_fallback: Mapping[str, str] | None = None,
    epoch: int = 0,
) -> list[Entry]:
    """Every generated file except the dpkg database, sorted by path; ``epoch`` dates what
    carries a date inside (the Java trust store's entries)."""
    entries = [
        *accounts(tree, extra_accounts),
        *tmp(tree),
        *base_files_links(tree),
        *os_release(tree, os_release_fallback),
        *nsswitch(tree),
        *ca_bundle(tree, extra_certificates),
        *java_truststore(tree, epoch, extra_certificates),
        *alternatives(tree, architecture),
        *ld_so_cache_file(tree, architecture),
        *php_configuration(tree),
        *nginx_default_site(tree),
        *nginx_unprivileged(tree),
    ]
    return sorted(entries, key=lambda e: e.path)
