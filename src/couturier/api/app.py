"""The FastAPI application of an installation."""

from __future__ import annotations

from importlib import metadata

from fastapi import FastAPI

from couturier.api.errors import install_handlers
from couturier.api.routes import health, v1
from couturier.services.installation import Installation

__all__ = ["create_app"]


def _version() -> str:
    try:
        return metadata.version("couturier")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def create_app(installation: Installation) -> FastAPI:
    """The REST API over ``installation`` (which the caller closes). OpenAPI at
    ``/v1/openapi.json``, its browsable form at ``/v1/docs``."""
    app = FastAPI(
        title="Couturier",
        version=_version(),
        summary="A self-hosted image creator: private, minimal OCI images from Debian packages",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.installation = installation
    install_handlers(app)
    app.include_router(health)
    app.include_router(v1)
    return app
