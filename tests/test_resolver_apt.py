"""The resolver agrees with ``apt-get install -s`` on real requests against Debian's mirror.

Both read the same mirror within one test session: Couturier through its own verified refresh,
apt through an empty root (``tests/apt_oracle.py``). For each request apt's answer is the oracle:
the same set of (package, version) when apt finds one, and no solution when apt finds none.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from couturier.core.catalog import Catalog
from couturier.core.relations import parse_request
from couturier.core.resolver import resolve
from couturier.errors import NotFoundError, ResolutionError
from couturier.settings import Settings
from tests.apt_oracle import TEN_PACKAGES, AptRoot, source_lines

pytestmark = pytest.mark.network

# Requests that read the same in both releases: plain names, alternatives (awk, mail transport),
# virtual packages with one provider and with several, and requests apt cannot satisfy.
COMMON_REQUESTS = [
    ["python3"],
    ["curl"],
    ["openssl"],
    ["ca-certificates"],
    ["tzdata"],
    ["libc6"],
    ["nginx"],
    ["php-cli"],
    ["ruby"],
    ["nodejs"],
    ["postgresql"],
    ["default-jre-headless"],
    ["git"],
    ["vim-tiny"],
    ["less"],
    ["procps"],
    ["iproute2"],
    ["python3-requests"],
    ["python3-yaml"],
    ["perl"],
    ["gawk"],
    ["mawk"],
    ["exim4-daemon-light"],
    ["postfix"],
    ["libssl-dev"],
    ["openssh-client"],
    ["gnupg"],
    ["apache2"],
    ["sudo"],
    ["default-mta"],
    ["python3-pip"],
    ["libjpeg-dev"],
    ["rsyslog"],
    ["wget"],
    ["mariadb-server"],
    ["cron"],
    ["build-essential"],
    list(TEN_PACKAGES),
    ["postfix", "exim4-daemon-light"],  # postfix conflicts with mail-transport-agent
    ["mail-transport-agent"],  # virtual, several providers: the user must pick one
    ["awk"],  # virtual, several providers
    ["couturier-no-such-package"],
    ["python3", "couturier-no-such-package"],
]


def _oldest_and_newest(catalog: Catalog, name: str) -> list[list[str]]:
    versions = catalog.versions(name)
    return [[f"{name}={versions[-1].version}"], [f"{name}={versions[0].version}"]]


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def release_pair(
    request: pytest.FixtureRequest,
    mirror_catalogs: dict[str, Catalog],
    mirror_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Catalog, AptRoot]]:
    release = request.param
    catalog = mirror_catalogs[release]
    lines = source_lines(mirror_settings.release(release))
    apt = AptRoot(tmp_path_factory.mktemp(f"apt-{release}"), "amd64", lines)
    apt.update()
    yield catalog, apt


def _ours(catalog: Catalog, requests: list[str]) -> frozenset[tuple[str, str]] | None:
    try:
        resolution = resolve(catalog, [parse_request(r) for r in requests])
    except (ResolutionError, NotFoundError):
        return None
    return frozenset((p.name, p.version) for p in resolution.packages)


def test_resolution_agrees_with_apt(release_pair: tuple[Catalog, AptRoot]) -> None:
    catalog, apt = release_pair
    corpus = [*COMMON_REQUESTS]
    corpus += _oldest_and_newest(catalog, "tzdata") + _oldest_and_newest(catalog, "libc6")
    corpus.append([f"python3={catalog.versions('python3')[0].version}", "python3-yaml"])
    corpus.append(["bash=0.0-no-such-version"])
    assert len(corpus) >= 30
    disagreements = []
    for requests in corpus:
        expected = apt.install(requests)
        ours = _ours(catalog, requests)
        if not expected.ok:
            if ours is not None:
                disagreements.append(
                    f"{requests}: apt finds no solution, we install {sorted(ours)}"
                )
            continue
        if ours != expected.packages:
            ours = ours or frozenset()
            disagreements.append(
                f"{requests}: only apt {sorted(expected.packages - ours)}; "
                f"only us {sorted(ours - expected.packages)}"
            )
    assert not disagreements, "\n".join(disagreements)
