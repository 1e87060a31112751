"""Signatures and attestations of a build into an OCI layout, checked by ``verify_image``.

Builds the fixture starter of ``tests/test_build.py`` (real ``.deb`` files, no network) with
a signer, on one architecture (each line's root is its platform manifest) and on two (the
root is an index), and checks what cosign would read: the ``.sig``/``.att`` tags, the
referrers of artifact type ``application/vnd.dev.cosign.artifact.sig.v1+json``, the
signatures over the simple-signing payload and the DSSE envelopes, and that the SBOM lists
exactly the dpkg database of the layers. ``tests/test_cosign.py`` runs Debian's cosign.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from couturier.cli.main import main
from couturier.core.starter import Starter
from couturier.errors import Code, InputError
from couturier.oci.cosign import (
    ATTESTATION_ARTIFACT_TYPE,
    SIGNATURE_ARTIFACT_TYPE,
    cosign_tag,
    envelope_of,
)
from couturier.oci.layout import Layout
from couturier.oci.signing import (
    KeySigner,
    Signer,
    generate_key,
    load_public_key,
    load_signer,
    private_pem,
)
from couturier.oci.verify import LayoutReader, verify_image
from couturier.services.build import BuildResult, ImageRequest, build
from couturier.services.context import build_context
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey
from tests.test_build import NOW, RELEASES, repo, starter
from tests.test_reproducible_cli import EPOCH, _machine

__all__ = ["repo", "starter"]  # fixtures shared with tests/test_build.py


class BrokenSigner:
    """A signer whose backend fails (a KMS that is down): a stand-in for a remote signer."""

    key_id = "0000000000000000"

    def public_pem(self) -> str:
        return ""

    def sign(self, data: bytes) -> bytes:
        raise InputError("the key service refused to sign", code=Code.SIGNING_FAILED)


@pytest.fixture(scope="module")
def signer() -> KeySigner:
    return KeySigner(generate_key())


def signed_build(
    tmp_path: Path,
    repo: Path,
    key: SigningKey,
    starter: Starter,
    *,
    signer: Signer,
    architectures: tuple[str, ...] = ("amd64",),
) -> tuple[BuildResult, Layout]:
    """The fixture starter built with ``signer`` into the layout ``tmp_path/out``."""
    (tmp_path / "machine").mkdir()
    settings = make_settings(tmp_path / "machine", repo, key.keyring, RELEASES, architectures)
    context = build_context(settings, output=tmp_path / "out", now=NOW, signer=signer)
    return build(context, ImageRequest(starter, "tiny")), Layout(tmp_path / "out")


def public_of(signer: Signer) -> ec.EllipticCurvePublicKey:
    return load_public_key(signer.public_pem().encode())


def test_every_created_line_is_signed_and_attested_and_verifies(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter, signer: KeySigner
) -> None:
    result, layout = signed_build(tmp_path, repo, signing_key, starter, signer=signer)
    assert result.status == "created"
    reader = LayoutReader(layout)
    public = public_of(signer)
    for line in result.lines:
        for artifact_type in (SIGNATURE_ARTIFACT_TYPE, ATTESTATION_ARTIFACT_TYPE):
            assert cosign_tag(line.digest, artifact_type) in layout.tags()
            # The same manifest is an OCI 1.1 referrer of the image, as --experimental-oci11
            # finds it.
            found = layout.referrers(line.digest, artifact_type)
            assert [d.digest for d in found] == [
                layout.tagged(cosign_tag(line.digest, artifact_type)).digest
            ]
        checks = verify_image(reader, line.version, [public])
        assert [(c.name, c.problem) for c in checks] == [
            ("signature", ""),
            ("provenance", ""),
            ("spdx", ""),
            ("cyclonedx", ""),
            ("sbom-matches-dpkg", ""),
        ]
    # The provenance names the builder, the starter and line, the snapshots and packages.
    att = layout.read_json(
        layout.tagged(cosign_tag(result.lines[0].digest, ATTESTATION_ARTIFACT_TYPE))
    )
    predicates = {layer["annotations"]["predicateType"] for layer in att["layers"]}
    assert predicates == {
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
        "https://cyclonedx.org/bom",
    }
    slsa = next(
        layer
        for layer in att["layers"]
        if layer["annotations"]["predicateType"] == "https://slsa.dev/provenance/v1"
    )
    statement = envelope_of(layout.blob_path(slsa["digest"]).read_bytes()).statement
    predicate = statement["predicate"]
    assert predicate["runDetails"]["builder"]["version"]["couturier"]
    assert predicate["runDetails"]["metadata"]["invocationId"] == result.trace_id
    assert predicate["buildDefinition"]["externalParameters"]["starter"] == "tiny"
    assert predicate["buildDefinition"]["externalParameters"]["line"] == "1"
    deps = predicate["buildDefinition"]["resolvedDependencies"]
    assert any(d.get("name") == "index snapshot" for d in deps)
    tool = [d for d in deps if d.get("name") == "tool"]
    assert tool and len(tool[0]["digest"]["sha256"]) == 64
    assert tool[0]["uri"].startswith("pkg:deb/debian/tool@")


def test_an_index_and_each_platform_manifest_are_signed(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter, signer: KeySigner
) -> None:
    result, layout = signed_build(
        tmp_path, repo, signing_key, starter, signer=signer, architectures=("amd64", "arm64")
    )
    assert result.status == "created"
    checks = verify_image(LayoutReader(layout), "2", [public_of(signer)])
    assert all(check.holds for check in checks), checks
    # The index and its two platform manifests each have a signature.
    assert len({c.digest for c in checks if c.name == "signature"}) == 3


def test_another_key_a_tampered_signature_or_attestation_fail_verify(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter, signer: KeySigner
) -> None:
    result, layout = signed_build(tmp_path, repo, signing_key, starter, signer=signer)
    reader = LayoutReader(layout)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    problems = {c.name: c.problem for c in verify_image(reader, "1", [other])}
    assert problems["signature"] == "the signature is not made by a known key"
    assert "does not verify" in problems["provenance"]

    digest = result.lines[0].digest
    sig = layout.read_json(layout.tagged(cosign_tag(digest, SIGNATURE_ARTIFACT_TYPE)))
    layer = sig["layers"][0]
    forged = bytearray(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]))
    forged[-1] ^= 1

    class Tampered(LayoutReader):
        """The layout with one signature byte or one attested package changed."""

        def __init__(self, replaced: dict[str, bytes]) -> None:
            super().__init__(layout)
            self.replaced = replaced

        def manifest(self, reference: str) -> bytes | None:
            if reference in self.replaced:
                return self.replaced[reference]
            return super().manifest(reference)

    layer["annotations"]["dev.cosignproject.cosign/signature"] = base64.b64encode(
        bytes(forged)
    ).decode()
    sig_tag = cosign_tag(digest, SIGNATURE_ARTIFACT_TYPE)
    checks = verify_image(Tampered({sig_tag: json.dumps(sig).encode()}), "1", [public_of(signer)])
    assert {c.name: c.problem for c in checks}["signature"] == (
        "the signature is not made by a known key"
    )

    att_tag = cosign_tag(digest, ATTESTATION_ARTIFACT_TYPE)
    att = layout.read_json(layout.tagged(att_tag))
    slsa = att["layers"][0]
    envelope = json.loads(layout.blob_path(slsa["digest"]).read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["line"] = "2"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    body = json.dumps(envelope).encode()
    new_digest = "sha256:" + hashlib.sha256(body).hexdigest()
    layout.blob_path(new_digest).write_bytes(body)
    slsa["digest"], slsa["size"] = new_digest, len(body)
    checks = verify_image(Tampered({att_tag: json.dumps(att).encode()}), "1", [public_of(signer)])
    kind = slsa["annotations"]["predicateType"]
    failing = {c.name: c.problem for c in checks if not c.holds}
    assert kind == "https://slsa.dev/provenance/v1"
    assert failing == {"provenance": "the attestation's signature does not verify with a known key"}


def test_a_signer_that_fails_fails_the_line_and_publishes_nothing_unsigned(
    tmp_path: Path, repo: Path, signing_key: SigningKey, starter: Starter
) -> None:
    result, layout = signed_build(tmp_path, repo, signing_key, starter, signer=BrokenSigner())
    assert result.status == "image build failed"
    for line in result.lines:
        assert line.status == "failed"
        assert line.error is not None and line.error.code == "signing-failed"
        assert "the key service refused to sign" in line.error.message
        assert line.error.fields["trace_id"] == result.trace_id
    assert not (tmp_path / "out" / "index.json").exists() or "latest" not in layout.tags()


def test_cli_build_signs_with_a_key_file_and_the_signatures_are_reproducible(
    tmp_path: Path,
    repo: Path,
    signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    key_file = tmp_path / "cosign.key"
    key_file.write_bytes(private_pem(generate_key()))
    signatures = []
    for name in ("a", "b"):
        config = _machine(tmp_path / name, repo, signing_key)
        output = tmp_path / f"out-{name}"
        argv = ["--config", config, "build", "--starter", "tiny", "--output", str(output)]
        assert main([*argv, "--sign-key", str(key_file), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        layout = Layout(output)
        digest = result["lines"][0]["digest"]
        signatures.append(layout.tagged(cosign_tag(digest, SIGNATURE_ARTIFACT_TYPE)).digest)
        public = public_of(load_signer(key_file.read_bytes()))
        assert all(c.holds for c in verify_image(LayoutReader(layout), "1", [public]))
    # RFC 6979: the same key over the same image gives the same signature manifest.
    assert signatures[0] == signatures[1]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a key", "is not a PEM private key"),
        (b"", "is not a PEM private key"),
        ("ed25519", "is not an ECDSA P-256 key"),
        ("p384", "is not an ECDSA P-256 key"),
        ("encrypted", "is encrypted; give it unencrypted"),
    ],
)
def test_a_sign_key_that_is_not_a_p256_key_is_one_clear_error(
    tmp_path: Path,
    *,
    repo: Path,
    signing_key: SigningKey,
    capsys: pytest.CaptureFixture[str],
    content: bytes | str,
    problem: str,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if content == "ed25519":
        content = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    elif content == "p384":
        content = ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    elif content == "encrypted":
        content = generate_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    assert isinstance(content, bytes)
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(content)
    config = _machine(tmp_path / "m", repo, signing_key)
    argv = ["--config", config, "build", "--starter", "tiny", "--output", str(tmp_path / "o")]
    assert main([*argv, "--sign-key", str(key_file)]) != 0
    err = capsys.readouterr().err
    assert problem in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()
