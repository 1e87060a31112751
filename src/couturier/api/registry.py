"""``/v2/``: the OCI distribution specification's pull category and referrers API.

Routes (``NAME`` is ``TENANT_ID/NAME`` or ``starters/STARTER``; a name holds slashes, so one
path route takes the tail and :func:`_route` parses it from the right):

- ``GET /v2/``: ``200 {}`` for a request with a credential, else ``401`` with the challenge
  (:mod:`couturier.api.registry_auth`);
- ``GET``/``HEAD /v2/NAME/manifests/REFERENCE`` (a tag or a ``sha256:`` digest): the stored
  bytes, ``Content-Type`` its media type (an image index or a platform manifest),
  ``Docker-Content-Digest``, ``Content-Length``;
- ``GET``/``HEAD /v2/NAME/blobs/DIGEST``: the blob file streamed; one ``Range`` of bytes is
  ``206`` with ``Content-Range``, a range starting past the end ``416`` (RFC 9110 §14; a
  malformed or multiple range is ignored, as §14.2 allows, and the whole blob sent);
- ``GET /v2/NAME/tags/list[?n=N&last=TAG]``: ``{"name", "tags"}`` in lexical order, at most
  ``n`` (≤ :data:`MAX_PAGE`) after ``last``, with ``Link: <...>; rel="next"`` when more follow;
- ``GET /v2/NAME/referrers/DIGEST[?artifactType=T]``: an image index of the manifests whose
  subject is ``DIGEST``; a filter applied is said by ``OCI-Filters-Applied: artifactType``;
- every push method: ``405 UNSUPPORTED`` (Couturier's images are made by its builds).

Order of checks: the credential (``401``), the name's grammar (``400 NAME_INVALID``), the
grant (``401``, for any repository outside the tenant's namespace and the starters, whether it
exists or not), the reference's grammar (``400``), then the reader: a repository the tenant
cannot see is ``404 NAME_UNKNOWN`` exactly like a missing one (visibility is the
:class:`~couturier.services.registry.RegistryReader`'s). The routes are left out of the
``/v1`` OpenAPI document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from couturier.api.registry_auth import denied, request_grant
from couturier.api.registry_errors import (
    API_VERSION,
    RegistryError,
    of_couturier,
    registry_response,
)
from couturier.core.distribution import is_digest, is_name, is_sha256_digest, is_tag
from couturier.errors import CouturierError
from couturier.oci.documents import INDEX_MEDIA_TYPE
from couturier.services.registry import BlobLocation, RegistryReader
from couturier.services.starter_lines import pulled_starter

__all__ = ["MAX_PAGE", "router"]

router = APIRouter(include_in_schema=False)

MAX_PAGE = 1000  # tags in one answer of tags/list
CHUNK_BYTES = 1 << 20  # read from a blob file per step of its stream
_RANGE = re.compile(r"bytes=(?:(\d{1,18})-(\d{0,18})|-(\d{1,18}))")
_PUSH = ["POST", "PUT", "PATCH", "DELETE"]


def _reader(request: Request) -> RegistryReader:
    """The application's reader (:func:`~couturier.api.app.create_app` sets it)."""
    reader: RegistryReader = request.app.state.registry
    return reader


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@router.api_route("/v2/", methods=["GET", "HEAD"])
def base(request: Request) -> Response:
    """The API version check: ``200 {}`` with a credential, ``401`` with the challenge."""
    request_grant(request)
    return registry_response(b"" if request.method == "HEAD" else b"{}", 200, "application/json")


@router.api_route("/v2/{path:path}", methods=_PUSH)
def push(path: str) -> Response:
    """Every push method: the spec's unsupported operation."""
    raise RegistryError(
        405,
        "UNSUPPORTED",
        "this registry is read-only: images are pushed by Couturier's builds",
        None,
        {"Allow": "GET, HEAD"},
    )


@router.api_route("/v2/{path:path}", methods=["GET", "HEAD"])
def content(request: Request, path: str) -> Response:
    """Manifests, blobs, tags and referrers of a repository (the module's list)."""
    kind, name, reference = _route(path)
    grant = request_grant(request, name if is_name(name) else None)
    if not is_name(name):
        raise RegistryError(400, "NAME_INVALID", "invalid repository name", {"name": name[:300]})
    if not grant.may_pull(name):
        raise denied(request, name)
    reader = _reader(request)
    try:
        if kind == "manifests":
            return _manifest(request, reader, grant.tenant_id, name, reference)
        if kind == "blobs":
            return _blob(request, reader, grant.tenant_id, name, reference)
        if kind == "tags":
            return _tags(request, reader, grant.tenant_id, name)
        return _referrers(request, reader, grant.tenant_id, name, reference)
    except CouturierError as error:
        raise of_couturier(error) from None


def _route(path: str) -> tuple[str, str, str]:
    """(``manifests``|``blobs``|``tags``|``referrers``, name, reference) of a ``/v2/`` tail.
    The reference never holds a slash, so the last marker splits; any other tail is the
    spec's unsupported ``404``."""
    if path.endswith("/tags/list"):
        return "tags", path.removesuffix("/tags/list"), ""
    for kind in ("manifests", "blobs", "referrers"):
        name, marker, reference = path.rpartition(f"/{kind}/")
        if marker and "/" not in reference:
            return kind, name, reference
    if "/blobs/uploads" in path:
        raise RegistryError(405, "UNSUPPORTED", "this registry is read-only", None)
    raise RegistryError(404, "UNSUPPORTED", "no such endpoint of the distribution API", None)


def _unknown(
    reader: RegistryReader, tenant_id: int, name: str, code: str, what: str
) -> RegistryError:
    """``404``: ``NAME_UNKNOWN`` when the tenant sees no such repository, else ``code``."""
    if not reader.repository_exists(tenant_id, name):
        return RegistryError(
            404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
        )
    return RegistryError(404, code, f"{what} unknown to registry", {"name": name})


def _malformed_digest(reference: str) -> RegistryError:
    """``400 DIGEST_INVALID`` for a reference that is no digest at all. The spec's canned message
    ("did not match uploaded content") is about pushes; a pull is told what a digest looks like
    (OCI image spec, "Digests": ``algorithm:encoded``)."""
    return RegistryError(
        400,
        "DIGEST_INVALID",
        "not a digest: write it as sha256: followed by 64 lowercase hex digits",
        {"digest": reference[:300]},
    )


def _manifest(
    request: Request, reader: RegistryReader, tenant_id: int, name: str, reference: str
) -> Response:
    if ":" in reference:
        if not is_digest(reference):
            raise _malformed_digest(reference)
    elif not is_tag(reference):
        raise RegistryError(
            400,
            "MANIFEST_INVALID",
            "the reference is neither a tag nor a digest",
            {"reference": reference[:300]},
        )
    found = (
        reader.manifest(tenant_id, name, reference)
        if is_sha256_digest(reference) or is_tag(reference)
        else None
    )
    if found is None:
        _pulled_starter(request, tenant_id, name)
        raise _unknown(reader, tenant_id, name, "MANIFEST_UNKNOWN", "manifest")
    headers = {"Docker-Content-Digest": found.digest, "Content-Length": str(len(found.content))}
    body = b"" if request.method == "HEAD" else found.content
    return Response(body, 200, {**API_VERSION, **headers}, found.media_type)


def _pulled_starter(request: Request, tenant_id: int, name: str) -> None:
    """A starter's lines are built when first pulled: a pull that finds nothing asks for them
    (:func:`~couturier.services.starter_lines.pulled_starter`; the pull is still a 404)."""
    builds = getattr(request.app.state, "builds", None)
    if builds is not None:
        pulled_starter(builds.installation, builds.queue, tenant_id, name)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` of the one byte range ``header`` asks for within ``size`` bytes;
    None for no range or one this answer ignores (malformed, several). Raises the ``416``
    :class:`RegistryError` when the range starts at or past the end."""
    found = _RANGE.fullmatch(header.strip()) if header and len(header) < 100 else None
    if found is None:
        return None
    first, last, suffix = found.groups()
    if suffix is not None:
        start, end = max(size - int(suffix), 0), size
        satisfiable = int(suffix) > 0 and size > 0
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None  # an invalid range (RFC 9110 §14.1.1): ignored
        satisfiable = start < size
    if not satisfiable:
        raise RegistryError(
            416,
            "RANGE_INVALID",
            f"the range {found.group(0)} is past the end of the {size}-byte blob",
            {"size": size},
            {"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _chunks(handle: IO[bytes], length: int) -> Iterator[bytes]:
    """``length`` bytes of ``handle`` from where it stands, in steps of :data:`CHUNK_BYTES`;
    closes it at the end or when the client goes away."""
    try:
        while length > 0:
            chunk = handle.read(min(CHUNK_BYTES, length))
            if not chunk:
                return  # the file is shorter than the store said: end the stream early
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _blob(
    request: Request, reader: RegistryReader, tenant_id: int, name: str, digest: str
) -> Response:
    if not is_digest(digest):
        raise _malformed_digest(digest)
    found = reader.blob(tenant_id, name, digest) if is_sha256_digest(digest) else None
    if found is None:
        raise _unknown(reader, tenant_id, name, "BLOB_UNKNOWN", "blob")
    span = _byte_range(request.headers.get("range"), found.size)
    start, end = span or (0, found.size)
    headers = {
        **API_VERSION,
        "Docker-Content-Digest": found.digest,
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
    }
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
    status = 206 if span is not None else 200
    if request.method == "HEAD":
        return Response(b"", status, headers, "application/octet-stream")
    handle = _open(found, start)
    return StreamingResponse(
        _chunks(handle, end - start), status, headers, "application/octet-stream"
    )


def _open(found: BlobLocation, start: int) -> IO[bytes]:
    """The blob's file at ``start``; ``404 BLOB_UNKNOWN`` when it went away since the reader
    answered (a garbage collection)."""
    try:
        handle = found.path.open("rb")
    except OSError:
        raise RegistryError(
            404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": found.digest}
        ) from None
    handle.seek(start)
    return handle


def _page_size(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise RegistryError(
            400,
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested: n must be a whole number from 0",
            {"n": text[:40]},
        )
    return min(int(text), MAX_PAGE)


def _tags(request: Request, reader: RegistryReader, tenant_id: int, name: str) -> Response:
    size = _page_size(request.query_params.get("n"))
    last = request.query_params.get("last")
    tags = reader.tags(tenant_id, name)
    if tags is None:
        raise RegistryError(
            404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
        )
    after = [tag for tag in tags if last is None or tag > last]
    limit = MAX_PAGE if size is None else size
    page = after[:limit]
    headers = {}
    if len(after) > len(page) and page:
        query = f"n={limit}&last={quote(page[-1], safe='')}"
        headers["Link"] = f'</v2/{name}/tags/list?{query}>; rel="next"'
    return registry_response(_json({"name": name, "tags": page}), 200, "application/json", headers)


def _referrers(
    request: Request, reader: RegistryReader, tenant_id: int, name: str, digest: str
) -> Response:
    if not is_sha256_digest(digest):
        raise RegistryError(
            400, "DIGEST_INVALID", "the subject must be a sha256 digest", {"digest": digest[:300]}
        )
    artifact_type = request.query_params.get("artifactType") or None
    found = reader.referrers(tenant_id, name, digest, artifact_type)
    if found is None:
        raise RegistryError(
            404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
        )
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": found}
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return registry_response(_json(index), 200, INDEX_MEDIA_TYPE, headers)
