"""The resolver on the data-driven scenarios of ``tests/scenarios.py`` and a few API details."""

from __future__ import annotations

import pytest

from couturier.cli.hints import error_hint
from couturier.core.catalog import Catalog, MemoryCatalog, Package
from couturier.core.relations import parse_request
from couturier.core.resolver import Resolution, resolve
from couturier.core.version import compare
from couturier.errors import NotFoundError, ResolutionError
from tests.scenarios import (
    ARCHITECTURE,
    RELEASE,
    SCENARIO_PACKAGES,
    SCENARIOS,
    Expected,
    Missing,
    Unsolvable,
)


@pytest.fixture(scope="module")
def scenario_catalog() -> Catalog:
    """The scenario packages as an in-memory catalog (a signed repository can replace it)."""
    return MemoryCatalog([Package(f) for f in SCENARIO_PACKAGES], RELEASE, ARCHITECTURE)


def _resolve(catalog: Catalog, requests: list[str], **kwargs: int) -> Resolution:
    return resolve(catalog, [parse_request(r) for r in requests], **kwargs)


@pytest.mark.parametrize(
    ("requests", "expected"),
    [pytest.param(requests, expected, id=name) for name, requests, expected in SCENARIOS],
)
def test_scenario(scenario_catalog: Catalog, requests: list[str], expected: Expected) -> None:
    if isinstance(expected, Unsolvable):
        with pytest.raises(ResolutionError) as caught:
            _resolve(scenario_catalog, requests)
        assert caught.value.sentence == expected.sentence
        assert caught.value.explanation
        assert all({"kind", "text"} <= step.keys() for step in caught.value.explanation)
    elif isinstance(expected, Missing):
        with pytest.raises(NotFoundError) as missing:
            _resolve(scenario_catalog, requests)
        assert missing.value.message == expected.message
    else:
        resolution = _resolve(scenario_catalog, requests)
        assert {f"{p.name}={p.version}" for p in resolution.packages} == expected


def test_every_scenario_package_is_amd64_or_all_but_one() -> None:
    arches = [f["Architecture"] for f in SCENARIO_PACKAGES]
    assert set(arches) == {"amd64", "all", "arm64"}
    assert arches.count("arm64") == 1


def test_packages_sorted_and_reasons(scenario_catalog: Catalog) -> None:
    resolution = _resolve(scenario_catalog, ["un-mailuser", "bt-user"])
    assert [p.name for p in resolution.packages] == sorted(p.name for p in resolution.packages)
    assert resolution.reasons == {
        "un-mailuser": None,
        "un-postfix": "un-mailuser",
        "bt-user": None,
        "bt-second": "bt-user",
    }


def test_virtual_request_is_requested(scenario_catalog: Catalog) -> None:
    assert _resolve(scenario_catalog, ["virt-one"]).reasons == {"virt-one-impl": None}


def test_explanation_is_structured(scenario_catalog: Catalog) -> None:
    with pytest.raises(ResolutionError) as caught:
        _resolve(scenario_catalog, ["un-mailuser", "un-web"])
    kinds = [step["kind"] for step in caught.value.explanation]
    assert kinds == ["requested", "depends", "conflicts", "pulled-in"]
    clash = caught.value.explanation[2]
    assert (clash["package"], clash["other"], clash["relation"]) == (
        "un-postfix",
        "un-exim",
        "un-mta",
    )
    assert caught.value.explanation[3]["chain"] == ["un-mailuser"]


def test_several_providers_error_lists_them(scenario_catalog: Catalog) -> None:
    with pytest.raises(ResolutionError) as caught:
        _resolve(scenario_catalog, ["mail-agent"])
    assert caught.value.explanation[0]["providers"] == ["mta-big", "mta-small", "mta-zed"]


def test_unknown_name_hint(scenario_catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as caught:
        _resolve(scenario_catalog, ["no-such-package"])
    assert caught.value.code == "package-not-found"
    assert caught.value.fields["package"] == "no-such-package"
    assert caught.value.hint == "check the spelling"  # no command below the CLI
    assert error_hint(caught.value) == (
        "check the spelling or search with `couturier packages search`"
    )


def test_step_budget_raises_resolution_error(scenario_catalog: Catalog) -> None:
    with pytest.raises(ResolutionError) as caught:
        _resolve(scenario_catalog, ["bt-user"], max_steps=3)
    assert caught.value.explanation[0]["kind"] == "budget"
    assert "3 steps" in caught.value.sentence


def test_no_requests_give_empty_resolution(scenario_catalog: Catalog) -> None:
    assert _resolve(scenario_catalog, []) == Resolution((), {})


def _tree(levels: int, fanout: int) -> list[dict[str, str]]:
    """Levels of ``fanout`` alternatives each; every leaf needs a package that does not exist."""
    stanzas = []
    for level in range(levels):
        below = " | ".join(f"n{level + 1}-{i}" for i in range(fanout))
        for i in range(fanout):
            depends = below if level < levels - 1 else "no-such-leaf"
            stanzas.append(
                {
                    "Package": f"n{level}-{i}",
                    "Version": "1",
                    "Architecture": "all",
                    "Depends": depends,
                }
            )
    return stanzas


def test_exponential_search_is_bounded() -> None:
    # 4**8 paths, all failing at the leaf: without the budget the search would try them all.
    catalog = MemoryCatalog([Package(f) for f in _tree(8, 4)], "fixture", "amd64")
    with pytest.raises(ResolutionError) as caught:
        _resolve(catalog, ["n0-0"], max_steps=1000)
    assert caught.value.explanation[0]["kind"] == "budget"


def test_small_exhaustive_failure_explains_first_path() -> None:
    catalog = MemoryCatalog([Package(f) for f in _tree(3, 2)], "fixture", "amd64")
    with pytest.raises(ResolutionError) as caught:
        _resolve(catalog, ["n0-0"])
    assert caught.value.sentence == (
        "you asked for n0-0; n0-0 depends on n1-0 | n1-1; n1-0 depends on n2-0 | n2-1; "
        "n2-0 depends on no-such-leaf, which fixture does not have"
    )


def test_deep_chain_resolves_without_recursion() -> None:
    depth = 5000
    stanzas = [
        {"Package": f"d{i}", "Version": "1", "Architecture": "all", "Depends": f"d{i + 1}"}
        for i in range(depth)
    ]
    stanzas.append({"Package": f"d{depth}", "Version": "1", "Architecture": "all"})
    catalog = MemoryCatalog([Package(f) for f in stanzas], "fixture", "amd64")
    assert len(_resolve(catalog, ["d0"]).packages) == depth + 1


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("1.0~rc1", "1.0", -1),
        ("1:0.9", "2.0", 1),
        ("2.0-1", "2.0-1+deb12u1", -1),
        ("1.0", "1.0-0", 0),
        ("3.11.2-6", "3.11.2-6", 0),
    ],
)
def test_version_order_used_by_constraints(a: str, b: str, sign: int) -> None:
    assert (compare(a, b) > 0) - (compare(a, b) < 0) == sign
