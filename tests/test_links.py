"""Paths resolved through links without a filesystem (core/links), against the kernel: the
same links made for real in a temporary directory, resolved by ``os.path.realpath``."""

from __future__ import annotations

import os
import posixpath
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couturier.core.links import LinkLoop, inside, real_path, unpacked_links

_PART = st.sampled_from(["a", "b", "c", "..", "."])
_RELATIVE = st.lists(_PART, min_size=1, max_size=4).map("/".join)
_NAMES = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join)


def test_resolve_follows_links_as_the_kernel_does() -> None:
    links = {"t/a": "..", "t/b": "a/../c", "t/c": "/t/d", "t/loop": "loop"}.get
    assert real_path("t/a/x", links) == "x"
    assert real_path("t/b", links) == "c"  # t/a is the root, and the root's .. is the root
    assert real_path("t/c/e", links) == "t/d/e"
    assert real_path("t/a", links, follow_last=False) == "t/a"
    assert real_path("../../x", links, start="t") == "x"  # the root's .. is the root
    assert inside("t/d", "t") and not inside("td", "t") and inside("x", "")
    with pytest.raises(LinkLoop):
        real_path("t/loop", links)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    st.lists(st.tuples(_NAMES, _RELATIVE), max_size=6),
    st.lists(_RELATIVE, min_size=1, max_size=6),
)
def test_resolve_agrees_with_the_kernel(links: list[tuple[str, str]], queries: list[str]) -> None:
    with tempfile.TemporaryDirectory() as made_dir:
        sandbox = os.path.realpath(made_dir)
        target = os.path.join(sandbox, "t")
        os.mkdir(target)
        made: list[tuple[str, str]] = []
        for path, link in sorted(links):
            parent = os.path.realpath(os.path.join(target, posixpath.dirname(path)))
            if not parent.startswith(sandbox + "/"):
                return  # the kernel would make this link out of the sandbox: not here
            place = os.path.join(parent, posixpath.basename(path))
            try:
                os.makedirs(parent, exist_ok=True)
                os.symlink(link, place)
            except OSError:
                return  # a file or link in the way: the example says nothing
            made.append((path, link))
        registered = unpacked_links("t", made)
        for query in queries:
            try:
                ours = real_path(posixpath.join("t", query), registered.get)
            except LinkLoop:
                continue
            kernel = os.path.realpath(os.path.join(target, query))
            if kernel == sandbox or kernel.startswith(sandbox + "/"):
                expected = "" if kernel == sandbox else os.path.relpath(kernel, sandbox)
                assert ours == expected, (made, query)
            else:
                assert not inside(ours, "t"), (made, query, ours, kernel)
