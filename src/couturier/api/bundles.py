"""``/v1/bundles``: the tenant's file bundles (:mod:`couturier.services.tenant_bundles`).

An upload is bounded before it is parsed: a ``Content-Length`` over :data:`MAX_UPLOAD_BYTES`
is refused (``413``, ``upload-too-large``) without reading the body, and a body sent without
one is counted as it arrives and refused the moment it passes the limit. The multipart parser
(Starlette's, over ``python-multipart``) keeps each file in a spooled temporary file and takes
at most :data:`~couturier.core.bundle.MAX_FILES` files; the files are then saved under their
own (checked) names in a private temporary directory, handed to the bundle rules, and removed,
whatever the outcome. A refused upload stores nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from couturier.api.errors import NOT_FOUND, RESPONSES, ErrorBody
from couturier.api.limits import too_large
from couturier.api.params import Cursor, Inst, Limit, Reader, Writer
from couturier.core.bundle import MAX_FILES, BundleError, check_name
from couturier.core.spec import Violation
from couturier.errors import InputError
from couturier.services import bundles as bundle_service
from couturier.services import tenant_bundles
from couturier.services.bundle_inputs import MAX_READ_BYTES
from couturier.services.installation import Installation
from couturier.services.paging import DEFAULT_LIMIT
from couturier.services.tenant_bundles import Upload, check_upload_name
from couturier.services.tokens import Principal

__all__ = ["MAX_UPLOAD_BYTES", "router"]

# What one upload may send: the bytes a bundle's inputs may amount to, and room for the
# multipart framing around them.
MAX_UPLOAD_BYTES = MAX_READ_BYTES + 1024 * 1024
_FIELDS = ("type", "target", "files")

router = APIRouter(prefix="/v1", responses=RESPONSES, tags=["bundles"])

BundleName = Annotated[
    str, PathParam(max_length=100, description="the bundle's name, e.g. corp-ca")
]


class BundleFileOut(BaseModel):
    path: str
    size: int
    sha256: str
    mode: str
    link: str | None = None


class BundleVersionOut(BaseModel):
    name: str
    version: int
    type: str | None = None
    target: str | None = None
    created: str | None = None
    digest: str | None = None
    warnings: list[str] = []
    files: list[BundleFileOut] = []
    damaged: str | None = None
    used_by: list[str] = Field(
        default=[],
        description="the images (and builds in progress: 'build TRACE_ID') that use this "
        "version: pinned (NAME@VERSION), or unpinned for the newest",
    )


class BundleSummary(BaseModel):
    name: str
    type: str | None
    target: str | None
    versions: list[int]
    newest: int | None
    created: str | None


class BundleList(BaseModel):
    items: list[BundleSummary]
    next: str | None


class BundleDetail(BaseModel):
    name: str
    versions: list[BundleVersionOut]


_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["type", "files"],
                    "properties": {
                        "type": {"type": "string", "enum": ["certificates", "files"]},
                        "target": {
                            "type": "string",
                            "description": "absolute directory the files land in (files only)",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "files and .tar(.gz/.xz/.bz2) or .zip archives, "
                            f"at most {MAX_FILES}",
                        },
                    },
                }
            }
        },
    }
}


def _too_large(size: int | None) -> InputError:
    hint = f"a bundle holds at most {MAX_FILES} files of 1 MiB: upload only those"
    return too_large(MAX_UPLOAD_BYTES, size, hint)


def _declared_size(request: Request) -> int | None:
    text = request.headers.get("content-length")
    if text is None or not text.strip().isdigit():
        return None
    return int(text.strip())


async def _bounded_form(request: Request) -> FormData:
    """The request's form, read no further than :data:`MAX_UPLOAD_BYTES`."""
    declared = _declared_size(request)
    if declared is not None and declared > MAX_UPLOAD_BYTES:
        raise _too_large(declared)
    seen = 0
    inner: Callable[[], Awaitable[Message]] = request.receive

    async def receive() -> Message:
        nonlocal seen
        message = await inner()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_UPLOAD_BYTES:
                raise _too_large(None)
        return message

    bounded = Request(request.scope, receive)
    try:
        return await bounded.form(max_files=MAX_FILES, max_fields=len(_FIELDS) + 4)
    except HTTPException as error:  # Starlette's answer to a multipart body it cannot parse
        rule = f"must be a multipart/form-data upload ({error.detail})"
        raise BundleError([Violation("body", None, rule)], "request") from None


def _form_fields(
    name: str, form: FormData
) -> tuple[str, str | None, list[UploadFile], list[Violation]]:
    found: list[Violation] = list(check_name(name))
    kinds = [v for v in form.getlist("type") if isinstance(v, str)]
    targets = [v for v in form.getlist("target") if isinstance(v, str)]
    files: list[UploadFile] = []
    for key, value in form.multi_items():
        if key not in _FIELDS:
            found.append(
                Violation(key[:100], None, f"is not a field (fields: {', '.join(_FIELDS)})")
            )
        elif key == "files" and not isinstance(value, UploadFile):
            found.append(Violation("files", str(value)[:100], "must be an uploaded file"))
        elif key != "files" and not isinstance(value, str):
            found.append(Violation(key, value.filename, "must be text, not a file"))
        elif isinstance(value, UploadFile):
            files.append(value)
    for key, values in (("type", kinds), ("target", targets)):
        if len(values) > 1:
            found.append(Violation(key, values[1][:100], "must be given once"))
    if not kinds:
        found.append(Violation("type", None, "is required: certificates or files"))
    if not files:
        found.append(Violation("files", None, "upload at least one file or archive"))
    for upload in files:
        problem = check_upload_name(upload.filename)
        if problem is not None:
            found.append(Violation("files", (upload.filename or "")[:200], problem))
    return (kinds[0] if kinds else ""), (targets[0] if targets else None), files, found


def _save(files: list[UploadFile], directory: Path) -> list[Upload]:
    """Each upload saved as ``directory/<n>/<its name>`` (names are checked already)."""
    saved = []
    for number, upload in enumerate(files):
        assert upload.filename
        folder = directory / str(number)
        folder.mkdir(mode=0o700)
        path = folder / upload.filename
        upload.file.seek(0)
        with path.open("xb") as handle:
            shutil.copyfileobj(upload.file, handle, 1024 * 1024)
        saved.append(Upload(upload.filename, path))
    return saved


def _create(
    installation: Installation,
    principal: Principal,
    *,
    name: str,
    kind: str,
    target: str | None,
    files: list[UploadFile],
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="couturier-upload-") as directory:
        uploads = _save(files, Path(directory))
        bundle = tenant_bundles.create_from_uploads(
            installation, principal, name, kind, uploads, target=target
        )
    return {**bundle_service.bundle_json(bundle), "damaged": None}


@router.post(
    "/bundles/{bundle}",
    status_code=201,
    response_model=BundleVersionOut,
    responses={413: {"model": ErrorBody, "description": "the upload is over the limit"}},
    openapi_extra=_UPLOAD_DOC,
)
async def create_bundle(
    request: Request, installation: Inst, principal: Writer, bundle: BundleName
) -> dict[str, Any]:
    """A new version of the tenant's bundle (multipart: ``type``, ``target``, ``files``), by
    the rules of ``couturier bundle create``: every violation at once, nothing stored then."""
    form = await _bounded_form(request)
    try:
        kind, target, files, found = _form_fields(bundle, form)
        if found:
            raise BundleError(found, f"bundle {bundle[:60]}")
        return await run_in_threadpool(
            _create, installation, principal, name=bundle, kind=kind, target=target, files=files
        )
    finally:
        await form.close()


@router.get("/bundles", response_model=BundleList)
def list_bundles(
    installation: Inst,
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The tenant's bundles by name, each with its version numbers and its newest version's
    type, target and creation time."""
    items, after = tenant_bundles.bundle_page(installation, principal, limit, cursor)
    return {"items": items, "next": after}


@router.get("/bundles/{bundle}", response_model=BundleDetail, responses=NOT_FOUND)
def get_bundle(installation: Inst, principal: Reader, bundle: BundleName) -> dict[str, Any]:
    """One of the tenant's bundles with every version and its files (each file checked
    against its recorded sha256: a damaged version says so in ``damaged``)."""
    return tenant_bundles.bundle_detail(installation, principal, bundle)


@router.delete(
    "/bundles/{bundle}/{version}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "an image uses it"}},
)
def delete_bundle(
    installation: Inst,
    principal: Writer,
    bundle: BundleName,
    version: Annotated[int, PathParam(ge=1, le=10**9)],
) -> Response:
    """Delete one version of the tenant's bundle; refused (``409``, ``bundle-in-use``) while
    one of its images, or a build in progress, uses it. Its number is never given again."""
    tenant_bundles.delete_version(installation, principal, bundle, version)
    return Response(status_code=204)
