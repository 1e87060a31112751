"""One tenant's private images, their builds and build lines.

:class:`TenantImages` works within one transaction (a unit of work's session) and one tenant:
every query filters on :attr:`~TenantImages.tenant_id` (builds and lines through their image),
so another tenant's image or build is not found, exactly as one that does not exist. Lists are
keyset pages (:class:`~couturier.store.repositories.Page`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from couturier.store.cards import note_image
from couturier.store.models import Build, BuildLine, Image, Job
from couturier.store.repositories import Page

__all__ = ["TenantImages"]


class TenantImages:
    """Tenant ``tenant_id``'s images and builds in ``session``."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self._session = session
        self.tenant_id = tenant_id

    # -- images --------------------------------------------------------------------------

    def image(self, name: str) -> Image | None:
        query = select(Image).where(Image.tenant_id == self.tenant_id, Image.name == name)
        return self._session.scalars(query).first()

    def lock_image(self, image: Image) -> bool:
        """Lock ``image``'s row until the transaction ends (``SELECT ... FOR UPDATE`` on
        PostgreSQL; SQLite's write transactions run one at a time anyway); False when it is
        gone: another transaction that held the lock deleted it meanwhile."""
        query = select(Image.id).where(Image.id == image.id).with_for_update()
        return self._session.scalar(query) is not None

    def image_names(self, limit: int) -> list[str]:
        """At most ``limit`` of the tenant's image names."""
        query = select(Image.name).where(Image.tenant_id == self.tenant_id).limit(limit)
        return list(self._session.scalars(query))

    def image_by_id(self, image_id: int) -> Image | None:
        query = select(Image).where(Image.tenant_id == self.tenant_id, Image.id == image_id)
        return self._session.scalars(query).first()

    def add_image(self, image: Image) -> Image:
        if image.tenant_id != self.tenant_id:
            raise ValueError("an image is added by its own tenant's repository")
        self._session.add(image)
        self._session.flush()
        return image

    def remove_image(self, image: Image) -> None:
        """Delete ``image`` with its builds, their lines and jobs (the foreign keys cascade;
        deleted here too, for a database that does not enforce them)."""
        builds = select(Build.id).where(Build.image_id == image.id)
        self._session.execute(delete(BuildLine).where(BuildLine.build_id.in_(builds)))

        self._session.execute(delete(Job).where(Job.build_id.in_(builds)))
        self._session.execute(delete(Build).where(Build.image_id == image.id))
        self._session.delete(image)
        self._session.flush()

    def images(self, limit: int, after: tuple[str, ...] | None = None) -> Page[Image]:
        """A page of the tenant's images by name, after the name ``after[0]``."""
        query = select(Image).where(Image.tenant_id == self.tenant_id)
        if after is not None:
            query = query.where(Image.name > after[0])
        rows = list(self._session.scalars(query.order_by(Image.name).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, (rows[-1].name,) if more and rows else None)

    # -- builds ----------------------------------------------------------------------------

    def add_build(self, build: Build) -> Build:
        if build.tenant_id != self.tenant_id:
            raise ValueError("a build is added by its own tenant's repository")
        self._session.add(build)
        self._session.flush()
        return build

    def build(self, trace_id: str) -> Build | None:
        query = select(Build).where(Build.tenant_id == self.tenant_id, Build.trace_id == trace_id)
        return self._session.scalars(query).first()

    def build_by_id(self, build_id: int) -> Build | None:
        query = select(Build).where(Build.tenant_id == self.tenant_id, Build.id == build_id)
        return self._session.scalars(query).first()

    def builds(
        self, image_id: int | None, limit: int, after: tuple[str, ...] | None = None
    ) -> Page[Build]:
        """A page of the tenant's builds (of ``image_id`` only, unless None), newest first,
        after the build id ``after[0]``."""
        query = select(Build).where(Build.tenant_id == self.tenant_id)
        if image_id is not None:
            query = query.where(Build.image_id == image_id)
        if after is not None:
            query = query.where(Build.id < int(after[0]))
        rows = list(self._session.scalars(query.order_by(Build.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, (str(rows[-1].id),) if more and rows else None)

    def latest_builds(self, image_ids: Sequence[int], *, finished: bool) -> dict[int, Build]:
        """The newest build of each image of ``image_ids`` (the newest finished one when
        ``finished``), by image id."""
        if not image_ids:
            return {}
        newest = select(func.max(Build.id)).where(
            Build.tenant_id == self.tenant_id, Build.image_id.in_(image_ids)
        )
        if finished:
            newest = newest.where(Build.finished_at.is_not(None))
        newest = newest.group_by(Build.image_id)
        rows = self._session.scalars(select(Build).where(Build.id.in_(newest)))
        return {row.image_id: row for row in rows}

    def lines(self, build_ids: Sequence[int]) -> dict[int, list[BuildLine]]:
        """The lines of each build of ``build_ids`` (the tenant's), in line order."""
        if not build_ids:
            return {}
        mine = select(Build.id).where(Build.tenant_id == self.tenant_id, Build.id.in_(build_ids))
        query = select(BuildLine).where(BuildLine.build_id.in_(mine)).order_by(BuildLine.id)
        found: dict[int, list[BuildLine]] = {build_id: [] for build_id in build_ids}
        for row in self._session.scalars(query):
            found[row.build_id].append(row)
        return found

    def replace_lines(self, build: Build, lines: Sequence[BuildLine]) -> None:
        """Make ``lines`` the lines of ``build`` (a retried build starts over)."""
        self._session.execute(delete(BuildLine).where(BuildLine.build_id == build.id))
        note_image(self._session, build.image_id)  # a bulk delete: no object says it
        for line in lines:
            line.build_id = build.id
            self._session.add(line)
        self._session.flush()
