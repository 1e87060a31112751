"""Private images from Debian's real mirror, built and run under podman (issue: private images).

- ``php`` with ``php-imagick-auto`` and ``php-curl-auto``: each line gets its own members and
  ``php -m`` lists both extensions;
- ``python`` with a package bookworm lacks: 3.11 is skipped with the reason, ``latest`` and ``3``
  go to the most advanced created line;
- a certificates bundle: Python and curl in the image trust a TLS server on localhost whose
  certificate the bundle's CA signed (the test makes the CA and the server); the starter image
  without the bundle does not;
- nginx with its site from a files bundle serves the default page;
- ``python3-wand-auto``: Wand finds ImageMagick's library through ``ldconfig -p``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from couturier.oci.layout import Layout
from couturier.services.build import ImageRequest, build
from couturier.services.bundles import Bundle, create_bundle
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.certs import key_pem, make_certificate
from tests.starters import starter_named
from tests.test_e2e_images import _podman_run, podman_env  # noqa: F401 - a fixture

pytestmark = [pytest.mark.network, pytest.mark.e2e]


def test_php_auto_packages_pick_each_lines_member(
    mirror_settings: Settings,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    starter = starter_named("php")
    output = tmp_path / "layout"
    request = ImageRequest(
        starter=starter,
        name="php-images",
        packages=("php-imagick-auto", "php-curl-auto"),
        private=True,
    )
    result = build(build_context(mirror_settings, output=output), request, architectures=["amd64"])
    assert result.status == "created", result.to_json()
    assert [line.version for line in result.lines] == ["8.2", "8.4"]
    for line in result.lines:
        modules = _podman_run(podman_env, f"oci:{output}:{line.version}", "php", "-m")
        listed = {m.strip().lower() for m in modules.splitlines()}
        assert {"imagick", "curl"} <= listed, modules
        # The line's own PHP: the curl member carries the line's version in its name.
        version = _podman_run(podman_env, f"oci:{output}:{line.version}", "php", "-v")
        assert f"PHP {line.version}." in version


def test_python_line_without_the_package_is_skipped_and_tags_move(
    mirror_settings: Settings,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    starter = starter_named("python")
    output = tmp_path / "layout"
    # python3-annotated-types is in trixie and forky, not in bookworm.
    request = ImageRequest(
        starter=starter, name="typed", packages=("python3-annotated-types",), private=True
    )
    result = build(build_context(mirror_settings, output=output), request, architectures=["amd64"])
    assert result.status == "some lines created", result.to_json()
    lines = {line.version: line for line in result.lines}
    assert lines["3.11"].status == "skipped"
    error = lines["3.11"].error
    assert error is not None and error.code == "package-not-found"
    assert (error.fields["package"], error.fields["release"]) == (
        "python3-annotated-types",
        "bookworm",
    )
    assert lines["3.11"].tags == ()
    newest = starter.lines[-1].version
    assert lines[newest].status == "created"
    assert {"latest", "3", newest} <= set(lines[newest].tags)
    layout = Layout(output)
    assert layout.tagged("latest").digest == lines[newest].digest
    assert layout.tagged("3").digest == lines[newest].digest
    assert "3.11" not in layout.tags()
    probe = "import annotated_types, sys; print(sys.version_info[:2])"
    out = _podman_run(podman_env, f"oci:{output}:3", "python3", "-c", probe)
    assert out.strip().splitlines()[-1] == str(tuple(int(x) for x in newest.split(".")))


def test_python_wand_finds_its_library_through_the_ld_so_cache(
    mirror_settings: Settings,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Wand loads MagickWand with ctypes.util.find_library, which asks ``ldconfig -p``: the
    image needs ldconfig (libc-bin) and an ld.so.cache listing the multiarch directory."""
    starter = starter_named("python")
    output = tmp_path / "layout"
    request = ImageRequest(
        starter=starter, name="wand", packages=("python3-wand-auto",), private=True
    )
    line = starter.lines[-2].version  # trixie: a released Debian
    result = build(
        build_context(mirror_settings, output=output),
        request,
        architectures=["amd64"],
        lines=[line],
    )
    assert result.status == "created", result.to_json()
    probe = "from wand.image import Image; from wand.version import MAGICK_VERSION as v; print(v)"
    out = _podman_run(podman_env, f"oci:{output}:{line}", "python3", "-c", probe)
    assert "ImageMagick" in out.strip().splitlines()[-1], out


def _make_ca_and_server(directory: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate for localhost/127.0.0.1 it signed, with key."""
    ca = make_certificate("Couturier Test Corp CA")
    server = make_certificate(
        "localhost", ca=False, issuer=ca, dns_name="localhost", ip_address="127.0.0.1"
    )
    paths = directory / "corp-ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.pem)
    paths[1].write_bytes(server.pem)
    paths[2].write_bytes(key_pem(server))
    return paths


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the corp server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a fresh CA; yields (CA file, port)."""
    ca, cert, key = _make_ca_and_server(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ca, server.server_address[1]
    server.shutdown()
    server.server_close()


def _podman_run_status(env: dict[str, str], image: str, *command: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            *("podman", "run", "--rm", "--network", "host"),
            *("--entrypoint", f'["{command[0]}"]', image, *command[1:]),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_certificates_bundle_makes_python_and_curl_trust_the_corp_server(
    mirror_settings: Settings,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    tls_server: tuple[Path, int],
) -> None:
    ca, port = tls_server
    settings = mirror_settings
    # The bundle store lives in the shared test data directory: a name of its own, removed after.
    name = f"corp-ca-{uuid.uuid4().hex[:8]}"
    bundle = create_bundle(settings, name, "certificates", [ca])
    request_for = functools.partial(ImageRequest, name="corp", packages=("curl",), private=True)
    try:
        _check_trust(settings, request_for, bundle, podman_env, tmp_path, port=port)
    finally:
        shutil.rmtree(settings.data_dir / "bundles" / name, ignore_errors=True)


def _check_trust(
    settings: Settings,
    request_for: Callable[..., ImageRequest],
    bundle: Bundle,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    *,
    port: int,
) -> None:
    starter = starter_named("python")
    line = starter.lines[-2].version  # trixie: a released Debian
    url = f"https://localhost:{port}/"
    fetch = f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())"
    images = {}
    for name, bundles in (("with", (bundle,)), ("without", ())):
        output = tmp_path / f"layout-{name}"
        request = request_for(starter=starter, bundles=bundles)
        result = build(
            build_context(settings, output=output), request, architectures=["amd64"], lines=[line]
        )
        assert result.status == "created", result.to_json()
        images[name] = f"oci:{output}:{line}"

    status, out = _podman_run_status(podman_env, images["with"], "python3", "-c", fetch)
    assert status == 0, out
    assert "hello from the corp server" in out
    status, out = _podman_run_status(podman_env, images["with"], "curl", "-sS", url)
    assert status == 0, out
    assert "hello from the corp server" in out
    # The control: the same image without the bundle refuses the server's certificate.
    status, out = _podman_run_status(podman_env, images["without"], "python3", "-c", fetch)
    assert status != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out
    status, out = _podman_run_status(podman_env, images["without"], "curl", "-sS", url)
    assert status != 0, out


def test_nginx_serves_with_a_site_from_a_files_bundle(
    mirror_settings: Settings,
    podman_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The nginx starter runs unprivileged (user 65532, the default site on 8080); a files
    bundle replacing the site wins over the generated one and moves it to a port of ours, and
    nginx serves the default page there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = tmp_path / "site" / "default"
    site.parent.mkdir()
    site.write_text(
        f"server {{\n  listen 127.0.0.1:{port};\n  root /var/www/html;\n"
        "  index index.html index.nginx-debian.html;\n}\n"
    )
    name = f"nginx-site-{uuid.uuid4().hex[:8]}"
    bundle = create_bundle(
        mirror_settings, name, "files", [site.parent], target="/etc/nginx/sites-enabled"
    )
    try:
        starter = starter_named("nginx")
        output = tmp_path / "layout"
        request = ImageRequest(starter=starter, name="web", bundles=(bundle,), private=True)
        result = build(
            build_context(mirror_settings, output=output),
            request,
            architectures=["amd64"],
            lines=[starter.lines[-1].version],
        )
        assert result.status == "created", result.to_json()
        image = f"oci:{output}:latest"
        status, out = _podman_run_status(podman_env, image, "nginx", "-t")
        assert status == 0 and "test is successful" in out, out
        server = subprocess.Popen(
            ["podman", "run", "--rm", "--network", "host", image],
            env=podman_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            page = _get_when_up(f"http://127.0.0.1:{port}/", server)
        finally:
            server.terminate()
            server.wait(timeout=60)
        assert "Welcome to nginx" in page
    finally:
        shutil.rmtree(mirror_settings.data_dir / "bundles" / name, ignore_errors=True)


def _get_when_up(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> str:
    """GET ``url`` once the server answers; fails with its stderr if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None
            raise AssertionError(f"nginx exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError:
            raise  # it answered, wrongly
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered on {url} within {seconds} s")
