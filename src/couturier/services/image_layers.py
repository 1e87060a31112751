"""What a private image's line weighs, layer by layer (``GET /v1/images/{t}/{n}/lines/{l}/layers``,
the console's layer chart).

A line's image has one layer per part of the customization (DESIGN.md, "Layers follow the
customization"): the starter's packages, the added packages, the file bundles and the generated
files, each only when it has content. Which is which is read from the image config's
``history`` (one ``created_by`` text per layer, written by
:func:`couturier.assembly.image.line_image`), never guessed from the order. Sizes are the
layers' stored (compressed) sizes, what a pull transfers.

Beside it, the starter image of the same line when the registry has one
(``starters/<starter>:<line>``, :func:`~couturier.services.registry_sink.starter_repository`;
nothing publishes starters there yet): its layers the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from couturier.oci.documents import Platform
from couturier.services.image_sboms import line_manifest, platform_manifest, read_document
from couturier.services.registry_sink import installation_blobs, starter_repository
from couturier.store.registry import RegistryRecords

if TYPE_CHECKING:
    from couturier.blobs import BlobStore
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = ["ROLES", "layer_role", "line_layers"]

# The parts of an image, in the order its layers come.
ROLES = ("starter", "added", "bundles", "generated")


def layer_role(created_by: str) -> str:
    """The part of the image a layer's history text names (the texts of
    :func:`couturier.assembly.image.line_image`): ``added``, ``bundles``, ``generated``, or
    ``starter`` (whose text starts with the starter's name and line)."""
    if created_by.startswith("added packages"):
        return "added"
    if created_by.startswith("file bundles"):
        return "bundles"
    if created_by.startswith("generated files"):
        return "generated"
    return "starter"


def _layers(blobs: BlobStore, manifest_digest: str | None) -> list[dict[str, Any]] | None:
    """``[{"role", "digest", "size", "created_by"}]`` of the image manifest, or None when the
    store lacks it or its config."""
    manifest = read_document(blobs, manifest_digest) if manifest_digest else None
    if manifest is None:
        return None
    config = read_document(blobs, str(manifest["config"]["digest"]))
    if config is None:
        return None
    texts = [str(entry.get("created_by", "")) for entry in config.get("history") or []]
    texts = [text.removeprefix("couturier: ") for text in texts]
    layers = manifest.get("layers") or []
    texts += [""] * (len(layers) - len(texts))
    return [
        {
            "role": layer_role(text),
            "digest": str(layer["digest"]),
            "size": int(layer["size"]),
            "created_by": text,
        }
        for layer, text in zip(layers, texts, strict=False)
    ]


def line_layers(
    installation: Installation,
    principal: Principal,
    image: tuple[str, str],
    line: str,
    arch: str | None,
) -> dict[str, Any]:
    """``{"line", "arch", "manifest", "size", "layers": [{"role", "digest", "size",
    "created_by"}], "starter": {"image", "manifest", "size", "layers"} | None}`` of line
    ``line`` of the tenant's image ``image`` (``(tenant, name)``) on ``arch``; sizes in bytes.
    Raises as :func:`~couturier.services.image_sboms.line_manifest` does."""
    found = line_manifest(installation, principal, image, line, arch)
    blobs = installation_blobs(installation.settings)
    layers = _layers(blobs, found.manifest) or []
    starter = None
    repository = starter_repository(found.starter)
    with installation.store.unit() as uow:
        tag = RegistryRecords(uow.session).tag(repository, line)
    if tag is not None:
        digest = platform_manifest(blobs, tag.digest, Platform.for_debian(found.arch))
        starter_layers = _layers(blobs, digest)
        if starter_layers is not None:
            starter = {
                "image": f"{repository}:{line}",
                "manifest": digest,
                "size": sum(layer["size"] for layer in starter_layers),
                "layers": starter_layers,
            }
    return {
        "line": line,
        "arch": found.arch,
        "manifest": found.manifest,
        "size": sum(layer["size"] for layer in layers),
        "layers": layers,
        "starter": starter,
    }
