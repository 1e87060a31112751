"""Debian version comparison agrees with python-debian (a test-only oracle no one here wrote)."""

from __future__ import annotations

import functools
import itertools
import random

import pytest
from debian.debian_support import NativeVersion

from couturier.core.catalog import Catalog
from couturier.core.version import compare, is_valid, sort_key, validate
from couturier.errors import InputError

TRICKY = [
    "1.0",
    "1.0~rc1",
    "1.0~~",
    "1.0~",
    "1.0~a",
    "1.0.0",
    "1.0-0",
    "1.0-1",
    "1.0-1~bpo12+1",
    "1:0.1",
    "0:1.0",
    "2:1",
    "1.0a",
    "1.0+",
    "1.0+dfsg-1",
    "1.0.dfsg",
    "10",
    "9",
    "1.10",
    "1.9",
    "3.11.2-6+deb12u1",
    "3.11.2-6",
    "3.11.2-6+b1",
    "2.36-9+deb12u4",
    "2.36-9+deb12u10",
    "1.2.3-4ubuntu0.1",
    "1.2.3-4",
    "0",
    "00",
    "0.0",
    "1a",
    "1.0-1.1",
    "1.0-1+b2",
    "7.88.1-10+deb12u8",
    "7.88.1-10+deb12u12",
    "1:2.38.1-5+deb12u3",
    "20230311",
    "20230311.1",
]


def _oracle_cmp(a: str, b: str) -> int:
    va, vb = NativeVersion(a), NativeVersion(b)
    return (va > vb) - (va < vb)


@pytest.mark.parametrize("a", TRICKY)
@pytest.mark.parametrize("b", TRICKY[::3])
def test_compare_agrees_with_python_debian_on_tricky_pairs(a: str, b: str) -> None:
    assert compare(a, b) == _oracle_cmp(a, b)


def test_compare_agrees_on_random_versions() -> None:
    rng = random.Random(20261123)
    alphabet = "0123456789..~~+-abz:"
    versions = []
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        text = rng.choice("0123456789") + body.replace(":", "")
        if text.endswith("-") or "--" in text:
            text += "1"  # a revision after the last hyphen, so the version is valid
        versions.append(rng.choice(["", "1:", "0:", "12:"]) + text)
    for a, b in zip(versions, reversed(versions), strict=True):
        assert compare(a, b) == _oracle_cmp(a, b), (a, b)


def test_sort_key_orders_like_the_oracle() -> None:
    ours = sorted(TRICKY, key=sort_key)
    theirs = sorted(TRICKY, key=functools.cmp_to_key(_oracle_cmp))
    assert ours == theirs


def test_validate_accepts_real_versions_and_rejects_garbage() -> None:
    assert validate("1:2.38.1-5+deb12u3") == "1:2.38.1-5+deb12u3"
    assert is_valid("4.9-2")
    for bad in ["", "abc", "1.0 beta", "1.0_1", "-1", "1.0-"]:
        assert not is_valid(bad), bad
        with pytest.raises(InputError, match="is not a Debian version"):
            validate(bad)


@pytest.mark.network
def test_every_bookworm_version_sorts_as_python_debian_sorts_it(
    mirror_catalogs: dict[str, Catalog],
) -> None:
    catalog = mirror_catalogs["bookworm"]
    versions = sorted({p.version for name in catalog.names() for p in catalog.versions(name)})
    assert len(versions) > 20_000
    ours = sorted(versions, key=sort_key)
    theirs = sorted(versions, key=functools.cmp_to_key(_oracle_cmp))
    assert ours == theirs
    # Neighbours in the sorted list compare the same way too (equal versions included).
    for a, b in itertools.pairwise(ours):
        assert compare(a, b) == _oracle_cmp(a, b), (a, b)
