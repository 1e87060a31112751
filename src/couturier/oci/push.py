"""Pushing images with their referrers to a registry repository, in the order the OCI
distribution specification makes safe: nothing is named before what it references exists.

For each :class:`~couturier.oci.pushsource.PushItem` (a root index or manifest and its tags),
:func:`push`:

1. pushes every blob its platform manifests reference (config, layers), skipping those the
   repository has (``HEAD``) and mounting, when ``mount_from`` names another repository of the
   same registry, those it may hold (one ``POST ?mount=&from=``; a registry that cannot mount
   opens an upload instead, which is then used);
2. puts the platform manifests, then the index, by digest;
3. pushes the referrers (SBOMs) of the index and of each platform manifest, with their blobs,
   by digest. A registry with the referrers API (``GET /v2/<name>/referrers/<digest>``
   answers ``200`` with an image index, or a manifest ``PUT`` answers ``OCI-Subject``) lists
   them itself. Otherwise the spec's tag schema fallback: the tag ``sha256-<hex of the
   subject>`` holds an image index of the subject's referrers; what it held already is kept
   and the new descriptors merged in (by digest). A cosign signature or attestation
   (:mod:`couturier.oci.cosign`) is also put under its tag ``sha256-<hex>.sig`` (``.att``),
   where cosign looks by default;
4. last, points each tag at the root.

A failure raises the client's :class:`~couturier.oci.registry.PushError` (after its retries);
what was pushed before stays (blobs and untagged manifests are harmless, and the next push
skips them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from couturier.oci.cosign import ATTESTATION_ARTIFACT_TYPE, SIGNATURE_ARTIFACT_TYPE, cosign_tag
from couturier.oci.documents import INDEX_MEDIA_TYPE, Descriptor, canonical_json
from couturier.oci.pushsource import PushItem, PushSource
from couturier.oci.registry import RegistryClient

__all__ = ["PushReport", "fallback_tag", "push"]

COSIGN_TYPES = (SIGNATURE_ARTIFACT_TYPE, ATTESTATION_ARTIFACT_TYPE)


@dataclass
class PushReport:
    """What one push did: blobs uploaded, found present, mounted; manifests (and indexes)
    put; referrers pushed and how they were made findable (``api`` or ``tag``, empty when
    there were none)."""

    uploaded: int = 0
    present: int = 0
    mounted: int = 0
    manifests: int = 0
    referrers: int = 0
    referrers_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "present": self.present,
            "mounted": self.mounted,
            "manifests": self.manifests,
            "referrers": self.referrers,
            "referrers_by": self.referrers_by,
        }


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag of ``digest``: ``sha256:<hex>`` → ``sha256-<hex>``."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


class _Pusher:
    def __init__(
        self, source: PushSource, client: RegistryClient, repository: str, mount_from: str
    ) -> None:
        self.source, self.client, self.repository = source, client, repository
        self.mount_from = mount_from
        self.report = PushReport()
        self._blobs: set[str] = set()  # at the destination (pushed or found)
        self._manifests: set[str] = set()
        self._referrers_api: bool | None = None

    def blob(self, digest: str) -> None:
        if digest in self._blobs:
            return
        if self.client.has_blob(self.repository, digest):
            self.report.present += 1
        else:
            location = None
            if self.mount_from and self.mount_from != self.repository:
                location = self.client.mount_blob(self.repository, digest, self.mount_from)
                if location is None:
                    self.report.mounted += 1
                    self._blobs.add(digest)
                    return
            path = self.source.blob(digest)
            self.client.upload_blob(self.repository, digest, path, location)
            self.report.uploaded += 1
        self._blobs.add(digest)

    def manifest(self, digest: str) -> dict[str, Any]:
        """Push the manifest or index ``digest`` (and what it references) by digest; its
        parsed body."""
        media_type, content = self.source.manifest(digest)
        body: dict[str, Any] = json.loads(content)
        if digest in self._manifests:
            return body
        if "manifests" in body:
            for child in body["manifests"]:
                self.manifest(str(child["digest"]))
        else:
            for entry in [body.get("config"), *(body.get("layers") or [])]:
                if isinstance(entry, dict) and "digest" in entry:
                    self.blob(str(entry["digest"]))
        headers = self.client.put_manifest(self.repository, digest, media_type, content)
        self._manifests.add(digest)
        self.report.manifests += 1
        if body.get("subject") and "oci-subject" in headers:
            self._referrers_api = True  # the registry indexes subjects itself
        return body

    def referrers_of(self, subject: str) -> None:
        found = self.source.referrers(subject)
        if not found:
            return
        for referrer in found:
            self.manifest(referrer.digest)
            self.report.referrers += 1
            if referrer.artifact_type in COSIGN_TYPES:
                # cosign's default lookup: the tag sha256-<hex>.sig (.att) of the subject.
                media_type, content = self.source.manifest(referrer.digest)
                tag = cosign_tag(subject, referrer.artifact_type)
                self.client.put_manifest(self.repository, tag, media_type, content)
        if self._referrers_api is None:
            self._referrers_api = self.client.referrers(self.repository, subject) is not None
        if self._referrers_api:
            self.report.referrers_by = "api"
            return
        self._merge_fallback(subject, found)
        self.report.referrers_by = "tag"

    def _merge_fallback(self, subject: str, found: Sequence[Descriptor]) -> None:
        tag = fallback_tag(subject)
        existing = self.client.get_manifest(self.repository, tag, INDEX_MEDIA_TYPE)
        entries: dict[str, dict[str, Any]] = {}
        if existing is not None:
            try:
                old = json.loads(existing[1]).get("manifests") or []
                entries = {str(e["digest"]): e for e in old if isinstance(e, dict)}
            except (ValueError, AttributeError, KeyError):
                entries = {}  # not an index: replaced by one (the spec's schema owns the tag)
        for descriptor in found:
            entries[descriptor.digest] = descriptor.to_json()
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [entries[key] for key in sorted(entries)],
        }
        self.client.put_manifest(self.repository, tag, INDEX_MEDIA_TYPE, canonical_json(index))


def push(
    source: PushSource,
    client: RegistryClient,
    repository: str,
    items: Sequence[PushItem],
    *,
    mount_from: str = "",
) -> PushReport:
    """Push ``items`` from ``source`` to ``repository`` of ``client``'s registry, as the module
    says. ``mount_from``: another repository of that registry that may hold some blobs.
    Raises :class:`~couturier.oci.registry.PushError` and what ``source`` raises."""
    pusher = _Pusher(source, client, repository, mount_from)
    for item in items:
        root = pusher.manifest(item.digest)
        subjects = [str(child["digest"]) for child in root.get("manifests") or []]
        for subject in [item.digest, *subjects]:
            pusher.referrers_of(subject)
        media_type, content = source.manifest(item.digest)
        for tag in item.tags:
            client.put_manifest(repository, tag, media_type, content)
    return pusher.report
