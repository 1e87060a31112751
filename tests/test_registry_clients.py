"""Real clients pull from a ``couturier serve`` process: the private image ``1/my-tool`` is built
by the service over the fixture repository (:func:`tests.test_serve_builds.served_environment`)
and read back through ``/v2/`` from the installation's own store (the real reader).

- ``podman login`` with a tenant token, ``podman pull`` by tag and by digest, ``podman run``
  (the fixture packages ship no program, so a static busybox is mounted to look inside);
- ``skopeo inspect`` and ``skopeo copy --all --preserve-digests`` to an OCI layout, keeping the
  digests the endpoint names;
- HTTPS (``serve --tls-cert/--tls-key``) with a test CA that skopeo verifies;
- tenant isolation: tenant 2's token gets ``401`` or ``404`` for every route of every
  repository of tenant 1, through the token flow and directly.

Podman and skopeo keep their storage and credentials under the test's directories.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from couturier.oci.cosign import ATTESTATION_ARTIFACT_TYPE, SIGNATURE_ARTIFACT_TYPE
from tests.certs import key_pem, make_certificate
from tests.fixture_repo import SigningKey, build_repo
from tests.test_images_api import REPO
from tests.test_serve import Server, couturier, first_token
from tests.test_serve_builds import StallingMirror, _finished, served_environment

pytestmark = pytest.mark.e2e

INDEX = "application/vnd.oci.image.index.v1+json"
SPDX = "application/spdx+json"
ARCHITECTURES = ("amd64", "arm64")
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: ./run-tests installs {package}")
    return path


@dataclass(frozen=True)
class Served:
    """A serve holding tenant 1's built ``1/my-tool``; tenant 2 exists with a pull token."""

    server: Server
    env: dict[str, str]
    root: Path
    token: str
    other_token: str

    @property
    def host(self) -> str:
        return self.server.url.removeprefix("http://")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("registry-clients")
    repo = build_repo(root / "repo", REPO, key=signing_key, arch=ARCHITECTURES)
    mirror = StallingMirror(repo)
    mirror.release.set()  # nothing is held: the build runs straight through
    thread = threading.Thread(target=mirror.serve_forever, daemon=True)
    thread.start()
    env = served_environment(root, mirror, signing_key, None)
    settings = yaml.safe_load((root / "couturier.yaml").read_text())
    settings["architectures"] = list(ARCHITECTURES)  # each line an index of two manifests
    (root / "couturier.yaml").write_text(yaml.safe_dump(settings))
    server = Server(env, root / "serve.log")
    try:
        token = first_token(server.stderr())
        auth = f"Authorization: Bearer {token}"
        spec = {"name": "my-tool", "starter": "tiny", "env": {"APP_ENV": "test"}}
        made = httpx.post(
            f"{server.url}/v1/images", json=spec, headers={"Authorization": f"Bearer {token}"}
        )
        assert made.status_code == 202, made.text
        build = _finished(server.url, auth, made.json()["build"]["trace_id"])
        assert build["status"] == "created", build
        assert couturier(env, "admin", "tenant", "create", "two").returncode == 0
        issued = couturier(env, "admin", "token", "create", "--tenant", "2", "--scope", "pull")
        assert issued.returncode == 0, issued.stderr
        yield Served(server, env, root, token, issued.stdout.strip())
    finally:
        server.stop()
        mirror.shutdown()
        mirror.server_close()


def _run(*argv: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if ok:
        assert done.returncode == 0, f"{argv}: {done.stderr[-2000:]}"
    else:
        assert done.returncode != 0, f"{argv} succeeded: {done.stdout[-2000:]}"
    return done.stdout if ok else done.stderr


def _digest_of(served: Served, reference: str) -> str:
    repository, _, tag = reference.rpartition(":")
    answer = httpx.head(
        f"{served.server.url}/v2/{repository}/manifests/{tag}",
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["docker-content-digest"]


def test_podman_logs_in_pulls_by_tag_and_digest_and_runs(
    served: Served, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    podman = _tool("podman", "podman")
    busybox = _tool("busybox", "busybox-static")
    if b"ld-linux" in Path(busybox).read_bytes()[:8192]:  # an ELF interpreter: not static
        pytest.fail(f"{busybox} is linked dynamically: install busybox-static")
    (tmp_path / "containers.conf").write_text(CONTAINERS_CONF)
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(tmp_path / "containers.conf"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
    }
    runroot = tempfile.mkdtemp(prefix="cr-", dir="/tmp")  # podman wants a short runroot
    request.addfinalizer(lambda: shutil.rmtree(runroot, ignore_errors=True))
    storage = ("--root", str(tmp_path / "storage"), "--runroot", runroot, "--storage-driver", "vfs")

    def run(*args: str, ok: bool = True) -> str:
        return _run(podman, *storage, *args, env=env, ok=ok)

    wrong = served.token[:-4] + "0000"
    refused = run("login", "--tls-verify=false", "-u", "1", "-p", wrong, served.host, ok=False)
    assert "401" in refused or "unauthorized" in refused.lower() or "invalid" in refused.lower()
    run("login", "--tls-verify=false", "-u", "1", "-p", served.token, served.host)
    reference = f"{served.host}/1/my-tool:2"
    run("pull", "-q", "--tls-verify=false", reference)
    inspected = json.loads(run("image", "inspect", reference))[0]
    assert inspected["Architecture"] == "amd64"
    assert inspected["Config"]["Entrypoint"] == ["/usr/bin/tool"]
    # the pulled image runs: its environment and generated files are there
    inside = (
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{busybox}:/busybox:ro",
        "--entrypoint",
        "/busybox",
    )
    shown = run(*inside, reference, "env")
    assert "APP_ENV=test" in shown and "TOOL_HOME=/usr/lib/tool2" in shown
    assert "nonroot:x:65532:65532" in run(*inside, reference, "cat", "/etc/passwd")

    index = _digest_of(served, "1/my-tool:2")
    by_digest = f"{served.host}/1/my-tool@{index}"
    run("pull", "-q", "--tls-verify=false", by_digest)
    again = json.loads(run("image", "inspect", by_digest))[0]
    assert again["Id"] == inspected["Id"]


def test_skopeo_inspects_and_copies_every_platform_keeping_digests(
    served: Served, tmp_path: Path
) -> None:
    skopeo = _tool("skopeo", "skopeo")
    creds = ("--creds", f"1:{served.token}")
    source = f"docker://{served.host}/1/my-tool:latest"
    index = _digest_of(served, "1/my-tool:latest")
    raw = json.loads(_run(skopeo, "inspect", "--tls-verify=false", *creds, "--raw", source))
    assert raw["mediaType"] == INDEX
    platforms = {m["platform"]["architecture"]: m for m in raw["manifests"] if "platform" in m}
    assert set(platforms) == set(ARCHITECTURES)
    platform = platforms["amd64"]
    info = json.loads(
        _run(skopeo, "--override-arch", "amd64", "inspect", "--tls-verify=false", *creds, source)
    )
    assert info["Digest"] == index, (index, platform)  # skopeo names the index it resolved
    assert info["Architecture"] == "amd64"
    assert "latest" in info["RepoTags"] and "2" in info["RepoTags"]

    layout = tmp_path / "layout"
    _run(
        skopeo,
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        f"1:{served.token}",
        source,
        f"oci:{layout}:latest",
    )
    copied = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in copied["manifests"]] == [index]
    for each in platforms.values():  # every platform manifest came along, under its digest
        assert (layout / "blobs" / "sha256" / each["digest"].removeprefix("sha256:")).is_file()
    # the same image by digest
    by_digest = f"docker://{served.host}/1/my-tool@{platform['digest']}"
    assert (
        json.loads(_run(skopeo, "inspect", "--tls-verify=false", *creds, by_digest))["Digest"]
        == platform["digest"]
    )


def _every_route(repository: str, digest: str) -> list[str]:
    return [
        f"/v2/{repository}/manifests/latest",
        f"/v2/{repository}/manifests/{digest}",
        f"/v2/{repository}/blobs/{digest}",
        f"/v2/{repository}/tags/list",
        f"/v2/{repository}/referrers/{digest}",
    ]


def test_tenant_two_reaches_nothing_of_tenant_one(served: Served) -> None:
    skopeo = _tool("skopeo", "skopeo")
    digest = _digest_of(served, "1/my-tool:latest")
    refused = _run(
        skopeo,
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"2:{served.other_token}",
        f"docker://{served.host}/1/my-tool:latest",
        ok=False,
    )
    assert "my-tool" in refused or "unauthorized" in refused.lower()
    url = served.server.url
    login = httpx.get(
        f"{url}/v2/token",
        params={"scope": "repository:1/my-tool:pull", "service": served.host},
        auth=("2", served.other_token),
    )
    assert login.status_code == 200
    for bearer in (login.json()["token"], served.other_token):
        headers = {"Authorization": f"Bearer {bearer}"}
        for repository in ("1/my-tool", "1/not-made", "starters/tiny-of-1"):
            for path in _every_route(repository, digest):
                for method in ("GET", "HEAD"):
                    answer = httpx.request(method, f"{url}{path}", headers=headers)
                    assert answer.status_code in (401, 404), (method, path)
                    assert digest not in answer.text, path
    # the owner still reads every route
    owner = {"Authorization": f"Bearer {served.token}"}
    tags = httpx.get(f"{url}/v2/1/my-tool/tags/list", headers=owner)
    assert tags.status_code == 200 and "latest" in tags.json()["tags"]
    referrers = httpx.get(f"{url}/v2/1/my-tool/referrers/{digest}", headers=owner)
    assert referrers.status_code == 200 and referrers.json()["mediaType"] == INDEX


def test_each_platform_manifest_has_its_sboms_as_referrers(served: Served) -> None:
    url, owner = served.server.url, {"Authorization": f"Bearer {served.token}"}
    index = httpx.get(f"{url}/v2/1/my-tool/manifests/latest", headers=owner).json()
    other = {"Authorization": f"Bearer {served.other_token}"}
    for platform in index["manifests"]:
        path = f"{url}/v2/1/my-tool/referrers/{platform['digest']}"
        found = httpx.get(path, headers=owner)
        assert found.status_code == 200 and found.headers["content-type"] == INDEX
        kinds = {m["artifactType"] for m in found.json()["manifests"]}
        # The SBOMs, and cosign's signature and attestations (docs/signing.md).
        assert kinds == {
            SPDX,
            "application/vnd.cyclonedx+json",
            SIGNATURE_ARTIFACT_TYPE,
            ATTESTATION_ARTIFACT_TYPE,
        }
        spdx = httpx.get(path, params={"artifactType": SPDX}, headers=owner)
        assert spdx.headers["oci-filters-applied"] == "artifactType"
        (descriptor,) = spdx.json()["manifests"]
        artifact = httpx.get(
            f"{url}/v2/1/my-tool/manifests/{descriptor['digest']}", headers=owner
        ).json()
        assert artifact["subject"]["digest"] == platform["digest"]
        (payload,) = artifact["layers"]
        document = httpx.get(f"{url}/v2/1/my-tool/blobs/{payload['digest']}", headers=owner)
        assert document.json()["spdxVersion"].startswith("SPDX-")
        assert httpx.get(path, headers=other).status_code == 401


def test_https_with_a_test_ca(served: Served, tmp_path: Path) -> None:
    skopeo = _tool("skopeo", "skopeo")
    ca = make_certificate("Couturier test CA")
    leaf = make_certificate("127.0.0.1", ca=False, issuer=ca, ip_address="127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(leaf.pem + ca.pem)
    (tmp_path / "key.pem").write_bytes(key_pem(leaf))
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(ca.pem)
    tls = ("--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))
    server = Server(served.env, tmp_path / "tls.log", "--workers", "0", *tls)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        host = server.url.removeprefix("https://")
        trusted = ssl.create_default_context(cafile=tmp_path / "certs" / "ca.crt")
        challenge = httpx.get(f"{server.url}/v2/", verify=trusted)
        assert challenge.status_code == 401
        assert f'realm="https://{host}/v2/token"' in challenge.headers["www-authenticate"]
        info = json.loads(
            _run(
                skopeo,
                "inspect",
                "--cert-dir",
                str(tmp_path / "certs"),
                "--creds",
                f"1:{served.token}",
                f"docker://{host}/1/my-tool:2",
            )
        )
        assert info["Architecture"] == "amd64"
        # without the CA the client refuses the certificate
        refused = _run(
            skopeo,
            "inspect",
            "--creds",
            f"1:{served.token}",
            f"docker://{host}/1/my-tool:2",
            ok=False,
        )
        assert "certificate" in refused
    finally:
        assert server.stop() == 0, server.stderr()


def test_serve_refuses_tls_files_it_cannot_use(served: Served, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    done = couturier(
        served.env,
        "serve",
        "--port",
        "0",
        "--tls-cert",
        str(tmp_path / "cert.pem"),
        "--tls-key",
        str(tmp_path / "key.pem"),
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("couturier: error: cannot serve HTTPS with --tls-cert"), line
    ca = make_certificate("Couturier test CA")
    leaf = make_certificate("127.0.0.1", ca=False, issuer=ca, ip_address="127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(leaf.pem)
    (tmp_path / "key.pem").write_bytes(key_pem(leaf, password=b"secret"))
    done = couturier(
        served.env,
        *("serve", "--port", "0", "--tls-cert", str(tmp_path / "cert.pem")),
        *("--tls-key", str(tmp_path / "key.pem")),
    )
    assert done.returncode == 1
    assert "the key is encrypted, and serve reads no passphrase" in done.stderr
    (tmp_path / "key.pem").write_bytes(key_pem(make_certificate("another", ca=False)))
    done = couturier(
        served.env,
        *("serve", "--port", "0", "--tls-cert", str(tmp_path / "cert.pem")),
        *("--tls-key", str(tmp_path / "key.pem")),
    )
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    half = couturier(served.env, "serve", "--tls-cert", str(tmp_path / "cert.pem"))
    assert half.returncode == 2 and "--tls-cert and --tls-key go together" in half.stderr


def test_no_credential_reaches_the_server_log(served: Served) -> None:
    """Tokens and the bearer tokens made from them never appear in serve's log (the first
    start prints tenant 1's token there once, on purpose)."""
    url = served.server.url
    login = httpx.get(
        f"{url}/v2/token",
        params={"scope": "repository:1/my-tool:pull", "service": served.host},
        auth=("1", served.token),
    )
    bearer = login.json()["token"]
    headers = {"Authorization": f"Bearer {bearer}"}
    assert httpx.get(f"{url}/v2/1/my-tool/tags/list", headers=headers).status_code == 200
    wrong = httpx.get(f"{url}/v2/", headers={"Authorization": f"Bearer {bearer[:-3]}xyz"})
    assert wrong.status_code == 401
    log = served.server.stderr()
    assert log.count(served.token) == 1
    secrets = (served.token.rsplit("_", 1)[1], served.other_token, bearer, bearer.split(".")[2])
    assert not [s for s in secrets[1:] if s in log]
    assert log.count(secrets[0]) == 1
