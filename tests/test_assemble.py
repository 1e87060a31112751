"""Assembling real .deb files into one merged-/usr tree, the generated files and the dpkg database.

The dpkg database is checked by the real ``dpkg``/``dpkg-query`` against a tree written to disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from couturier.assembly.assemble import (
    AssemblyOptions,
    _match,
    assemble,
    matches,
    parents,
    split_layers,
    with_parents,
)
from couturier.assembly.deb import DebContents, md5_hex, read_deb
from couturier.assembly.dpkgdb import dpkg_database
from couturier.assembly.errors import FileConflictError
from couturier.assembly.generated import (
    Account,
    accounts,
    alternatives,
    base_files_links,
    ca_bundle,
    nsswitch,
    os_release,
    system_files,
)
from couturier.assembly.ldcache import Tree, conf_dirs, tree_real_path, trusted_dirs
from couturier.core.entries import Entry, EntryType
from tests.debs import Content, Dir, File, Hardlink, Link, build_deb
from tests.materialize import materialize


def library_dirs_needing_cache(tree: Tree, architecture: str) -> list[str]:
    """Directories that ``/etc/ld.so.conf`` (and what it includes) adds beyond the dynamic
    loader's built-in ones and that hold a shared library: the loader finds those only through
    ``/etc/ld.so.cache``. Root-relative real paths (symlinks followed), sorted. What the tests
    check an assembled tree against (moved here from assembly/generated.py: only tests used
    it)."""
    defaults = {tree_real_path(tree, d) for d in trusted_dirs(architecture)}
    dirs: set[str] = set()
    for directory in conf_dirs(tree):
        real = tree_real_path(tree, directory)
        if real is None or real in defaults:
            continue
        prefix = real + "/"
        if any(p.startswith(prefix) and ".so" in p[len(prefix) :] for p in tree):
            dirs.add(real)
    return sorted(dirs)


def deb(
    tmp_path: Path,
    name: str,
    files: Mapping[str, Content],
    compression: str = "xz",
    conffiles: tuple[str, ...] = (),
    **fields: str,
) -> DebContents:
    control = {"Package": name, **{k.replace("_", "-"): v for k, v in fields.items()}}
    return read_deb(build_deb(tmp_path / name, control, files, compression, conffiles))


def test_merged_usr_rewrites_and_links(tmp_path: Path) -> None:
    shell = deb(
        tmp_path,
        "dash",
        {
            "bin/sh": Link("dash"),
            "bin/dash": File(b"\x7fELF dash", 0o755),
            "sbin/tool": "x",
            "lib/x86_64-linux-gnu/libc.so.6": "libc",
            "lib64/ld-linux-x86-64.so.2": Link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            "usr/bin/other": "y",
        },
        Architecture="amd64",
    )
    tree = assemble([shell]).entries
    assert tree["usr/bin/sh"].target == "dash"
    assert tree["usr/bin/dash"].data == b"\x7fELF dash"
    assert tree["usr/sbin/tool"].type is EntryType.FILE
    assert "usr/lib/x86_64-linux-gnu/libc.so.6" in tree
    assert "usr/lib64/ld-linux-x86-64.so.2" in tree
    for top in ("bin", "sbin", "lib", "lib64"):
        assert (tree[top].type, tree[top].target) == (EntryType.SYMLINK, f"usr/{top}")
    assert "lib32" not in tree
    assert "libx32" not in tree
    assert list(tree) == sorted(tree)
    assert not any(p.startswith("bin/") for p in tree)


def test_no_lib64_link_when_unused(tmp_path: Path) -> None:
    tree = assemble([deb(tmp_path, "a", {"bin/true": "t"})]).entries
    assert {"bin", "sbin", "lib"} <= set(tree)
    assert "lib64" not in tree
    assert tree["usr"].type is EntryType.DIRECTORY
    assert tree["usr/bin"].type is EntryType.DIRECTORY


def test_package_shipping_merged_usr_links_owns_them(tmp_path: Path) -> None:
    base = deb(tmp_path, "base-files", {"bin": Link("usr/bin"), "lib64": Link("usr/lib64")})
    other = deb(tmp_path, "other", {"bin/x": "x", "usr/lib64/y": "y"})
    assembly = assemble([base, other])
    assert assembly.entries["bin"].owner == "base-files"
    assert assembly.entries["bin"].target == "usr/bin"
    assert assembly.entries["lib64"].owner == "base-files"
    assert assembly.entries["sbin"].owner is None
    assert "bin" in assembly.paths["base-files"]
    assert assembly.paths["other"] == ("bin", "bin/x", "usr", "usr/lib64", "usr/lib64/y")

    odd = deb(tmp_path, "odd", {"bin": Link("opt/bin")})
    with pytest.raises(FileConflictError, match="/bin"):
        assemble([odd])


def test_two_packages_writing_one_path_conflict(tmp_path: Path) -> None:
    first = deb(tmp_path, "python3.11-minimal", {"usr/bin/x": "a"})
    second = deb(tmp_path, "foo", {"bin/x": "b"})  # lands at usr/bin/x too
    with pytest.raises(FileConflictError) as caught:
        assemble([first, second])
    error = caught.value
    assert error.message == "python3.11-minimal and foo both ship /usr/bin/x"
    assert (error.path, error.first, error.second) == ("/usr/bin/x", "python3.11-minimal", "foo")


@pytest.mark.parametrize("reverse", [False, True], ids=["replacer-last", "replacer-first"])
def test_replaces_lets_the_replacing_package_win(tmp_path: Path, reverse: bool) -> None:
    old = deb(tmp_path, "old", {"usr/bin/x": "old", "usr/bin/y": "y"}, Version="1.0-1")
    new = deb(tmp_path, "new", {"usr/bin/x": "new"}, Replaces="old (<< 2.0)")
    order = [new, old] if reverse else [old, new]
    assembly = assemble(order)
    assert assembly.entries["usr/bin/x"].data == b"new"
    assert assembly.entries["usr/bin/x"].owner == "new"
    assert "usr/bin/x" not in assembly.paths["old"]
    assert "usr/bin/y" in assembly.paths["old"]
    assert "usr/bin/x" in assembly.paths["new"]


def test_replaces_honours_the_version_constraint(tmp_path: Path) -> None:
    old = deb(tmp_path, "old", {"usr/bin/x": "old"}, Version="2.0-1")
    new = deb(tmp_path, "new", {"usr/bin/x": "new"}, Replaces="old (<< 2.0)")
    with pytest.raises(FileConflictError, match="old and new both ship /usr/bin/x"):
        assemble([old, new])


def test_directory_against_symlink_conflicts(tmp_path: Path) -> None:
    one = deb(tmp_path, "one", {"usr/lib/thing/file": "f"})
    two = deb(tmp_path, "two", {"usr/lib/thing": Link("elsewhere")})
    with pytest.raises(FileConflictError, match="/usr/lib/thing"):
        assemble([one, two])
    with pytest.raises(FileConflictError, match="/usr/lib/thing"):
        assemble([two, one])


def test_hard_links_stay_within_their_package(tmp_path: Path) -> None:
    files: dict[str, Content] = {
        "usr/bin/perl5.36": File(b"perl", 0o755),
        "usr/bin/perl": Hardlink("usr/bin/perl5.36"),
        "usr/share/doc/perl/perl.txt": "doc",
        "usr/share/perl/perl.txt": Hardlink("usr/share/doc/perl/perl.txt"),
    }
    perl = deb(tmp_path, "perl", files)
    kinds = {e.path: e.type for e in perl.entries}
    assert EntryType.HARDLINK in {kinds["usr/bin/perl"], kinds["usr/bin/perl5.36"]}
    tree = assemble([perl]).entries
    linked = [e for e in tree.values() if e.type is EntryType.HARDLINK]
    assert [(e.path, e.target) for e in linked] in (
        [("usr/bin/perl", "usr/bin/perl5.36")],
        [("usr/bin/perl5.36", "usr/bin/perl")],
    )
    # The documentation original is dropped: its link became a copy.
    copy = tree["usr/share/perl/perl.txt"]
    assert (copy.type, copy.data) == (EntryType.FILE, b"doc")

    new_perl = deb(tmp_path, "new-perl", {"usr/bin/perl5.36": "new"}, Replaces="perl")
    tree = assemble([perl, new_perl]).entries
    for path in ("usr/bin/perl", "usr/bin/perl5.36"):
        assert tree[path].type is EntryType.FILE


def test_directories_merge_first_mode_wins(tmp_path: Path) -> None:
    one = deb(tmp_path, "one", {"usr/lib/shared": Dir(0o750), "usr/lib/shared/a": "a"})
    two = deb(tmp_path, "two", {"usr/lib/shared": Dir(0o755), "usr/lib/shared/b": "b"})
    assembly = assemble([one, two])
    shared = assembly.entries["usr/lib/shared"]
    assert (shared.mode, shared.owner) == (0o750, "one")
    assert "usr/lib/shared" in assembly.paths["two"]


DOCS: dict[str, Content] = {
    "usr/bin/tool": "t",
    "usr/share/doc/tool/copyright": "GPL",
    "usr/share/doc/tool/changelog.Debian.gz": "log",
    "usr/share/doc/tool/examples/a.conf": "a",
    "usr/share/doc/tool-data": Link("tool"),
    "usr/share/man/man1/tool.1.gz": "man",
    "usr/share/info/tool.info.gz": "info",
    "usr/share/locale/de/LC_MESSAGES/tool.mo": "mo",
    "usr/share/lintian/overrides/tool": "o",
    "usr/share/doc-base/tool": "d",
    "usr/share/tool/data": "keep",
}


def test_documentation_dropped_copyright_kept(tmp_path: Path) -> None:
    assembly = assemble([deb(tmp_path, "tool", DOCS)])
    kept = {p for p in assembly.entries if p.startswith("usr/share")}
    assert kept == {
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/tool",
        "usr/share/doc/tool/copyright",
        "usr/share/doc/tool-data",
        "usr/share/tool",
        "usr/share/tool/data",
    }
    assert "usr/share/doc/tool/changelog.Debian.gz" not in assembly.paths["tool"]
    assert "usr/share/doc/tool" in assembly.paths["tool"]

    everything = assemble([deb(tmp_path / "2", "tool", DOCS)], AssemblyOptions(exclude=()))
    assert "usr/share/man/man1/tool.1.gz" in everything.entries


def test_patterns() -> None:
    assert matches("usr/share/doc/**", "usr/share/doc")
    assert matches("usr/share/doc/**", "usr/share/doc/a/b/c")
    assert matches("usr/share/doc/*/copyright", "usr/share/doc/a/copyright")
    assert not matches("usr/share/doc/*/copyright", "usr/share/doc/a/b/copyright")
    assert not matches("usr/share/doc/*", "usr/share/doc/a/b")


_COMPONENTS = st.sampled_from(["usr", "share", "doc", "a", "b", "copyright", "x.gz"])
_PATTERN_PARTS = st.sampled_from(["usr", "share", "doc", "a", "*", "**", "?", "[ab]", "*.gz"])


@given(
    pattern=st.lists(_PATTERN_PARTS, min_size=1, max_size=5),
    path=st.lists(_COMPONENTS, min_size=1, max_size=6),
)
def test_matching_skips_paths_outside_the_literal_prefix_with_the_same_answers(
    pattern: list[str], path: list[str]
) -> None:
    assert matches("/".join(pattern), "/".join(path)) == _match(pattern, path)


def test_layers_split_by_group_with_parents(tmp_path: Path) -> None:
    starter = deb(tmp_path, "starter", {"usr/bin/python3": "py"})
    added = deb(tmp_path, "added", {"usr/lib/python3/dist-packages/requests/__init__.py": "r"})
    early = deb(tmp_path, "early-added", {"usr/share/zoneinfo/UTC": "tz"})
    late = deb(tmp_path, "late-starter", {"usr/share/zoneinfo/Europe/Paris": "tz"})
    tree = assemble([starter, early, added, late]).entries
    assert tree["usr/share/zoneinfo"].owner == "early-added"

    base, extra = split_layers(tree, [{"starter", "late-starter"}, {"added", "early-added"}])
    base_paths = [e.path for e in base]
    extra_paths = [e.path for e in extra]
    assert base_paths == sorted(base_paths)
    assert {"bin", "lib", "sbin", "usr", "usr/bin", "usr/bin/python3"} <= set(base_paths)
    # early-added owns the directory, but late-starter needs it in the base layer.
    assert {"usr/share", "usr/share/zoneinfo", "usr/share/zoneinfo/Europe/Paris"} <= set(base_paths)
    assert "usr/share/zoneinfo" not in extra_paths
    assert extra_paths == [
        "usr/lib/python3",
        "usr/lib/python3/dist-packages",
        "usr/lib/python3/dist-packages/requests",
        "usr/lib/python3/dist-packages/requests/__init__.py",
        "usr/share/zoneinfo/UTC",
    ]
    for index, layer in enumerate((base, extra)):
        below = {e.path for layer in (base, extra)[: index + 1] for e in layer}
        for entry in layer:
            parent = entry.path.rpartition("/")[0]
            assert not parent or parent in below
    with pytest.raises(ValueError, match="starter"):
        split_layers(tree, [{"added", "early-added"}])


def test_with_parents_adds_only_missing_directories() -> None:
    below = {"etc": Entry("etc", EntryType.DIRECTORY, 0o755)}
    layer = with_parents([Entry("etc/ssl/certs/x.crt", EntryType.FILE)], below)
    assert [e.path for e in layer] == ["etc/ssl", "etc/ssl/certs", "etc/ssl/certs/x.crt"]


# Generated files


def test_accounts_without_base_passwd() -> None:
    entries = {e.path: e for e in accounts({}, [Account("app", 1000, "/srv/app")])}
    assert entries["etc/passwd"].data.decode().splitlines() == [
        "root:x:0:0:root:/root:/usr/sbin/nologin",
        "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin",
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin",
        "app:x:1000:1000:app:/srv/app:/usr/sbin/nologin",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    assert entries["etc/group"].data.decode().splitlines() == [
        "root:x:0:",
        "www-data:x:33:",
        "nonroot:x:65532:",
        "app:x:1000:",
        "nogroup:x:65534:",
    ]
    # Homes are made for the accounts that log in; www-data's /var/www is left to packages.
    assert "srv/app" in entries and "var/www" not in entries
    home = entries["home/nonroot"]
    assert (home.type, home.uid, home.gid, home.mode) == (EntryType.DIRECTORY, 65532, 65532, 0o700)
    assert entries["root"].mode == 0o700


def test_accounts_from_base_passwd() -> None:
    tree = {
        "usr/share/base-passwd/passwd.master": Entry(
            "usr/share/base-passwd/passwd.master",
            EntryType.FILE,
            data=b"root:*:0:0:root:/root:/bin/bash\nnobody:*:65534:65534::/nonexistent:/x\n",
        ),
        "usr/share/base-passwd/group.master": Entry(
            "usr/share/base-passwd/group.master",
            EntryType.FILE,
            data=b"root:*:0:\nnogroup:*:65534:\n",
        ),
    }
    entries = {e.path: e for e in accounts(tree)}
    passwd = entries["etc/passwd"].data.decode().splitlines()
    assert passwd[0] == "root:*:0:0:root:/root:/bin/bash"
    assert passwd[-1] == "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin"
    assert entries["etc/group"].data.decode().splitlines()[-1] == "nonroot:x:65532:"


def _file(path: str, data: bytes) -> Entry:
    return Entry(path, EntryType.FILE, data=data)


def test_ca_bundle_concatenates_in_order() -> None:
    tree = {
        p: _file(p, d)
        for p, d in {
            "usr/share/ca-certificates/mozilla/B_Root.crt": b"B\n",
            "usr/share/ca-certificates/mozilla/A (Root), CA.crt": b"A",  # no final newline
            "usr/share/ca-certificates/mozilla/README": b"not a cert",
            "usr/local/share/ca-certificates/corp.crt": b"CORP\n",
        }.items()
    }
    entries = {e.path: e for e in ca_bundle(tree, [b"EXTRA"])}
    assert entries["etc/ssl/certs/ca-certificates.crt"].data == b"A\nB\nCORP\nEXTRA\n"
    link = entries["etc/ssl/certs/A_=Root=__CA.pem"]
    assert link.target == "/usr/share/ca-certificates/mozilla/A (Root), CA.crt"
    assert ca_bundle({}) == []


def test_alternatives_pick_the_best_existing_candidate() -> None:
    tree = {
        p: _file(p, b"x")
        for p in (
            "usr/bin/mawk",
            "usr/bin/php8.2",
            "usr/bin/php8.10",
            "usr/lib/jvm/java-17-openjdk-arm64/bin/java",
            "usr/lib/aarch64-linux-gnu/blas/libblas.so.3",
        )
    }
    links = {e.path: e.target for e in alternatives(tree, "arm64")}
    assert links["usr/bin/awk"] == "/etc/alternatives/awk"
    assert links["etc/alternatives/awk"] == "/usr/bin/mawk"
    assert links["etc/alternatives/php"] == "/usr/bin/php8.10"
    assert links["etc/alternatives/java"] == "/usr/lib/jvm/java-17-openjdk-arm64/bin/java"
    assert (
        links["etc/alternatives/libblas.so.3-aarch64-linux-gnu"]
        == "/usr/lib/aarch64-linux-gnu/blas/libblas.so.3"
    )
    assert "usr/bin/pager" not in links
    tree["usr/bin/awk"] = _file("usr/bin/awk", b"busybox")
    assert "usr/bin/awk" not in {e.path for e in alternatives(tree, "arm64")}


def test_nsswitch_comes_from_libc_bins_template() -> None:
    libc = _file("usr/share/libc-bin/nsswitch.conf", b"hosts: files dns # libc-bin\n")
    old = _file("usr/share/base-files/nsswitch.conf", b"hosts: files # base-files\n")
    (made,) = nsswitch({libc.path: libc, old.path: old})
    assert (made.path, made.data) == ("etc/nsswitch.conf", libc.data)
    assert nsswitch({old.path: old})[0].data == old.data
    assert b"hosts:" in nsswitch({})[0].data


def test_os_release() -> None:
    assert os_release({"etc/os-release": Entry("etc/os-release", EntryType.SYMLINK)}) == []
    lib = {"usr/lib/os-release": _file("usr/lib/os-release", b'ID="debian"\n')}
    (link,) = os_release(lib)
    assert (link.path, link.target) == ("etc/os-release", "../usr/lib/os-release")
    made = {e.path: e for e in os_release({}, {"ID": "couturier", "VERSION_ID": "1"})}
    assert made["usr/lib/os-release"].data == b'ID="couturier"\nVERSION_ID="1"\n'


def _tree(*entries: Entry) -> dict[str, Entry]:
    """A tree of ``entries`` with their parent directories and the merged-/usr links."""
    tree: dict[str, Entry] = {
        top: Entry(top, EntryType.SYMLINK, 0o777, target=f"usr/{top}")
        for top in ("bin", "lib", "lib64")
    }
    for entry in entries:
        tree[entry.path] = entry
        for parent in parents(entry.path):
            tree.setdefault(parent, Entry(parent, EntryType.DIRECTORY, 0o755))
    return tree


def test_library_dirs_needing_cache() -> None:
    tree = _tree(
        _file("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n"),
        _file("etc/ld.so.conf.d/x86_64-linux-gnu.conf", b"# multiarch\n/lib/x86_64-linux-gnu\n"),
        _file("etc/ld.so.conf.d/libc.conf", b"/usr/local/lib\n"),
        _file("etc/ld.so.conf.d/fakeroot.conf", b"/lib/x86_64-linux-gnu/libfakeroot\n"),
        _file("usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-0.so", b"elf"),
        _file("usr/lib/x86_64-linux-gnu/libc.so.6", b"elf"),
    )
    assert library_dirs_needing_cache(tree, "amd64") == ["usr/lib/x86_64-linux-gnu/libfakeroot"]
    del tree["etc/ld.so.conf.d/fakeroot.conf"]
    assert library_dirs_needing_cache(tree, "amd64") == []
    # The cache is written all the same: ldconfig -p (ctypes.util.find_library) reads only it.
    assert any(e.path == "etc/ld.so.cache" for e in system_files(tree, "amd64"))


def test_the_c_utf8_locale_survives_the_exclude_patterns() -> None:
    """libc-bin's C.UTF-8 locale is what LANG=C.UTF-8 names; only /usr/share/locale goes."""
    options = AssemblyOptions()

    def kept(path: str) -> bool:
        return not any(matches(p, path) for p in options.exclude) or any(
            matches(p, path) for p in options.include
        )

    assert kept("usr/lib/locale/C.utf8/LC_CTYPE")
    assert kept("usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES")
    assert not kept("usr/share/locale/de/LC_MESSAGES/libc.mo")


def test_var_run_and_var_lock_become_links_as_base_files_makes_them() -> None:
    tree = _tree(
        Entry("run", EntryType.DIRECTORY, 0o755, owner="base-files"),
        Entry("var/run", EntryType.DIRECTORY, 0o755, owner="base-files"),
        Entry("var/lock", EntryType.DIRECTORY, 0o1777, owner="base-files"),
        Entry("var/run/app", EntryType.DIRECTORY, 0o755, owner="app"),
        _file("var/run/app/app.conf", b"x"),
    )
    made = {e.path: e for e in base_files_links(tree)}
    assert (made["var/run"].type, made["var/run"].target) == (EntryType.SYMLINK, "/run")
    assert made["var/lock"].target == "/run/lock"
    assert (made["run/lock"].type, made["run/lock"].mode) == (EntryType.DIRECTORY, 0o1777)
    # What a package put below /var/run moves to /run, where the link shows it.
    assert made["run/app/app.conf"].data == b"x" and made["run/app"].owner is None
    # Links already there (a later base-files) are left alone; so is an existing /run/lock.
    linked = {**tree, **made}
    assert base_files_links(linked) == []
    assert {e.path for e in system_files(tree, "amd64")} >= {"var/run", "var/lock", "run/lock"}


def _cache_listing(data: bytes) -> list[tuple[str, str]]:
    """(key, path) of each entry of a ``glibc-ld.so.cache1.1`` file (offsets from its start)."""
    count = int.from_bytes(data[20:24], "little")

    def string(offset: int) -> str:
        return data[offset : data.index(b"\0", offset)].decode()

    rows = []
    for index in range(count):
        start = 48 + 24 * index
        key = int.from_bytes(data[start + 4 : start + 8], "little")
        value = int.from_bytes(data[start + 8 : start + 12], "little")
        rows.append((string(key), string(value)))
    return rows


TRIPLET = "x86_64-linux-gnu"
HOST_LIBS = Path(f"/usr/lib/{TRIPLET}")
needs_amd64_ldconfig = pytest.mark.skipif(
    shutil.which("ldconfig") is None or not (HOST_LIBS / "libz.so.1").exists(),
    reason="needs an amd64 host with ldconfig and zlib",
)


def _host_file(path: str, host: Path) -> Entry:
    return Entry(path, EntryType.FILE, 0o755, data=host.resolve().read_bytes())


def _library_tree(program: Path | None = None) -> dict[str, Entry]:
    """System libraries in the multiarch directory, zlib only in /opt/app/lib (which
    ld.so.conf.d adds), and optionally a host program with its other libraries."""
    real_zlib = (HOST_LIBS / "libz.so.1").resolve().name
    entries = [
        _host_file(f"usr/lib/{TRIPLET}/libc.so.6", HOST_LIBS / "libc.so.6"),
        _host_file(f"usr/lib/{TRIPLET}/libm.so.6", HOST_LIBS / "libm.so.6"),
        _host_file(f"usr/lib/{TRIPLET}/ld-linux-x86-64.so.2", HOST_LIBS / "ld-linux-x86-64.so.2"),
        Entry(
            "usr/lib64/ld-linux-x86-64.so.2",
            EntryType.SYMLINK,
            target=f"/lib/{TRIPLET}/ld-linux-x86-64.so.2",
        ),
        _file(f"usr/lib/{TRIPLET}/libc.so", b"/* GNU ld script */\nGROUP(x)\n"),
        _host_file(f"opt/app/lib/{real_zlib}", HOST_LIBS / "libz.so.1"),
        Entry("opt/app/lib/libz.so.1", EntryType.SYMLINK, target=real_zlib),
        Entry("opt/app/lib/libz.so", EntryType.SYMLINK, target="libz.so.1"),
        _file("opt/app/lib/libnotes.so.txt", b"not a library"),
        _file("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n"),
        _file(
            f"etc/ld.so.conf.d/{TRIPLET}.conf",
            f"/usr/local/lib/{TRIPLET}\n/lib/{TRIPLET}\n/usr/lib/{TRIPLET}\n".encode(),
        ),
        _file("etc/ld.so.conf.d/app.conf", b"/opt/app/lib\n"),
    ]
    if program is not None:
        entries.append(_host_file("usr/bin/program", program))
        for line in _run("ldd", str(program)).stdout.splitlines():
            parts = line.split()
            if "=>" in parts and parts[0] != "libz.so.1" and parts[2].startswith("/"):
                path = f"usr/lib/{TRIPLET}/{parts[0]}"
                entries.append(_host_file(path, Path(parts[2])))
    return _tree(*entries)


@needs_amd64_ldconfig
def test_ld_so_cache_lists_the_multiarch_directories_without_any_conf_d(tmp_path: Path) -> None:
    """Only the loader's own directories, as in every starter: the cache still lists them, so
    ``ldconfig -p`` (what ctypes.util.find_library asks) finds libc.so.6."""
    tree = _tree(
        _host_file(f"usr/lib/{TRIPLET}/libc.so.6", HOST_LIBS / "libc.so.6"),
        _host_file(f"usr/lib/{TRIPLET}/libm.so.6", HOST_LIBS / "libm.so.6"),
        _file("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n"),
        _file(f"etc/ld.so.conf.d/{TRIPLET}.conf", f"/usr/lib/{TRIPLET}\n".encode()),
    )
    assert library_dirs_needing_cache(tree, "amd64") == []
    (cache,) = [e for e in system_files(tree, "amd64") if e.path == "etc/ld.so.cache"]
    listing = dict(_cache_listing(cache.data))
    assert listing["libc.so.6"] == f"/usr/lib/{TRIPLET}/libc.so.6"
    assert listing["libm.so.6"] == f"/usr/lib/{TRIPLET}/libm.so.6"
    (tmp_path / "ld.so.cache").write_bytes(cache.data)
    printed = _run("ldconfig", "-p", "-C", str(tmp_path / "ld.so.cache")).stdout
    assert f"libc.so.6 (libc6,x86-64) => /usr/lib/{TRIPLET}/libc.so.6" in printed


@needs_amd64_ldconfig
def test_ld_so_cache_matches_ldconfig(tmp_path: Path) -> None:
    tree = _library_tree()
    assert library_dirs_needing_cache(tree, "amd64") == ["opt/app/lib"]
    (cache,) = [e for e in system_files(tree, "amd64") if e.path == "etc/ld.so.cache"]
    root = tmp_path / "root"
    root.mkdir()
    materialize([*tree.values(), cache], root)
    oracle = _run("ldconfig", "-r", str(root), "-C", "/oracle.cache", "-f", "/etc/ld.so.conf", "-X")
    assert oracle.returncode == 0, oracle.stderr

    def listing(path: Path) -> list[str]:
        printed = _run("ldconfig", "-p", "-C", str(path)).stdout.splitlines()
        return [line for line in printed[1:] if not line.startswith("Cache generated by")]

    ours = listing(root / "etc/ld.so.cache")
    assert ours == listing(root / "oracle.cache")
    assert "\tlibz.so.1 (libc6,x86-64) => /opt/app/lib/libz.so.1" in ours
    assert "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6" in ours


@needs_amd64_ldconfig
@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_dynamic_loader_finds_libraries_through_the_cache(tmp_path: Path) -> None:
    program = next(
        (
            Path(p)
            for p in ("/usr/bin/gcov", "/usr/bin/png-fix-itxt", "/usr/bin/gpg", "/usr/bin/curl")
            if Path(p).exists() and "libz.so.1" in _run("ldd", p).stdout
        ),
        None,
    )
    if program is None:
        pytest.skip("no host program linked with zlib")
    tree = _library_tree(program)
    generated = system_files(tree, "amd64")
    without, with_cache = tmp_path / "without", tmp_path / "with"
    for root, extra in ((without, []), (with_cache, generated)):
        root.mkdir()
        materialize([*tree.values(), *with_parents(extra, tree)], root)
    failing = _run("chroot", str(without), "/usr/bin/program", "--version")
    assert "libz.so.1" in failing.stderr
    working = _run("chroot", str(with_cache), "/usr/bin/program", "--version")
    assert working.returncode == 0, working.stderr


# The dpkg database, checked by dpkg itself


def _image(tmp_path: Path) -> tuple[Path, list[DebContents]]:
    debs = [
        deb(
            tmp_path,
            "base-files",
            {
                "usr/lib/os-release": 'ID="debian"\n',
                "etc/issue": "Debian\n",
                "usr/share/doc/base-files/copyright": "c",
                "usr/share/doc/base-files/README": "r",
            },
            conffiles=("/etc/issue",),
            Essential="yes",
            Priority="required",
            Section="admin",
            Homepage="https://example.invalid",
        ),
        deb(
            tmp_path,
            "bash",
            {"bin/bash": File(b"\x7fELF bash", 0o755), "bin/sh": Link("bash")},
            compression="zstd",
            Architecture="amd64",
            Depends="base-files",
        ),
        deb(
            tmp_path,
            "libfoo1",
            {"usr/lib/x86_64-linux-gnu/libfoo.so.1": "foo"},
            compression="gzip",
            Architecture="amd64",
            Multi_Arch="same",
        ),
        deb(
            tmp_path,
            "mawk",
            {"usr/bin/mawk": File(b"mawk", 0o755), "usr/bin/x": "mine"},
            Architecture="amd64",
            Replaces="bash",
        ),
        deb(tmp_path, "empty-meta", {}),
    ]
    assembly = assemble(debs)
    generated = [*system_files(assembly.entries, "amd64"), *dpkg_database(assembly)]
    layer = with_parents(generated, assembly.entries)
    root = tmp_path / "root"
    root.mkdir()
    materialize([*assembly.entries.values(), *layer], root)
    return root, debs


needs_dpkg = pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


@needs_dpkg
def test_dpkg_sees_exactly_the_packages(tmp_path: Path) -> None:
    root, _ = _image(tmp_path)
    admin = root / "var/lib/dpkg"
    listing = _run("dpkg-query", f"--admindir={admin}", "-W", "-f=${Package} ${db:Status-Abbrev}\n")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [
        "base-files ii ",
        "bash ii ",
        "empty-meta ii ",
        "libfoo1 ii ",
        "mawk ii ",
    ]
    audit = _run("dpkg", f"--root={root}", "--audit")
    assert (audit.returncode, audit.stdout, audit.stderr) == (0, "", "")
    listed = _run("dpkg", f"--root={root}", "-l")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1] for line in listed.stdout.splitlines() if line.startswith("ii")] == [
        "base-files",
        "bash",
        "empty-meta",
        "libfoo1:amd64",
        "mawk",
    ]
    verify = _run("dpkg", f"--root={root}", "--verify")
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")


@needs_dpkg
def test_dpkg_file_lists_record_original_paths(tmp_path: Path) -> None:
    root, _ = _image(tmp_path)
    admin = root / "var/lib/dpkg"
    files = _run("dpkg-query", f"--admindir={admin}", "-L", "bash").stdout.splitlines()
    assert files == ["/.", "/bin", "/bin/bash", "/bin/sh"]
    assert (root / "bin").is_symlink()
    assert (root / "usr/bin/bash").read_bytes() == b"\x7fELF bash"
    search = _run(
        "dpkg-query", f"--admindir={admin}", "-S", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"
    )
    assert search.stdout.startswith("libfoo1:amd64: ")
    info = admin / "info"
    assert (info / "libfoo1:amd64.list").exists()
    assert (info / "base-files.conffiles").read_text() == "/etc/issue\n"
    status = (admin / "status").read_text()
    stanza = status.split("\n\n")[0].splitlines()
    assert stanza[:3] == ["Package: base-files", "Essential: yes", "Status: install ok installed"]
    issue_md5 = "32865e97b5342e762ab140e00f3da23b"  # md5 of "Debian\n"
    conffiles_at = stanza.index("Conffiles:")
    assert stanza[conffiles_at + 1] == f" /etc/issue {issue_md5}"
    assert stanza[conffiles_at + 2].startswith("Description: ")
    assert stanza[-1] == "Homepage: https://example.invalid"
    shown = _run("dpkg-query", f"--admindir={admin}", "-W", "-f=${Conffiles}", "base-files")
    assert shown.stdout.split() == ["/etc/issue", issue_md5]
    sums = (info / "base-files.md5sums").read_text()
    assert "etc/issue" not in sums  # conffiles are checked through the status file
    assert "usr/share/doc/base-files/copyright" in sums
    assert "README" not in (info / "base-files.list").read_text()


def test_md5sums_take_the_listed_value_and_hash_what_is_not_listed(tmp_path: Path) -> None:
    """dpkg records the md5s a package ships: the listed value is taken as it is; a path not
    listed, or listed with a malformed value, gets the md5 of its content in the image."""
    content = {"listed": b"listed\n", "unlisted": b"unlisted\n", "malformed": b"malformed\n"}
    files: dict[str, Content] = {f"usr/bin/{name}": data for name, data in content.items()}
    files["usr/bin/linked"] = Hardlink("usr/bin/unlisted")
    built = deb(tmp_path, "tool", files)
    real = {f"usr/bin/{name}": md5_hex(data) for name, data in content.items()}
    real["usr/bin/linked"] = real["usr/bin/unlisted"]

    def sums(package: DebContents) -> dict[str, str]:
        database = {e.path: e.data for e in dpkg_database(assemble([package]))}
        lines = database["var/lib/dpkg/info/tool.md5sums"].decode().splitlines()
        return {path: digest for digest, path in (line.split("  ") for line in lines)}

    # As Debian's packages ship them: the md5s of the content.
    assert sums(built) == real
    shipped = {"usr/bin/listed": "0123456789abcdef0123456789abcdef", "usr/bin/malformed": "XYZ"}
    lying = DebContents(built.filename, built.control, built.entries, md5sums=shipped)
    assert sums(lying) == {**real, "usr/bin/listed": "0123456789abcdef0123456789abcdef"}


# Real Debian packages


@pytest.mark.network
@needs_dpkg
def test_real_bookworm_packages_assemble_merged_usr(tmp_path: Path) -> None:
    names = ["base-files", "libc6", "bash", "coreutils", "mawk"]
    downloads = tmp_path / "debs"
    downloads.mkdir()
    fetched = subprocess.run(
        ["apt-get", "download", *names], cwd=downloads, capture_output=True, text=True, check=False
    )
    if fetched.returncode != 0:
        pytest.skip(f"apt-get download failed: {fetched.stderr.strip()[:200]}")
    arch = _run("dpkg", "--print-architecture").stdout.strip()
    by_name = {read_deb(p).name: p for p in sorted(downloads.glob("*.deb"))}
    debs = [read_deb(by_name[name]) for name in names]
    assembly = assemble(debs)
    tree = assembly.entries

    assert tree["usr/bin/bash"].type is EntryType.FILE
    assert tree["usr/bin/bash"].mode == 0o755
    assert tree["bin"].target == "usr/bin"
    assert "bin/bash" in assembly.paths["bash"]
    assert not any(p.startswith("usr/share/man/") for p in tree)
    assert "usr/share/doc/bash/copyright" in tree
    if arch == "amd64":
        assert tree["lib64"].target == "usr/lib64"
        assert "usr/lib64/ld-linux-x86-64.so.2" in tree
    assert library_dirs_needing_cache(tree, arch) == []

    generated = [*system_files(tree, arch), *dpkg_database(assembly)]
    links = {e.path: e.target for e in generated if e.type is EntryType.SYMLINK}
    assert links["etc/alternatives/awk"] == "/usr/bin/mawk"
    root = tmp_path / "root"
    root.mkdir()
    materialize([*tree.values(), *with_parents(generated, tree)], root)
    assert (root / "bin/bash").resolve() == (root / "usr/bin/bash").resolve()
    admin = root / "var/lib/dpkg"
    listing = _run("dpkg-query", f"--admindir={admin}", "-W", "-f=${Package}\n")
    assert sorted(listing.stdout.split()) == sorted(names)
    audit = _run("dpkg", f"--root={root}", "--audit")
    assert (audit.returncode, audit.stdout) == (0, "")
    verify = _run("dpkg", f"--root={root}", "--verify")
    assert (verify.returncode, verify.stdout) == (0, ""), verify.stdout[:2000]
    owner = _run("dpkg-query", f"--admindir={admin}", "-S", "/bin/bash")
    assert owner.stdout.strip() == "bash: /bin/bash"
