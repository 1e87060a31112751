"""The CLI's client of a ``couturier serve``: one :class:`httpx.Client` with timeouts, the
token as a bearer header, and the server's errors turned back into :class:`CouturierError`
values, so that the CLI renders them as it renders its own (one line on stderr, ``--json``'s
``{"error": ...}`` on stdout, exit status 1).

- ``{"error": {"code", "message", "hint", "fields", "retryable"}}`` becomes an error of that
  code (``token-revoked``, ``image-not-found``...), its advice rendered by
  :mod:`couturier.cli.hints` as for a local error; a code this CLI does not know is
  ``server-error`` naming it;
- a ``422``'s ``{"errors": [{"field", "value", "rule", "message"}]}`` becomes one error
  listing every violation (``spec-invalid`` for a spec, ``input-invalid`` otherwise);
- a server that cannot be reached is ``server-unreachable``; an answer that is not
  Couturier's (a proxy's page, another service) ``server-error``.

The token is never printed, logged or put in a message: it travels in the ``Authorization``
header only, and one that could not be sent as a header is refused here without being shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from couturier.core.spec import SpecError, Violation, violations_message
from couturier.errors import Code, ConfigError, CouturierError, InputError
from couturier.settings import SERVER_RULE, Settings, server_url_ok

__all__ = ["Remote", "image_path", "remote"]

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0  # a spec's check reads catalogs; the server answers in well under this
# An event stream sends a comment at least every 15 s or so while a build is quiet.
STREAM_READ_TIMEOUT = 90.0
# How long a followed build may be out of reach (a server restarting) before giving up.
UNREACHABLE_FOR = 30.0
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,400}")
_SETUP_HINT = "pass --server URL, or set COUTURIER_SERVER or server: in the settings file"


class RequestError(InputError):
    """A request (not a spec) the server refused with a ``422``: every violation of it."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(
            violations_message("the request", violations),
            "fix each one and run the command again",
            fields={"source": "request", "violations": len(violations)},
        )
        self.violations = violations


def _codes() -> dict[str, Code]:
    return {str(code): code for code in Code}


def image_path(full_name: str) -> str:
    """``/v1/images/TENANT/NAME`` of a full name, each part quoted."""
    tenant, _, name = full_name.partition("/")
    return f"/v1/images/{quote(tenant, safe='')}/{quote(name, safe='')}"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Remote:
    """A client of the server at ``server`` with ``token``; use as a context manager."""

    def __init__(self, server: str, token: str, client: httpx.Client | None = None) -> None:
        self.server = server.rstrip("/")
        self._client = client or httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "couturier-cli"},
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            follow_redirects=False,
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    # -- requests ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> httpx.Response:
        """The server's answer to ``method path``, when it is a success; raises the error it
        answered otherwise (``source``: the spec file the body came from, for a ``422``)."""
        try:
            answer = self._client.request(method, path, json=json, params=params)
        except httpx.TransportError as error:
            raise self.unreachable(error) from None
        if answer.is_success:
            return answer
        raise self.error(answer, source)

    def download(self, path: str, out: BinaryIO) -> None:
        """Write the body of ``GET path`` into ``out`` as it comes (a success), or raise the
        error the server answered."""
        try:
            with self._client.stream("GET", path) as answer:
                if not answer.is_success:
                    answer.read()
                    raise self.error(answer)
                for chunk in answer.iter_bytes():
                    out.write(chunk)
        except httpx.TransportError as error:
            raise self.unreachable(error) from None

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.json(self.request("GET", path, params=params))

    def json(self, answer: httpx.Response) -> Any:
        try:
            return answer.json()
        except ValueError:
            raise self._foreign(answer) from None

    def pages(self, path: str, limit: int = 500) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (``{"items", "next"}``), page after page."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self.get_json(path, params)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise self._foreign(None, f"GET {path} did not answer a list")
            yield from page["items"]
            cursor = page.get("next")
            if not cursor:
                return

    def full_name(self, name: str) -> str | None:
        """``TENANT/NAME`` for ``name`` (which may be written either way): a bare name is the
        token's tenant's, learnt from the gallery (every image in it is the tenant's); None
        when the gallery is empty or ``name`` cannot be an image's (so the image does not
        exist). A tenant is a number and a name one path segment, never ``.`` or ``..``: those
        would be resolved as the URL's dot segments (RFC 3986 §5.2.4) and reach another route."""
        if "/" in name:
            tenant, _, own = name.partition("/")
            if not tenant.isdecimal() or "/" in own or own in ("", ".", ".."):
                return None
            return name
        page = self.get_json("/v1/images", {"limit": 1})
        items = page.get("items") if isinstance(page, dict) else None
        if not items:
            return None
        tenant = str(items[0].get("name", "")).partition("/")[0]
        return f"{tenant}/{name}"

    def events(
        self, trace_id: str, after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any], str | None]]:
        """The server-sent events of build ``trace_id``: ``(name, data, id)``, until the
        stream ends; with ``after`` (an earlier event's id: ``Last-Event-ID``), those after it
        only. Raises the server's error (a build not found) or ``server-unreachable``."""
        path = f"/v1/builds/{quote(trace_id, safe='')}/events"
        timeout = httpx.Timeout(STREAM_READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        headers = {"Last-Event-ID": after} if after is not None else {}
        try:
            with self._client.stream("GET", path, timeout=timeout, headers=headers) as answer:
                if not answer.is_success:
                    answer.read()
                    raise self.error(answer)
                name, data, number = "message", list[str](), None
                for line in answer.iter_lines():
                    if not line:
                        if data:
                            yield name, self._event_data("\n".join(data)), number
                        name, data, number = "message", [], None
                    elif line.startswith(":"):
                        continue
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line.startswith("id:"):
                        number = line[3:].strip() or None
        except httpx.TransportError as error:
            raise self.unreachable(error) from None

    def _event_data(self, text: str) -> dict[str, Any]:
        import json

        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._foreign(None, "a build's event stream sent something else than JSON")
        return data

    def follow(
        self,
        trace_id: str,
        on_event: Any = None,
        sleep: Any = time.sleep,
        clock: Any = time.monotonic,
    ) -> dict[str, Any]:
        """Follow build ``trace_id`` until it ends (its events to ``on_event``) and return the
        build as ``GET /v1/builds/{trace_id}`` answers it then. A stream cut short (the server
        restarting, a proxy's timeout) is taken up again; a server out of reach for
        :data:`UNREACHABLE_FOR` seconds ends it with ``server-unreachable``."""
        path = f"/v1/builds/{quote(trace_id, safe='')}"
        lost: float | None = None
        seen: str | None = None  # the last event's id: a stream taken up again goes on there
        while True:
            try:
                for name, data, number in self.events(trace_id, seen):
                    lost = None
                    seen = number if number is not None else seen
                    if name == "end":
                        break
                    if on_event is not None:
                        on_event(name, data)
                build = self.get_json(path)
                if not isinstance(build, dict):
                    raise self._foreign(None, f"GET {path} did not answer a build")
                if build.get("status") != "in progress":
                    return build
            except CouturierError as error:
                if error.code is not Code.SERVER_UNREACHABLE:
                    raise
                lost = clock() if lost is None else lost
                if clock() - lost > UNREACHABLE_FOR:
                    raise
            sleep(1.0)

    # -- errors ------------------------------------------------------------------------

    def unreachable(self, error: httpx.TransportError) -> CouturierError:
        reason = _one_line(str(error)) or type(error).__name__
        if isinstance(error, httpx.TimeoutException):
            reason = f"timed out ({reason})" if str(error) else "timed out"
        return CouturierError(
            f"cannot reach the Couturier server at {self.server}: {reason}",
            "check the server's URL and that couturier serve runs there",
            code=Code.SERVER_UNREACHABLE,
            fields={"server": self.server, "reason": reason},
        )

    def _foreign(self, answer: httpx.Response | None, what: str = "") -> CouturierError:
        status = answer.status_code if answer is not None else None
        if not what and answer is not None:
            request = answer.request
            what = f"{request.method} {request.url.path} answered HTTP {status}"
            if answer.status_code < 500:
                what += " without Couturier's error body"
        return CouturierError(
            f"the server at {self.server} is not answering as a Couturier server: {what}",
            "check that --server (or COUTURIER_SERVER, server: in the settings) names a "
            "couturier serve, not a proxy or another service",
            code=Code.SERVER_ERROR,
            fields={"server": self.server, "status": status, "code": None},
            retryable=status is not None and status >= 500,
        )

    def error(self, answer: httpx.Response, source: str = "") -> CouturierError:
        """The error a failed answer says (see the module's description)."""
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return self._violations(body["errors"], source)
        problem = body.get("error") if isinstance(body, dict) else None
        if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
            return self._foreign(answer)
        message = _one_line(str(problem.get("message") or problem["code"]), 2000)
        hint = _one_line(str(problem.get("hint") or ""))
        fields = problem.get("fields") if isinstance(problem.get("fields"), dict) else {}
        retryable = bool(problem.get("retryable"))
        code = _codes().get(problem["code"])
        if code is Code.NOT_FOUND and answer.status_code == 404 and not fields:
            # Not one of the API's answers: the server has no such route (another service,
            # a URL with a path the server does not have, or an older couturier serve).
            request = answer.request
            return CouturierError(
                f"the server at {self.server} has no {request.method} {request.url.path}",
                "check that --server names a couturier serve (http://HOST:PORT, no path) "
                "of this version or newer",
                code=Code.SERVER_ERROR,
                fields={"server": self.server, "status": 404, "code": "not-found"},
            )
        if code is None or code in (Code.SERVER_ERROR, Code.SERVER_UNREACHABLE):
            return CouturierError(
                f"the server answered HTTP {answer.status_code}: {message}",
                hint,
                code=Code.SERVER_ERROR,
                fields={
                    "server": self.server,
                    "status": answer.status_code,
                    "code": problem["code"][:80],
                },
                retryable=retryable,
            )
        return CouturierError(message, hint, code=code, fields=fields, retryable=retryable)

    def _violations(self, rows: list[Any], source: str) -> CouturierError:
        violations = [
            Violation(
                str(row.get("field", "")),
                row.get("value"),
                str(row.get("rule") or row.get("message") or "is not valid"),
            )
            for row in rows
            if isinstance(row, dict)
        ]
        if source:
            return SpecError(violations, source)
        return RequestError(violations)


def remote(settings: Settings, server: str | None) -> Remote:
    """A client of ``--server`` (``server``), else the settings' server, with the settings'
    token (``COUTURIER_TOKEN`` or the settings file's ``token``)."""
    url = server or settings.server
    if not url:
        raise ConfigError(
            "no Couturier server to talk to",
            _SETUP_HINT,
            fields={"source": "settings", "key": "server"},
        )
    if server and not server_url_ok(server):
        raise ConfigError(
            f"--server {SERVER_RULE}, got {server[:80]!r}",
            "e.g. --server http://127.0.0.1:8080, as couturier serve says it serves on",
            fields={"source": "--server", "key": "server", "value": server[:200]},
        )
    token = settings.token
    if not token:
        raise CouturierError(
            "no API token to send",
            "set COUTURIER_TOKEN (or token: in the settings file) to a token from couturier "
            "serve's first start, couturier admin token create or couturier tokens create",
            code=Code.TOKEN_MISSING,
        )
    if not _HEADER_SAFE.fullmatch(token):
        # Refused here: an HTTP library's message about a bad header would quote it.
        raise CouturierError(
            "the API token holds characters a token never has (spaces, control characters, "
            "non-ASCII) and is not sent",
            "check COUTURIER_TOKEN (or token: in the settings file)",
            code=Code.TOKEN_INVALID,
        )
    return Remote(url.rstrip("/"), token)
