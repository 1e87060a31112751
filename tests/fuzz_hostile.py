"""Property-based checks of the entry points that read what a user hands in: specs, settings
files, bundle inputs (tar of every compression, zip, random bytes), and the bundles accepted.

Run by ``tests/test_fuzz_hostile.py`` in a child process whose address space is capped (a
regression that inflates a bomb fails there instead of taking the machine), as
``python -m tests.fuzz_hostile [NAME...]``. Each property feeds generated and mutated inputs to
the real entry point and accepts only a result or a :class:`CouturierError`; an accepted bundle
must place every file and link inside its target. Examples are derandomized (the same inputs
on every run) and few, so the whole run takes seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import lzma
import os
import resource
import sys
import tarfile
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couturier.assembly.bundles import bundle_entries
from couturier.core.links import inside
from couturier.errors import CouturierError
from couturier.services.bundles import create_bundle
from couturier.settings import Settings, load_settings
from tests.starters import check_spec, read_spec

ADDRESS_SPACE = 768 << 20  # the child's cap: ~60 MiB is what the imports take
EXAMPLES = int(os.environ.get("COUTURIER_FUZZ_EXAMPLES", "60"))  # more for a long local run
NOW = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)

profile = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

GOOD_SPEC = """\
name: payments-api
description: Python with requests
starter: python
packages:
  - curl
  - python3-rsa=4.9-2
  - python3-requests-auto
env:
  APP_ENV: production
bundles:
  - corp-ca@2
"""

GOOD_SETTINGS = """\
data_dir: data
architectures: [amd64, arm64]
mirrors:
  ubuntu:
    url: http://archive.ubuntu.com/ubuntu
    keyring: builtin:debian
    arch_urls: {arm64: "http://ports.ubuntu.com/ubuntu-ports"}
    valid_until: warn
releases:
  noble:
    components: [main, universe]
    suites:
      - {mirror: ubuntu, suite: noble}
      - {mirror: ubuntu, suite: noble-updates}
"""

# Characters that matter to YAML, paths and the rules, over-represented on purpose.
_SPICY = "\0\t\n\r\x7f &*!|>[]{}:,-#@%`'\"\\/.~=0123456789aAzZ_é\u2028"


def mutated(base: str | bytes) -> st.SearchStrategy[Any]:
    """``base`` with a few bytes (or characters) replaced, inserted, deleted or cut."""
    is_text = isinstance(base, str)
    alphabet = st.sampled_from(list(_SPICY)) if is_text else st.binary(min_size=1, max_size=4)

    @st.composite
    def make(draw: st.DrawFn) -> Any:
        value: Any = base
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(value)))
            action = draw(st.sampled_from(["replace", "insert", "delete", "cut", "repeat"]))
            piece = draw(alphabet)
            if action == "replace":
                value = value[:at] + piece + value[at + 1 :]
            elif action == "insert":
                value = value[:at] + piece + value[at:]
            elif action == "delete":
                value = value[:at] + value[at + draw(st.integers(1, 8)) :]
            elif action == "cut":
                value = value[:at]
            else:
                span = value[at : at + draw(st.integers(1, 16))]
                value = value[:at] + span * draw(st.integers(2, 50)) + value[at:]
        return value

    return make()


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.builds(lambda: 10**5000),  # no str() nor repr() past 4300 digits
    st.floats(allow_nan=True),
    st.text(alphabet=_SPICY, max_size=20),
    st.text(max_size=10),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.one_of(st.text(alphabet=_SPICY, max_size=8), scalars), inner, max_size=5
        ),
    ),
    max_leaves=20,
)


def keyed(keys: list[str]) -> st.SearchStrategy[dict[Any, Any]]:
    """Mappings that use the real keys of a document, with values of any shape."""
    return st.dictionaries(st.one_of(st.sampled_from(keys), scalars), values, max_size=8)


SPEC_KEYS = ["name", "description", "starter", "packages", "env", "bundles"]
SETTINGS_KEYS = ["data_dir", "cache_dir", "starters_dir", "architectures", "mirrors", "releases"]


def _dumped(raw: Any) -> str:
    try:
        return yaml.safe_dump(raw)
    except (yaml.YAMLError, ValueError):  # ValueError: an int YAML cannot write out
        return "{}"


def _expect_couturier(call: Callable[[], object]) -> object:
    try:
        return call()
    except CouturierError as error:
        assert str(error), "an error without a message"
        return error


# Specs


@profile
@given(st.one_of(mutated(GOOD_SPEC), st.text(alphabet=_SPICY, max_size=200)))
def spec_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spec.yaml"
        path.write_text(text, errors="surrogatepass")
        _expect_couturier(lambda: read_spec(path))


_REFS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,5}[a-z0-9](@[0-9]{1,12})?", fullmatch=True),
    st.text(alphabet=_SPICY, max_size=12),
    st.just("corp-ca@1" + "0" * 5000),
)
_SPECS = st.fixed_dictionaries(
    {"name": st.just("payments-api"), "starter": st.just("base")},
    optional={
        "bundles": st.lists(_REFS, max_size=4),
        "packages": st.lists(st.one_of(st.text(alphabet=_SPICY, max_size=12), scalars)),
        "env": st.dictionaries(st.text(alphabet=_SPICY, max_size=8), scalars, max_size=4),
        "description": st.one_of(scalars, st.text(alphabet=_SPICY, max_size=30)),
    },
)


def _bundle_refs(store: Settings) -> Any:
    from couturier.services.bundles import check_bundle_refs

    def check(starter: Any, packages: Any, bundles: Any) -> list[tuple[str, str, str]]:
        return [("bundles", ref, why) for ref, why in check_bundle_refs(store, bundles)]

    return check


@profile
@given(st.one_of(keyed(SPEC_KEYS), values, _SPECS))
def spec_values(raw: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        checks = [_bundle_refs(_store(directory))]
        _expect_couturier(lambda: check_spec(raw, checks=checks))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spec.yaml"
        path.write_text(_dumped(raw))
        _expect_couturier(lambda: read_spec(path))


# Settings


@profile
@given(
    st.one_of(
        mutated(GOOD_SETTINGS),
        keyed(SETTINGS_KEYS).map(_dumped),
        st.text(alphabet=_SPICY, max_size=200),
    )
)
def settings_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "couturier.yaml"
        path.write_text(text, errors="surrogatepass")
        _expect_couturier(lambda: load_settings(path, env={}))


# Bundles


def _store(directory: str) -> Settings:
    env = {"COUTURIER_DATA_DIR": f"{directory}/data", "COUTURIER_CACHE_DIR": f"{directory}/c"}
    return load_settings(None, env)


def _good_tar(mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in (("conf/app.conf", b"x=1\n"), ("README", b"hello\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("current")
        link.type = tarfile.SYMTYPE
        link.linkname = "conf"
        archive.addfile(link)
    return buffer.getvalue()


def _good_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conf/app.conf", b"x=1\n" * 50)
        archive.writestr("README", b"hello\n")
    return buffer.getvalue()


ARCHIVES = {
    ".tar": _good_tar("w"),
    ".tar.gz": _good_tar("w:gz"),
    ".tar.bz2": _good_tar("w:bz2"),
    ".tar.xz": lzma.compress(_good_tar("w")),
    ".zip": _good_zip(),
}


def _archive_inputs() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        *[
            st.tuples(st.just(suffix), st.one_of(mutated(data), st.just(data)))
            for suffix, data in ARCHIVES.items()
        ],
        st.tuples(st.sampled_from(list(ARCHIVES)), st.binary(max_size=600)),
    )


def _assert_inside(settings: Settings, target: str, result: object) -> None:
    """An accepted bundle places every file and link inside its target, links reaching
    inside it too (checked by the layer code over an empty image)."""
    if isinstance(result, CouturierError):
        return
    from couturier.services.bundles import get_bundle

    bundle = get_bundle(settings, "fuzz")
    entries = _expect_couturier(lambda: bundle_entries([bundle], {}, 0))
    assert isinstance(entries, list), f"an accepted bundle its layer refuses: {entries}"
    for entry in entries:
        assert inside(entry.path, target.strip("/")), entry.path


@profile
@given(_archive_inputs())
def archives(archive: tuple[str, bytes]) -> None:
    suffix, data = archive
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(data)
        settings = _store(directory)
        result = _expect_couturier(
            lambda: create_bundle(settings, "fuzz", "files", [path], "/etc/app", now=NOW)
        )
        _assert_inside(settings, "/etc/app", result)


_PART = st.sampled_from(["a", "b", "s", "..", ".", "", "etc", "passwd", "a\nb", "x\\y"])
_PATHS = st.lists(_PART, min_size=1, max_size=4).map("/".join)
_LINKS = st.one_of(_PATHS, _PATHS.map(lambda p: "/etc/app/" + p), _PATHS.map(lambda p: "/" + p))
_MEMBERS = st.lists(
    st.one_of(
        st.tuples(st.just("file"), _PATHS, st.binary(max_size=8)),
        st.tuples(st.just("sym"), _PATHS, _LINKS),
        st.tuples(st.just("hard"), _PATHS, _PATHS),
        st.tuples(st.just("dir"), _PATHS, st.just("")),
    ),
    max_size=8,
)


@profile
@given(_MEMBERS, st.sampled_from(["/etc/app", "/", "/var/lib", "/srv/a/b"]))
def linked_bundles(members: list[tuple[str, str, Any]], target: str) -> None:
    kinds = {"file": tarfile.REGTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}
    kinds["dir"] = tarfile.DIRTYPE
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for kind, name, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            if kind == "file":
                info.size = len(extra)
                archive.addfile(info, io.BytesIO(extra))
                continue
            info.linkname = extra if kind in ("sym", "hard") else ""
            archive.addfile(info)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "links.tar"
        path.write_bytes(buffer.getvalue())
        settings = _store(directory)
        result = _expect_couturier(
            lambda: create_bundle(settings, "fuzz", "files", [path], target, now=NOW)
        )
        _assert_inside(settings, target, result)


_DIR_NAMES = st.sampled_from(["a", "b", "a\nb", "caf\udce9", "x" * 300, ".hidden", "sp ace", "..."])
_DIR_ENTRIES = st.lists(
    st.tuples(
        st.lists(_DIR_NAMES, min_size=1, max_size=3).map("/".join),
        st.sampled_from(["file", "dir", "sym", "fifo"]),
        _LINKS,
    ),
    max_size=8,
)


@profile
@given(_DIR_ENTRIES)
def directories(entries: list[tuple[str, str, str]]) -> None:
    """A directory made of odd names, links, FIFOs and files, read as a bundle input."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "input"
        root.mkdir()
        for name, kind, link in entries:
            path = root / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.parent.resolve() != path.parent.absolute() or os.path.lexists(path):
                    continue  # never make anything through a link, nor open a FIFO made before
                if kind == "file":
                    path.write_bytes(b"x")
                elif kind == "dir":
                    path.mkdir()
                elif kind == "sym":
                    path.symlink_to(link)
                else:
                    os.mkfifo(path)
            except (OSError, ValueError):
                continue
        settings = _store(directory)
        result = _expect_couturier(
            lambda: create_bundle(settings, "fuzz", "files", [root], "/etc/app", now=NOW)
        )
        _assert_inside(settings, "/etc/app", result)


PROPERTIES: dict[str, Callable[[], None]] = {
    "spec_text": spec_text,
    "spec_values": spec_values,
    "settings_text": settings_text,
    "archives": archives,
    "linked_bundles": linked_bundles,
    "directories": directories,
}


def main(names: list[str]) -> int:
    """Run the properties named (all by default) under the address-space cap; 1 if any fails."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    failed = 0
    for name in names or list(PROPERTIES):
        try:
            PROPERTIES[name]()
            print(f"{name}: ok")
        except Exception:  # report every property, then fail
            failed += 1
            print(f"{name}: FAILED", file=sys.stderr)
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
