"""A client of an OCI registry's push category (OCI distribution specification v1.1).

:class:`RegistryClient` speaks to one registry (``https://host[:port]``) over ``httpx``:

- **auth**: anonymous until the registry answers ``401``; then what its ``WWW-Authenticate``
  challenge asks: ``Basic`` (the credentials on every later request) or ``Bearer`` (the token
  flow of the distribution spec / Docker's token authentication: ``GET realm?service=&scope=``
  with the credentials as basic auth, the token cached per scope and sent on the following
  requests of that repository);
- **blobs**: ``HEAD`` to skip present ones (:meth:`has_blob`), cross-repository mount
  (``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>``, :meth:`mount_blob`), and a
  monolithic upload, ``POST`` then ``PUT <location>?digest=`` streamed from a file, and the
  spec's chunked upload (``PATCH`` by ``PATCH``) only when the registry answers that single
  ``PUT`` with ``413`` (:meth:`upload_blob`);
- **manifests**: ``GET``/``PUT /v2/<name>/manifests/<reference>`` (:meth:`get_manifest`,
  :meth:`put_manifest`) and the referrers API probe (:meth:`referrers`).

Every operation is retried with exponential backoff (:class:`RetryPolicy`) on a connection
error, a timeout, a reset (also in the middle of an upload: the upload starts over with a new
session) and on ``429``/``5xx``; what is left after the last attempt is a :class:`PushError`
with code ``push-unreachable``. A ``401``/``403`` that the credentials do not cure is
``push-denied``, any other ``4xx`` ``push-rejected``. A private CA is trusted through a PEM
bundle; other certificates are checked as usual. Credentials never appear in errors, logs or
reprs. Redirects are not followed, and a token realm or upload location the registry names is
checked by ``guard`` (the service's refusal of link-local and metadata hosts) before it is
used.

``transport`` takes an ``httpx`` transport, so tests may point the client at anything.
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from couturier.errors import Code, CouturierError

__all__ = ["Credentials", "PushError", "RegistryClient", "RetryPolicy"]

_T = TypeVar("_T")
_CHUNK = 1024 * 1024
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
# One auth parameter of a challenge: key="quoted value" or key=token (RFC 9110 section 11.2).
_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class PushError(CouturierError):
    """A push operation failed: ``push-unreachable`` (retryable), ``push-denied`` or
    ``push-rejected``; fields ``url``, ``repository``, ``operation``, ``status``, ``reason``,
    ``attempts`` as they apply."""

    default_code = Code.PUSH_UNREACHABLE


@dataclass(frozen=True)
class Credentials:
    """A user name and a password or token; ``repr`` hides the password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per operation, waiting ``first_delay`` seconds after the first failure,
    multiplied by ``factor`` after each (at most ``max_delay``; a ``Retry-After`` of the
    registry is honoured up to that bound)."""

    attempts: int = 4
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_delay)
            delay *= self.factor


class _TransientError(Exception):
    """A failure a retry may cure: the reason, the HTTP status (None for a transport error),
    and the seconds the registry asked to wait."""

    def __init__(self, reason: str, status: int | None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.wait = reason, status, wait


def ssl_context(ca_pem: str | None) -> ssl.SSLContext | bool:
    """What ``httpx`` verifies TLS with: the system's trust store, plus the PEM certificates
    of ``ca_pem`` when given. Raises :class:`ssl.SSLError` for a bundle that is not PEM."""
    if not ca_pem:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=ca_pem)
    return context


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` → ``("bearer", {"realm": ..., "service": ...})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): (quoted.replace('\\"', '"') if quoted else bare)
        for key, quoted, bare in _PARAM.findall(rest)
    }
    return scheme.lower(), params


class RegistryClient:
    """The push side of the registry at ``url`` (``scheme://host[:port]``). Not thread-safe;
    use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        credentials: Credentials | None = None,
        ca_pem: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        guard: Callable[[str, int], str | None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._guard = guard
        self._client = httpx.Client(
            base_url=self.url,
            verify=ssl_context(ca_pem),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            # Not followed: a redirect could lead the service anywhere (no push needs one).
            follow_redirects=False,
            headers={"User-Agent": "couturier"},
        )
        self._basic = False  # the registry asked for basic auth: sent on every request
        self._tokens: dict[str, str] = {}  # bearer tokens by repository

    def __repr__(self) -> str:
        return f"RegistryClient({self.url!r})"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- operations ---------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether ``repository`` holds the blob ``digest`` (``HEAD``: 200 yes, 404 no)."""
        path = f"/v2/{repository}/blobs/{digest}"

        def attempt() -> bool:
            answer = self._request("HEAD", path, repository, "check blob")
            if answer.status_code == 404:
                return False
            self._expect(answer, (200,), repository, "check blob")
            return True

        return self._retrying(attempt, repository, "check blob")

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None:
        """Mount the blob ``digest`` of repository ``source`` (same registry) into
        ``repository``: None when mounted (``201``), else the upload location the registry
        opened instead (``202``), where the blob may be uploaded."""
        path = f"/v2/{repository}/blobs/uploads/"
        params = {"mount": digest, "from": source}

        def attempt() -> str | None:
            answer = self._request("POST", path, repository, "mount blob", params=params)
            self._expect(answer, (201, 202), repository, "mount blob")
            return None if answer.status_code == 201 else self._location(answer, repository)

        return self._retrying(attempt, repository, "mount blob")

    def upload_blob(
        self, repository: str, digest: str, path: Path, location: str | None = None
    ) -> None:
        """Upload the file ``path`` as the blob ``digest``: ``POST`` (unless ``location``, an
        upload already opened, is given) then one streamed ``PUT ?digest=``. A failed attempt
        starts over with a new upload session."""
        size = path.stat().st_size
        opened = [location]

        def attempt() -> None:
            where = opened[0] or self._open_upload(repository)
            opened[0] = None  # a retry opens a new session: the old one may be broken
            url = httpx.URL(where).copy_merge_params({"digest": digest})
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            answer = self._request(
                "PUT", url, repository, "upload blob", headers=headers, body=lambda: _read(path)
            )
            if answer.status_code == 413 and size > 0:
                # The registry (or a proxy before it) takes no body this large at once.
                self._upload_chunks(repository, digest, path)
                return
            self._expect(answer, (201, 204), repository, "upload blob")

        self._retrying(attempt, repository, "upload blob")

    def _upload_chunks(self, repository: str, digest: str, path: Path) -> None:
        """The spec's chunked upload in a new session: one ``PATCH`` per chunk (``Content-Range:
        <first>-<last>``, at least the ``OCI-Chunk-Min-Length`` the registry asks for, else 1
        MiB), each to the location the last answer gave, then ``PUT ?digest=`` without a body.
        Raises :class:`_TransientError` like every request (the caller starts over)."""
        answer = self._request("POST", f"/v2/{repository}/blobs/uploads/", repository, "upload")
        self._expect(answer, (202,), repository, "upload blob")
        where = self._location(answer, repository)
        minimum = answer.headers.get("oci-chunk-min-length", "")
        size = max(int(minimum) if minimum.isdigit() else 0, _CHUNK)
        start = 0
        with path.open("rb") as handle:
            while chunk := handle.read(size):
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                }
                answer = self._request(
                    "PATCH", where, repository, "upload", headers=headers, body=_constant(chunk)
                )
                self._expect(answer, (202,), repository, "upload blob chunk")
                where = self._location(answer, repository)
                start += len(chunk)
        url = httpx.URL(where).copy_merge_params({"digest": digest})
        answer = self._request("PUT", url, repository, "upload", headers={"Content-Length": "0"})
        self._expect(answer, (201, 204), repository, "upload blob")

    def get_manifest(
        self, repository: str, reference: str, accept: str
    ) -> tuple[str, bytes] | None:
        """The media type and bytes of manifest ``reference``; None when there is none."""
        path = f"/v2/{repository}/manifests/{reference}"

        def attempt() -> tuple[str, bytes] | None:
            headers = {"Accept": accept}
            answer = self._request("GET", path, repository, "get manifest", headers=headers)
            if answer.status_code == 404:
                return None
            self._expect(answer, (200,), repository, "get manifest")
            kind = answer.headers.get("content-type", "").split(";")[0].strip()
            return kind, answer.content

        return self._retrying(attempt, repository, "get manifest")

    def get_blob(self, repository: str, digest: str) -> bytes | None:
        """The bytes of blob ``digest`` (checked against it); None when there is none.
        Raises :class:`PushError` when the registry refuses or sends other bytes. Redirects
        to a blob's storage are not followed: a registry serving from elsewhere is not read."""
        path = f"/v2/{repository}/blobs/{digest}"

        def attempt() -> bytes | None:
            answer = self._request("GET", path, repository, "get blob")
            if answer.status_code == 404:
                return None
            self._expect(answer, (200,), repository, "get blob")
            algorithm, _, encoded = digest.partition(":")
            if algorithm != "sha256" or hashlib.sha256(answer.content).hexdigest() != encoded:
                raise PushError(
                    f"{self.url} sent other bytes than blob {digest} of {repository}",
                    code=Code.PUSH_REJECTED,
                    fields={"url": self.url, "repository": repository, "digest": digest},
                )
            return answer.content

        return self._retrying(attempt, repository, "get blob")

    def put_manifest(
        self, repository: str, reference: str, media_type: str, content: bytes
    ) -> httpx.Headers:
        """``PUT`` the manifest or index ``content`` as ``reference`` (a digest or a tag);
        the answer's headers (``OCI-Subject`` tells the registry indexed a subject)."""
        path = f"/v2/{repository}/manifests/{reference}"

        def attempt() -> httpx.Headers:
            headers = {"Content-Type": media_type}
            answer = self._request(
                "PUT", path, repository, "put manifest", headers=headers, body=lambda: content
            )
            self._expect(answer, (200, 201, 202, 204), repository, "put manifest")
            return answer.headers

        return self._retrying(attempt, repository, "put manifest")

    def referrers(self, repository: str, digest: str) -> dict[str, Any] | None:
        """The referrers API's image index for ``digest``; None when the registry has no
        referrers API (any answer but ``200`` with an image index, as the spec says a client
        tells the two apart)."""
        path = f"/v2/{repository}/referrers/{digest}"

        def attempt() -> dict[str, Any] | None:
            answer = self._request("GET", path, repository, "referrers")
            if answer.status_code in (401, 403) or answer.status_code >= 500:
                self._expect(answer, (200,), repository, "referrers")
            if answer.status_code != 200:
                return None
            try:
                body = answer.json()
            except ValueError:
                return None
            if not isinstance(body, dict) or not isinstance(body.get("manifests"), list):
                return None
            return body

        return self._retrying(attempt, repository, "referrers")

    # -- requests, auth and retries -----------------------------------------------------------

    def _open_upload(self, repository: str) -> str:
        answer = self._request("POST", f"/v2/{repository}/blobs/uploads/", repository, "upload")
        self._expect(answer, (202,), repository, "upload blob")
        return self._location(answer, repository)

    def _location(self, answer: httpx.Response, repository: str) -> str:
        location = str(answer.request.url.join(answer.headers.get("location", "")))
        self._check_target(location, repository, "upload location")
        return location

    def _check_target(self, url: str, repository: str, what: str) -> None:
        """Refuse a URL the registry named (its token realm, an upload location) that is not
        http(s), or whose host the guard refuses (a link-local or metadata address): the
        registry must not lead the service where registration would not let it go."""
        target = httpx.URL(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        problem = None
        if target.scheme not in ("http", "https") or not target.host:
            problem = f"{what} {url[:200]!r} is not an http(s) URL"
        elif self._guard is not None and (refused := self._guard(target.host, port)):
            problem = f"{what} refused: {refused}"
        if problem is not None:
            raise PushError(
                f"{self.url}: {problem}",
                code=Code.PUSH_REJECTED,
                fields={"url": self.url, "repository": repository, "reason": problem},
            )

    def _auth_headers(self, repository: str) -> dict[str, str]:
        token = self._tokens.get(repository)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self._credentials is not None:
            return {"Authorization": _basic(self._credentials)}
        return {}

    def _request(
        self,
        method: str,
        url: str | httpx.URL,
        repository: str,
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], Any] | None = None,
    ) -> httpx.Response:
        """One request, answering one auth challenge (the body is made again for the second
        send). Raises :class:`_TransientError` for a failure a retry may cure."""
        for challenged in (False, True):
            request = self._client.build_request(
                method,
                url,
                params=params,
                headers={**(headers or {}), **self._auth_headers(repository)},
                content=body() if body is not None else None,
            )
            try:
                answer = self._client.send(request)
                answer.read()
            except httpx.TransportError as error:
                raise _TransientError(f"{type(error).__name__}: {error}"[:300], None) from None
            if answer.status_code in _TRANSIENT:
                raise _TransientError(
                    f"HTTP {answer.status_code}", answer.status_code, _wait(answer)
                )
            if answer.status_code != 401 or challenged or not self._answer(answer, repository):
                return answer
        return answer

    def _answer(self, answer: httpx.Response, repository: str) -> bool:
        """Take up the challenge of a ``401``: True when a new attempt may pass it."""
        scheme, params = parse_challenge(answer.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self._credentials is None or self._basic:
                return False
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        self._check_target(params["realm"], repository, "token endpoint")
        query: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in params:
            query.append(("service", params["service"]))
        query += [("scope", scope) for scope in params.get("scope", "").split() if scope]
        auth = {"Authorization": _basic(self._credentials)} if self._credentials is not None else {}
        try:
            reply = self._client.get(params["realm"], params=query, headers=auth)
        except httpx.TransportError as error:
            raise _TransientError(f"token endpoint: {type(error).__name__}", None) from None
        if reply.status_code in _TRANSIENT:
            raise _TransientError(f"token endpoint: HTTP {reply.status_code}", reply.status_code)
        if reply.status_code != 200:
            return False
        try:
            document = reply.json()
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            return False
        if not isinstance(token, str) or not token:
            return False
        self._tokens[repository] = token
        return True

    def _expect(
        self, answer: httpx.Response, ok: tuple[int, ...], repository: str, operation: str
    ) -> None:
        """Raise :class:`PushError` unless ``answer``'s status is one of ``ok``."""
        status = answer.status_code
        if status in ok:
            return
        fields = {"url": self.url, "repository": repository, "operation": operation}
        if status in (401, 403):
            raise PushError(
                f"{self.url} refused the credentials to {operation} in {repository} "
                f"(HTTP {status})",
                "check the destination's user name and password or token",
                code=Code.PUSH_DENIED,
                fields={**fields, "status": status},
            )
        reason = _error_codes(answer)
        raise PushError(
            f"{self.url} refused to {operation} in {repository} (HTTP {status}"
            + (f": {reason})" if reason else ")"),
            code=Code.PUSH_REJECTED,
            fields={**fields, "status": status, "reason": reason},
        )

    def _retrying(self, attempt: Callable[[], _T], repository: str, operation: str) -> _T:
        delays = self._retry.delays()
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except _TransientError as failure:
                delay = next(delays, None)
                if delay is None:
                    raise PushError(
                        f"{self.url} did not {operation} in {repository} after {tries} "
                        f"attempts ({failure.reason})",
                        "the registry may be down or overloaded; the next build pushes again",
                        fields={
                            "url": self.url,
                            "repository": repository,
                            "operation": operation,
                            "reason": failure.reason,
                            "status": failure.status,
                            "attempts": tries,
                        },
                    ) from None
                wait = failure.wait if failure.wait is not None else delay
                self._retry.sleep(min(max(wait, delay), self._retry.max_delay))


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _wait(answer: httpx.Response) -> float | None:
    """The seconds of a ``Retry-After`` given as a number; None otherwise."""
    value = answer.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _error_codes(answer: httpx.Response) -> str:
    """The distribution spec's error codes of ``answer`` (``DIGEST_INVALID, ...``), if any."""
    try:
        errors = answer.json().get("errors") or []
        return ", ".join(str(e.get("code")) for e in errors if isinstance(e, dict))[:200]
    except (ValueError, AttributeError):
        return ""
