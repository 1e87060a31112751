"""``couturier verify`` against Debian's ``docker-registry``: a signed build of the fixture
starter (``tests/test_signing.py``) pushed there with its referrers and cosign's tags
(``couturier.oci.push``), then checked by the real command: exit 0 when everything holds, 1
naming the check for another key, one clear line for a bad reference, a missing image or a
key file that is not a key. ``tests/test_cosign.py`` runs Debian's cosign on a served build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from couturier.cli.main import main
from couturier.core.starter import Starter
from couturier.oci.push import push
from couturier.oci.pushsource import LayoutPushSource, PushItem
from couturier.oci.registry import RegistryClient
from couturier.oci.signing import KeySigner, generate_key, public_pem
from couturier.services.build import BuildResult
from tests.fixture_repo import SigningKey
from tests.registry import Registry, docker_registry
from tests.test_build import repo, starter
from tests.test_signing import signed_build

__all__ = ["docker_registry", "repo", "starter"]  # fixtures of the modules named


@pytest.fixture(scope="module")
def pushed(
    tmp_path_factory: pytest.TempPathFactory,
    repo: Path,
    signing_key: SigningKey,
    starter: Starter,
    docker_registry: Registry,
) -> tuple[BuildResult, Path]:
    """The signed fixture starter (two architectures) in ``docker-registry`` as ``t/tiny``;
    the signer's public key file."""
    root = tmp_path_factory.mktemp("verify-cli")
    signer = KeySigner(generate_key())
    result, layout = signed_build(
        root, repo, signing_key, starter, signer=signer, architectures=("amd64", "arm64")
    )
    with RegistryClient(docker_registry.url) as client:
        items = [PushItem(line.digest, line.tags) for line in result.lines]
        push(LayoutPushSource(layout.root), client, "t/tiny", items)
    (root / "key.pub").write_text(signer.public_pem())
    return result, root / "key.pub"


def test_verify_passes_for_the_signing_key_and_lists_every_check(
    pushed: tuple[BuildResult, Path],
    docker_registry: Registry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, key = pushed
    image = f"{docker_registry.host}/t/tiny:2"
    assert main(["verify", image, "--key", str(key), "--plain-http", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert [c["check"] for c in checks] == [
        "signature",
        "provenance",
        *(["signature", "provenance", "spdx", "cyclonedx", "sbom-matches-dpkg"] * 2),
    ]
    assert all(c["holds"] for c in checks)


def test_verify_with_another_key_exits_1_naming_the_checks(
    pushed: tuple[BuildResult, Path],
    docker_registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "other.pub"
    other.write_text(public_pem(generate_key().public_key()))
    image = f"{docker_registry.host}/t/tiny:1"
    assert main(["verify", image, "--key", str(other), "--plain-http"]) == 1
    captured = capsys.readouterr()
    assert "FAILS: the signature is not made by a known key" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"couturier: error: {image} does not verify: signature, provenance")


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("not a reference", "is not an image reference"),
        ("{host}/t/tiny:9", "names no image"),
        ("{host}/t/absent:1", "names no image"),
    ],
)
def test_a_bad_reference_or_a_missing_image_is_one_line(
    pushed: tuple[BuildResult, Path],
    docker_registry: Registry,
    capsys: pytest.CaptureFixture[str],
    image: str,
    problem: str,
) -> None:
    _, key = pushed
    reference = image.format(host=docker_registry.host)
    assert main(["verify", reference, "--key", str(key), "--plain-http"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert problem in line and "Traceback" not in line


def test_a_key_file_that_is_not_a_public_key_is_one_line(
    pushed: tuple[BuildResult, Path],
    docker_registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    image = f"{docker_registry.host}/t/tiny:1"
    assert main(["verify", image, "--key", str(bad), "--plain-http"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"key file {bad} is not a PEM public key" in line
    missing = tmp_path / "absent.pub"
    assert main(["verify", image, "--key", str(missing), "--plain-http"]) == 1
    assert "cannot be read" in capsys.readouterr().err
