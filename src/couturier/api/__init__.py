"""The REST API (``/v1``): an interface over the services, as the CLI is.

:func:`couturier.api.app.create_app` makes the FastAPI application of an installation;
``couturier serve`` runs it with uvicorn. Routes only translate: they authenticate the request
(:mod:`~couturier.api.auth`), call a service, and shape its result; errors become statuses in
:mod:`~couturier.api.errors`, the only place that knows HTTP status codes.
"""
