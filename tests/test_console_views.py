"""What the console's pages make of the API's answers, without a browser: the SBOM tree read
from a CycloneDX document, and the layer chart's bars (one scale for the image and its
starter)."""

from __future__ import annotations

from typing import Any

from couturier.web.layerchart import WIDTH, human_size, layer_bars
from couturier.web.sbomtree import sbom_tree


def _component(name: str, version: str | None, **facts: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "library", "name": name}
    if version is not None:
        body["version"] = version
    body["properties"] = [{"name": f"couturier:{k}", "value": v} for k, v in facts.items()]
    return body


def test_the_sbom_tree_puts_each_package_under_the_request_that_pulled_it_in() -> None:
    document = {
        "components": [
            _component("base-files", "13", group="starter", status="installed"),
            _component("python3.13", "3.13.5-2", group="starter", status="installed"),
            _component(
                "python3-requests",
                "2.32.3",
                group="added",
                status="installed",
                **{"requested-as": "python3-requests-auto"},
            ),
            _component(
                "python3-urllib3",
                "2.3.0",
                group="added",
                status="installed",
                **{"pulled-in-by": "python3-requests"},
            ),
            _component(
                "python3-idna",
                "3.10",
                group="added",
                status="installed",
                **{"pulled-in-by": "python3-requests-auto"},  # named by its request
            ),
            _component("curl", "8.14.1", group="added", status="installed"),
            _component(
                "php-imagick-auto", None, group="added", status="skipped"
            ),  # no member fits the line
            _component(
                "libfoo", "1.0", group="added", status="installed", **{"pulled-in-by": "gone"}
            ),
        ]
    }
    tree = sbom_tree(document)
    assert [e.name for e in tree.starter] == ["base-files", "python3.13"]
    assert [e.name for e in tree.added] == [
        "curl",
        "libfoo",
        "php-imagick-auto",
        "python3-requests",
    ]
    requests = tree.added[-1]
    assert requests.requested_as == "python3-requests-auto"
    assert [(e.name, e.version) for e in requests.pulled_in] == [
        ("python3-idna", "3.10"),
        ("python3-urllib3", "2.3.0"),
    ]
    skipped = tree.added[2]
    assert (skipped.version, skipped.status) == (None, "skipped")
    assert tree.pulled_in_count == 2


def test_the_image_and_its_starter_share_one_scale() -> None:
    layers = {
        "line": "3.13",
        "size": 3000,
        "layers": [
            {"role": "starter", "size": 2000},
            {"role": "added", "size": 600},
            {"role": "generated", "size": 400},
        ],
        "starter": {
            "image": "starters/python:3.13",
            "size": 2400,
            "layers": [{"role": "starter", "size": 2000}, {"role": "generated", "size": 400}],
        },
    }
    mine, starter = layer_bars(layers, "1/app")
    assert (mine.title, starter.title) == ("1/app:3.13", "starters/python:3.13")
    assert [(s.role, s.x, s.width) for s in mine.segments] == [
        ("starter", 0.0, 400.0),
        ("added", 400.0, 120.0),
        ("generated", 520.0, 80.0),
    ]
    assert sum(s.width for s in mine.segments) == WIDTH
    assert sum(s.width for s in starter.segments) == WIDTH * 2400 / 3000
    assert mine.segments[1].label == "added packages: 600 B"
    assert (human_size(999), human_size(1500), human_size(23_700_000)) == (
        "999 B",
        "1.5 kB",
        "23.7 MB",
    )
    only = layer_bars({**layers, "starter": None}, "1/app")
    assert len(only) == 1
