"""The registry's records: which manifests each repository holds, what they reference, and
its tags with the history of the mutable ones.

The bytes live in the blob store (:mod:`couturier.blobs`); these rows say what is published.
A repository is named as it is pulled: ``"53/payments-api"`` (a tenant's private image) or
``"starters/python"`` (a starter). Rows are written by the registry sink in one transaction at
a build's commit (:mod:`couturier.services.registry_sink`), so a repository shows either all of
a build's lines or none of them.

- ``registry_manifests``: one manifest or index of a repository (digest, media type, size,
  ``artifactType`` and ``subject`` for referrers, the image line it belongs to, and when a
  build last published it); ``(repository, digest)`` unique.
- ``registry_manifest_blobs``: every digest a manifest references (its config and layers, or
  an index's manifests): what a repository may serve, and what garbage collection keeps.
- ``registry_tags``: a repository's tags, each naming one manifest; ``immutable`` for the
  timestamp tags, which never move.
- ``registry_tag_history``: per mutable tag, which digest it named, from when to when
  (``until`` null: still), and the trace ID of the build that moved it there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    exists,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import NEVER_REUSED, Base, UtcDateTime

__all__ = [
    "ManifestBlob",
    "RegistryManifest",
    "RegistryRecords",
    "RegistryTag",
    "TagEvent",
]


class RegistryManifest(Base):
    __tablename__ = "registry_manifests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(80))
    media_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    artifact_type: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str | None] = mapped_column(String(80), nullable=True)
    line: Mapped[str] = mapped_column(String(40), default="")
    # When a build last published it: garbage collection spares what was published since.
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("repository", "digest", name="uq_registry_manifests_digest"),
        Index("ix_registry_manifests_subject", "repository", "subject"),
        NEVER_REUSED,
    )


class ManifestBlob(Base):
    __tablename__ = "registry_manifest_blobs"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("registry_manifests.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(80), primary_key=True)

    __table_args__ = (Index("ix_registry_manifest_blobs_digest", "digest"),)


class RegistryTag(Base):
    __tablename__ = "registry_tags"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80))
    line: Mapped[str] = mapped_column(String(40), default="")
    immutable: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class TagEvent(Base):
    __tablename__ = "registry_tag_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(80))
    since: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    trace_id: Mapped[str] = mapped_column(String(32), default="")

    __table_args__ = (
        Index("ix_registry_tag_history_tag", "repository", "tag", "id"),
        NEVER_REUSED,
    )


class RegistryRecords:
    """The registry rows in ``session`` (one transaction). Knows nothing of tenants: the
    caller decides which repositories a tenant may name."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- manifests -------------------------------------------------------------------------

    def repository_exists(self, repository: str) -> bool:
        query = select(exists().where(RegistryManifest.repository == repository))
        return bool(self._session.scalar(query))

    def manifest(self, repository: str, digest: str) -> RegistryManifest | None:
        query = select(RegistryManifest).where(
            RegistryManifest.repository == repository, RegistryManifest.digest == digest
        )
        return self._session.scalars(query).first()

    def manifests(self, repository: str) -> list[RegistryManifest]:
        query = select(RegistryManifest).where(RegistryManifest.repository == repository)
        return list(self._session.scalars(query.order_by(RegistryManifest.id)))

    def add_manifest(self, manifest: RegistryManifest, references: Iterable[str]) -> None:
        """Add ``manifest`` with the digests it references. When the repository holds that
        digest already (a manifest's bytes, hence its references, never differ), its row is
        locked and only its ``published_at`` renewed: a garbage collection deleting it at the
        same time waits, then sees it published again and keeps it."""
        query = (
            select(RegistryManifest)
            .where(
                RegistryManifest.repository == manifest.repository,
                RegistryManifest.digest == manifest.digest,
            )
            .with_for_update()
        )
        existing = self._session.scalars(query).first()
        if existing is not None:
            existing.published_at = manifest.published_at
            return
        self._session.add(manifest)
        self._session.flush()
        self._session.add_all(
            ManifestBlob(manifest_id=manifest.id, digest=digest)
            for digest in dict.fromkeys(references)
        )

    def references(self, manifest_ids: Sequence[int]) -> dict[int, list[str]]:
        """The digests each manifest references, by manifest id."""
        found: dict[int, list[str]] = {i: [] for i in manifest_ids}
        if manifest_ids:
            query = select(ManifestBlob.manifest_id, ManifestBlob.digest).where(
                ManifestBlob.manifest_id.in_(manifest_ids)
            )
            for manifest_id, digest in self._session.execute(query):
                found[manifest_id].append(digest)
        return found

    def referenced(self, repository: str, digest: str) -> bool:
        """Whether a manifest of ``repository`` references the blob ``digest``."""
        query = select(
            exists()
            .where(ManifestBlob.digest == digest)
            .where(ManifestBlob.manifest_id == RegistryManifest.id)
            .where(RegistryManifest.repository == repository)
        )
        return bool(self._session.scalar(query))

    def referrers(
        self, repository: str, subject: str, artifact_type: str | None = None
    ) -> list[RegistryManifest]:
        query = select(RegistryManifest).where(
            RegistryManifest.repository == repository, RegistryManifest.subject == subject
        )
        if artifact_type is not None:
            query = query.where(RegistryManifest.artifact_type == artifact_type)
        return list(self._session.scalars(query.order_by(RegistryManifest.digest)))

    def remove_repository(self, repository: str) -> None:
        """Delete every manifest, tag and tag event of ``repository``."""
        ids = select(RegistryManifest.id).where(RegistryManifest.repository == repository)
        self._session.execute(delete(ManifestBlob).where(ManifestBlob.manifest_id.in_(ids)))
        self._session.execute(
            delete(RegistryManifest).where(RegistryManifest.repository == repository)
        )
        self._session.execute(delete(RegistryTag).where(RegistryTag.repository == repository))
        self._session.execute(delete(TagEvent).where(TagEvent.repository == repository))

    def all_manifests(self) -> list[RegistryManifest]:
        """Every manifest of every repository (garbage collection's mark)."""
        return list(self._session.scalars(select(RegistryManifest)))

    def all_reference_rows(self) -> list[tuple[int, str]]:
        """Every (manifest id, referenced digest) pair."""
        query = select(ManifestBlob.manifest_id, ManifestBlob.digest)
        return [(int(i), str(d)) for i, d in self._session.execute(query)]

    def remove_unpublished_since(self, manifest_ids: Sequence[int], cutoff: dt.datetime) -> None:
        """Delete the manifests ``manifest_ids`` that no build published at or after
        ``cutoff`` (checked by the DELETE itself, so a commit publishing one again at the
        same time keeps it), then the references of manifests that are gone."""
        if manifest_ids:
            self._session.execute(
                delete(RegistryManifest).where(
                    RegistryManifest.id.in_(manifest_ids),
                    RegistryManifest.published_at < cutoff,
                )
            )
            self._session.execute(
                delete(ManifestBlob).where(
                    ManifestBlob.manifest_id.not_in(select(RegistryManifest.id))
                )
            )

    def all_references(self) -> set[str]:
        """Every digest some manifest references, and every manifest's own digest."""
        held = set(self._session.scalars(select(ManifestBlob.digest)))
        held.update(self._session.scalars(select(RegistryManifest.digest)))
        return held

    # -- tags -----------------------------------------------------------------------------

    def tags(self, repository: str) -> list[RegistryTag]:
        query = select(RegistryTag).where(RegistryTag.repository == repository)
        return list(self._session.scalars(query.order_by(RegistryTag.tag)))

    def all_tags(self) -> list[RegistryTag]:
        return list(self._session.scalars(select(RegistryTag)))

    def tag(self, repository: str, tag: str) -> RegistryTag | None:
        return self._session.get(RegistryTag, (repository, tag))

    def set_tag(
        self,
        repository: str,
        tag: str,
        digest: str,
        *,
        line: str,
        immutable: bool,
        now: dt.datetime,
        trace_id: str,
    ) -> None:
        """Point ``tag`` at ``digest``; a mutable tag that moves gets a history event (the
        open one closed at ``now``). The caller never moves an immutable tag."""
        row = self.tag(repository, tag)
        if row is not None and row.digest == digest:
            return
        if row is None:
            row = RegistryTag(repository=repository, tag=tag)
            self._session.add(row)
        row.digest, row.line, row.immutable, row.updated_at = digest, line, immutable, now
        if immutable:
            return
        self._session.execute(
            update(TagEvent)
            .where(TagEvent.repository == repository, TagEvent.tag == tag, TagEvent.until.is_(None))
            .values(until=now)
        )
        self._session.add(
            TagEvent(repository=repository, tag=tag, digest=digest, since=now, trace_id=trace_id)
        )

    def remove_tags(self, repository: str, tags: Iterable[str]) -> None:
        names = list(tags)
        if names:
            self._session.execute(
                delete(RegistryTag).where(
                    RegistryTag.repository == repository, RegistryTag.tag.in_(names)
                )
            )

    def tag_events(self, repository: str, limit: int, after: int | None = None) -> list[TagEvent]:
        """A page of the repository's tag history, newest first, before event id ``after``."""
        query = select(TagEvent).where(TagEvent.repository == repository)
        if after is not None:
            query = query.where(TagEvent.id < after)
        return list(self._session.scalars(query.order_by(TagEvent.id.desc()).limit(limit)))
