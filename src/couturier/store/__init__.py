"""The service's database adapter (SQLAlchemy: SQLite or PostgreSQL) and the installation key.

- :mod:`~couturier.store.database`: :func:`open_store`, migrations, units of work;
- :mod:`~couturier.store.repositories`: the installation's and each tenant's queries;
- :mod:`~couturier.store.models`: the tables (:mod:`~couturier.store.cards`: the gallery's
  cards, kept ready); :mod:`~couturier.store.migrations`: their history;
- :mod:`~couturier.store.key`: the installation key that seals secrets at rest;
- :mod:`~couturier.store.destinations`: a tenant's destinations and its builds' pushes;
- :mod:`~couturier.store.actions`: actions, their deliveries and attempts;
- :mod:`~couturier.store.build_events`: the progress of running builds;
- :mod:`~couturier.store.starter_builds`: the builds of the starters' lines;
- :mod:`~couturier.store.signing_keys`: the tenants' and the starters' signing keys.
"""

# Each table module is imported here, so that Base.metadata is complete wherever the store is
# (the migrations' check, create_all in tests).
from couturier.store import actions as _actions  # noqa: F401
from couturier.store import build_events as build_events
from couturier.store import starter_builds as starter_builds
from couturier.store.database import Store, open_store
from couturier.store.key import KEY_FILE, InstallationKey, load_or_create_key
from couturier.store.repositories import Page, UnitOfWork

__all__ = [
    "KEY_FILE",
    "InstallationKey",
    "Page",
    "Store",
    "UnitOfWork",
    "load_or_create_key",
    "open_store",
]
