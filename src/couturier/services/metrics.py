"""The installation's figures that ``/metrics`` reads from the database: builds by status and
jobs by state, over every tenant (counts only: no tenant is named)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = ["StoreCounts", "store_counts"]


@dataclass(frozen=True)
class StoreCounts:
    builds: dict[str, int]
    jobs: dict[str, int]


def store_counts(installation: Installation) -> StoreCounts:
    """How many builds there are by status and jobs by state. Raises :class:`StateError`
    (``database-unavailable``) when the database does not answer."""
    with installation.store.unit() as uow:
        return StoreCounts(uow.installation.build_counts(), uow.installation.job_counts())
