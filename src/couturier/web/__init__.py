"""The console: HTML pages over the same services the REST API calls (issue 12).

- :mod:`~couturier.web.app`: :func:`mount_console`, which ``create_app`` calls to serve the
  pages at ``/``, the console's own CSS and JS at ``/static/console/``, and the npm libraries
  (``node_modules/``, installed by ``npm ci`` from ``package-lock.json``) at ``/static/vendor/``;
- :mod:`~couturier.web.signin`: sign-in with a token, sign-out, and the page dependency that
  sends a browser without a live session to sign-in and back;
- :mod:`~couturier.web.pages`: the gallery, an image, the bundles.

Pages are rendered on the server from the services' answers (the very dictionaries ``/v1``
returns), then enhanced in the browser: htmx refreshes the gallery's filters, and the build
status streams from ``/v1/builds/{trace_id}/events``, which accepts the session cookie.
"""

from couturier.web.app import mount_console

__all__ = ["mount_console"]
