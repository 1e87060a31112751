"""The FastAPI application of an installation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI

from couturier.api import (
    actions,
    bundles,
    catalog,
    destinations,
    registry,
    registry_auth,
    signing,
)
from couturier.api.errors import install_handlers
from couturier.api.images import images
from couturier.api.json_keys import UniqueJsonKeys
from couturier.api.limits import MAX_BODY_BYTES, BodyLimit
from couturier.api.metrics import install_metrics
from couturier.api.query_keys import UniqueQueryKeys
from couturier.api.registry_errors import install_registry_errors
from couturier.api.routes import health, v1
from couturier.services.builds import start_builds
from couturier.services.deliveries import start_deliveries
from couturier.services.installation import Installation
from couturier.services.registry import RegistryReader
from couturier.services.registry_store import registry_reader as store_reader
from couturier.services.schedule import RefreshScheduler
from couturier.web import mount_console

__all__ = ["create_app"]


def _version() -> str:
    try:
        return metadata.version("couturier")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def create_app(
    installation: Installation,
    *,
    workers: int = 0,
    lease: float = 30.0,
    registry_reader: RegistryReader | None = None,
    delivery_workers: int | None = None,
) -> FastAPI:
    """The REST API over ``installation`` (which the caller closes), and the console at ``/``.
    OpenAPI at ``/v1/openapi.json``, its browsable form at ``/v1/docs``. ``workers`` threads
    run the queued builds while the application runs (0: builds are queued and run by another
    process); ``lease`` is the seconds after which a silent worker's job is taken up again.
    The OCI pull endpoint ``/v2/`` reads ``registry_reader`` (default: the installation's
    blob store and database).
    ``delivery_workers`` threads of their own run actions' deliveries (default: 2 when
    ``workers`` run builds, else none)."""
    builds = start_builds(installation, workers, lease=lease)
    if delivery_workers is None:
        delivery_workers = 2 if workers else 0
    deliveries = start_deliveries(installation, delivery_workers)
    # The process that runs embedded jobs runs the daily refresh too (each time runs once per
    # installation, whichever process takes it first); with procrastinate it is the
    # workers' periodic task.
    expression = installation.settings.refresh_schedule
    if installation.settings.jobs == "procrastinate":
        expression = ""
    scheduler = RefreshScheduler(builds, expression) if workers and expression else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        builds.start()
        deliveries.start()
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            deliveries.stop()
            builds.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Couturier",
        version=_version(),
        summary="A self-hosted image creator: private, minimal OCI images from Debian packages",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.installation = installation
    app.state.builds = builds
    app.state.registry = (
        registry_reader if registry_reader is not None else store_reader(installation)
    )
    install_handlers(app)
    install_registry_errors(app)
    app.include_router(health)
    app.include_router(v1)
    app.include_router(images)
    app.include_router(catalog.router)
    app.include_router(bundles.router)
    app.include_router(destinations.router)
    app.include_router(signing.router)
    app.include_router(registry_auth.router)  # /v2/token before the /v2/ path routes
    app.include_router(registry.router)
    app.include_router(actions.router)
    app.add_middleware(UniqueJsonKeys)  # inside BodyLimit: it reads bounded bodies only
    app.add_middleware(UniqueQueryKeys)
    app.add_middleware(BodyLimit, json_limit=MAX_BODY_BYTES, upload_limit=bundles.MAX_UPLOAD_BYTES)
    install_metrics(app, installation)
    mount_console(app)
    return app
