"""The console mounted on the application: its routers, its static files, its redirects."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from couturier.web import actions_page, image_page, pages, wizard
from couturier.web.assets import STATIC_DIR, STATIC_VERSION, VENDOR_FILES, vendor_dir
from couturier.web.signin import SignInNeededError, sign_in_redirect
from couturier.web.signin import router as signin_router

__all__ = ["ImmutableStaticFiles", "mount_console"]

# A year: what RFC 9111 caches keep without asking; ``immutable`` (RFC 8246) also spares the
# revalidation a reload would make. Only for URLs whose path changes with their content.
IMMUTABLE = "public, max-age=31536000, immutable"


class ImmutableStaticFiles(StaticFiles):
    """Static files under a fingerprinted URL (see :mod:`couturier.web.assets`), answered
    with :data:`IMMUTABLE` caching."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        return response


def mount_console(app: FastAPI) -> None:
    """Serve the console on ``app``: pages at ``/`` (none under ``/v1`` or ``/v2``), its own
    CSS and JS at ``/static/console/``, npm's libraries at ``/static/vendor/<file>`` (only
    the files of :data:`~couturier.web.assets.VENDOR_FILES`)."""
    app.include_router(signin_router)
    app.include_router(pages.router)
    app.include_router(wizard.router)
    app.include_router(image_page.router)
    app.include_router(actions_page.router)
    # The fingerprinted URLs first (the plain mount would take them as file names); the plain
    # ones stay, revalidated as before, for a page a browser kept from an older release.
    app.mount(
        f"/static/console/{STATIC_VERSION}",
        ImmutableStaticFiles(directory=STATIC_DIR),
        name="console-static-versioned",
    )
    app.mount("/static/console", StaticFiles(directory=STATIC_DIR), name="console-static")
    modules = vendor_dir()

    @app.get("/static/vendor/{file}", include_in_schema=False)
    def vendor_file(file: str) -> Response:
        # The name only picks an entry of VENDOR_FILES: nothing of the URL reaches the path.
        if modules is None or file not in VENDOR_FILES:
            return Response("not found", 404, media_type="text/plain")
        package, path = VENDOR_FILES[file]
        return FileResponse(
            modules / package / path,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.exception_handler(SignInNeededError)
    def to_sign_in(request: Request, error: SignInNeededError) -> Response:
        return sign_in_redirect(request, error)
