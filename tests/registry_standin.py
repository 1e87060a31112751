"""A stand-in OCI registry for the push tests, on 127.0.0.1, that records every request.

It stands in where Debian's ``docker-registry`` cannot serve the case: the referrers API
(``GET /v2/<name>/referrers/<digest>``, which docker-registry lacks), the bearer token flow
(docker-registry needs a separate token server for it), and faults on demand. It keeps
blobs and manifests in memory and checks blob digests, as a registry does; it is not a
registry to trust with anything else.

``mode``:

- ``"registry"``: answers the push category and the referrers API; every ``/v2/`` request
  needs ``Authorization: Bearer <TOKEN>``, given by ``/token`` for basic auth ``USER:PASSWORD``;
- ``"401"``: answers every request ``401`` with a basic challenge;
- ``"500"``: answers every request ``500``;
- ``"reset"``: like ``registry`` without auth, but resets the connection (TCP RST) in the
  middle of each blob upload's ``PUT``;
- ``"chunked"``: like ``registry`` without auth, but answers ``413`` to a ``PUT`` that carries
  a blob, so blobs come in ``PATCH`` chunks (as behind a proxy with a small body limit).

``realm``, when set, is the token realm the bearer challenge names instead of ``/token``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.threaded import serving

__all__ = ["PASSWORD", "TOKEN", "USER", "StandIn", "standin"]

USER, PASSWORD, TOKEN = "pusher", "s3cret-pass", "granted-token"
_BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>blobs|manifests|referrers)/(?P<rest>.*)$")


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}  # (name, ref) -> doc
        self.uploads = 0
        self.chunks: dict[str, bytes] = {}  # upload session -> bytes received by PATCH
        self.realm: str | None = None
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        self.server.requests.append((self.command, self.path))
        mode, url = self.server.mode, urlsplit(self.path)
        if mode == "500":
            self._body()
            return self._answer(500, b"broken")
        if mode == "401":
            self._body()
            return self._answer(401, b"", {"WWW-Authenticate": 'Basic realm="standin"'})
        if url.path == "/token":
            if self.headers.get("Authorization") != _BASIC:
                return self._answer(401, b"{}")
            return self._answer(200, json.dumps({"token": TOKEN}).encode())
        if mode == "registry" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._body()
            match = _PATH.match(url.path)
            realm = self.server.realm or f"{self.server.url}/token"
            challenge = f'Bearer realm="{realm}",service="standin"'
            if match:
                challenge += f',scope="repository:{match["name"]}:pull,push"'
            return self._answer(401, b"", {"WWW-Authenticate": challenge})
        self._registry(url.path, parse_qs(url.query))

    def _registry(self, path: str, query: dict[str, list[str]]) -> None:
        match = _PATH.match(path)
        if path == "/v2/":
            return self._answer(200, b"{}")
        if match is None:
            return self._answer(404)
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if kind == "blobs" and rest.startswith("uploads/"):
            return self._upload(name, rest, query)
        if kind == "blobs":
            found = rest in self.server.blobs
            return self._answer(200 if found else 404)
        if kind == "referrers":
            return self._referrers(name, rest)
        if self.command == "PUT":
            data = self._body()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            media_type = self.headers.get("Content-Type", "")
            self.server.manifests[(name, rest)] = (media_type, data)
            self.server.manifests[(name, digest)] = (media_type, data)
            return self._answer(201, b"", {"Docker-Content-Digest": digest})
        stored = self.server.manifests.get((name, rest))
        if stored is None:
            return self._answer(404)
        return self._answer(200, stored[1], {"Content-Type": stored[0]})

    def _upload(self, name: str, rest: str, query: dict[str, list[str]]) -> None:
        if self.command == "POST":
            self._body()
            self.server.uploads += 1
            location = f"/v2/{name}/blobs/uploads/{self.server.uploads}"
            return self._answer(202, b"", {"Location": location})
        size = int(self.headers.get("Content-Length") or 0)
        session = rest.removeprefix("uploads/")
        if self.command == "PATCH":
            start = int(self.headers.get("Content-Range", "0-0").split("-")[0])
            received = self.server.chunks.get(session, b"")
            if start != len(received):
                self._body()
                return self._answer(416)
            self.server.chunks[session] = received + self.rfile.read(size)
            location = f"/v2/{name}/blobs/uploads/{session}"
            ranged = f"0-{len(self.server.chunks[session]) - 1}"
            return self._answer(202, b"", {"Location": location, "Range": ranged})
        if self.server.mode == "chunked" and size > 0:
            self._body()
            return self._answer(413, b"too large")
        if self.server.mode == "reset" and size > 0:
            self.rfile.read(min(size, 16))
            # SO_LINGER 0: close() sends a RST, as a proxy or registry dying mid-upload does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return None
        data = self.server.chunks.pop(session, b"") + self.rfile.read(size)
        digest = query.get("digest", [""])[0]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            body = json.dumps({"errors": [{"code": "DIGEST_INVALID"}]}).encode()
            return self._answer(400, body)
        self.server.blobs[digest] = data
        return self._answer(201, b"", {"Docker-Content-Digest": digest})

    def _referrers(self, name: str, subject: str) -> None:
        found = []
        for (repository, reference), (media_type, data) in self.server.manifests.items():
            if repository != name or not reference.startswith("sha256:"):
                continue
            body = json.loads(data)
            if (body.get("subject") or {}).get("digest") == subject:
                found.append(
                    {
                        "mediaType": media_type,
                        "digest": reference,
                        "size": len(data),
                        "artifactType": body.get("artifactType", ""),
                    }
                )
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
        body = json.dumps({**index, "manifests": found}).encode()
        self._answer(200, body, {"Content-Type": index["mediaType"]})

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()


@contextmanager
def standin(mode: str) -> Iterator[StandIn]:
    """A running stand-in registry in ``mode`` until exit."""
    with serving(StandIn(mode)) as server:
        yield server
