"""Every line of every shipped starter builds from Debian's mirror and does its job under podman.

Real everything: indexes and packages from the mirror, the build engine, an OCI layout, and
podman (with runc and no default ulimits, as this machine needs) running the image. Each starter
is built once, for amd64, with all its lines (the layer cache of ``tests/mirror.py`` makes a
second run cheap); then every line runs its starter's main job:

- python writes and reads a UTF-8 file named ``héllo`` in its working directory, finds libc
  through ``ctypes.util.find_library`` (which asks ``ldconfig -p``), sets the C.UTF-8 locale, and
  answers as ``python`` too;
- node serves an HTTP request (asked with node itself, through ``podman exec``);
- nginx serves its default site on port 8080 as the user 65532 (published to 127.0.0.1);
- php serves a page with its built-in server;
- ruby splits a UTF-8 string;
- the jre runs a jar made here with the machine's JDK, printing and creating ``grüße.txt``;
- postgres initialises its data directory from ``POSTGRES_PASSWORD`` and ``POSTGRES_DB``,
  answers ``psql`` inside the container, and asks for the password over TCP.

Every image also answers ``ldconfig -p`` from its ``/etc/ld.so.cache`` and has the C.UTF-8 locale.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from couturier.oci.layout import Layout
from couturier.services.build import ImageRequest, build
from couturier.services.context import build_context
from couturier.settings import Settings
from tests.starters import shipped, starter_named

pytestmark = [pytest.mark.network, pytest.mark.e2e]
T = TypeVar("T")

# starter → the command that proves its main program runs, and what its output must contain.
# ``base`` has no program at all (like distroless/static); it is inspected only.
MAIN_COMMANDS: dict[str, tuple[list[str], str] | None] = {
    "base": None,
    "python": (["python3", "--version"], "Python 3."),
    "php": (["php", "--version"], "PHP 8."),
    "ruby": (["ruby", "--version"], "ruby 3."),
    "node": (["node", "--version"], "v"),
    "nginx": (["nginx", "-v"], "nginx version"),
    "postgres": (["postgres", "--version"], "PostgreSQL"),
    "jre": (["java", "-version"], "openjdk version"),
}
LINES = {name: [line.version for line in s.lines] for name, s in sorted(shipped().items())}
ALL_LINES = [(name, version) for name, versions in LINES.items() for version in versions]


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: ./run-tests installs podman and runc")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@pytest.fixture(scope="module")
def layouts(
    mirror_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """The layout of a starter with all its lines for amd64, built on first use."""
    built: dict[str, Path] = {}

    def layout(name: str) -> Path:
        if name not in built:
            starter = starter_named(name)
            output = tmp_path_factory.mktemp(f"starter-{name}") / "layout"
            request = ImageRequest(starter=starter, name=starter.name)
            result = build(
                build_context(mirror_settings, output=output), request, architectures=["amd64"]
            )
            assert result.status == "created", result.to_json()
            assert [line.version for line in result.lines] == LINES[name]
            built[name] = output
        return built[name]

    return layout


def _podman(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done


def _podman_run(env: dict[str, str], image: str, *command: str) -> str:
    """Run ``command`` (its first word as the entrypoint) in ``image``; stderr + stdout."""
    entrypoint = '["' + command[0] + '"]'
    done = _podman(env, "run", "--rm", "--entrypoint", entrypoint, image, *command[1:])
    return done.stderr + done.stdout  # stdout last: podman reports its pulls on stderr


@contextmanager
def _container(
    env: dict[str, str], image: str, *args: str, options: Sequence[str] = ()
) -> Iterator[str]:
    """A detached container of ``image`` (its entrypoint, with ``args``); its name, removed
    after."""
    name = f"couturier-e2e-{uuid.uuid4().hex[:10]}"
    _podman(env, "run", "-d", "--name", name, *options, image, *args)
    try:
        yield name
    finally:
        _podman(env, "rm", "-f", "-t", "2", name, check=False)


def _until(what: str, attempt: Callable[[], T | None], seconds: float = 60) -> T:
    """The first non-None result of ``attempt``, tried every half second for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = attempt()
        if result is not None:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} within {seconds} s")


def _exec(env: dict[str, str], name: str, *command: str) -> str | None:
    """``podman exec`` output, or None while it fails (the server is not up yet)."""
    done = _podman(env, "exec", name, *command, check=False)
    return done.stdout if done.returncode == 0 else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _image(layouts: Callable[[str], Path], name: str, version: str) -> str:
    return f"oci:{layouts(name)}:{version}"


# Every starter, every line: configuration, main program, ldconfig -p, the C.UTF-8 locale.


@pytest.mark.parametrize("starter_name", sorted(LINES))
def test_every_line_builds_runs_and_answers_ldconfig(
    starter_name: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    starter = starter_named(starter_name)
    output = layouts(starter_name)
    layout = Layout(output)
    for version in LINES[starter_name]:
        image = f"oci:{output}:{version}"
        config = layout.config(version)["config"]
        assert config["User"] == "65532:65532"
        assert config["WorkingDir"] == starter.workdir
        assert sorted(config.get("ExposedPorts", {})) == sorted(starter.ports)
        main = MAIN_COMMANDS[starter_name]
        if main is not None:
            command, expected = main
            assert expected in _podman_run(podman_env, image, *command)
        cache = _podman_run(podman_env, image, "ldconfig", "-p")
        # Under the directory name libc6's ld.so.conf.d gives first (/usr/lib from forky on).
        assert re.search(r"libc\.so\.6 \(libc6,x86-64\) => (/usr)?/lib/x86_64-linux-gnu/", cache)
        assert "C.utf8" in _podman_run(podman_env, image, "locale", "-a").split()
    inspected = subprocess.run(
        ["skopeo", "inspect", f"oci:{output}:latest"], capture_output=True, text=True, check=True
    )
    assert layout.tagged("latest").digest in inspected.stdout


PYTHON_JOB = """\
import ctypes, ctypes.util, locale, os
with open("héllo", "w", encoding="utf-8") as handle:
    handle.write("grüße\\n")
assert open("héllo", encoding="utf-8").read() == "grüße\\n"
libc = ctypes.util.find_library("c")
print("libc", libc, ctypes.CDLL(libc).abs(-3))
print("locale", locale.setlocale(locale.LC_ALL, ""))
print("cwd", os.getcwd(), os.listdir("."))
print("run", os.readlink("/var/run"), os.readlink("/var/lock"), os.path.isdir("/run/lock"))
"""


@pytest.mark.parametrize("version", LINES["python"])
def test_python_writes_utf8_in_its_home_and_finds_libc(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    image = _image(layouts, "python", version)
    out = _podman_run(podman_env, image, "python3", "-c", PYTHON_JOB).splitlines()
    assert "libc libc.so.6 3" in out
    assert "locale C.UTF-8" in out
    assert "cwd /home/nonroot ['héllo']" in out
    assert "run /run /run/lock True" in out
    assert f"Python {version}." in _podman_run(podman_env, image, "python", "--version")


def test_a_secret_mounted_under_run_is_read_under_var_run(
    layouts: Callable[[str], Path], podman_env: dict[str, str], tmp_path: Path
) -> None:
    """Runtimes mount secrets at /run/secrets; programs written for Debian read /var/run,
    which base-files makes a link to /run."""
    secret = tmp_path / "db"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    image = _image(layouts, "python", LINES["python"][-1])
    done = _podman(
        podman_env,
        *("run", "--rm", "-v", f"{secret}:/run/secrets/db:ro", "--entrypoint", '["python3"]'),
        *(image, "-c", "print(open('/var/run/secrets/db').read().strip())"),
    )
    assert done.stdout.strip() == "s3cret"


NODE_SERVER = (
    "require('http').createServer((q, r) => r.end('hello from node ' + process.version))"
    ".listen(8080)"
)
NODE_CLIENT = (
    "require('http').get('http://127.0.0.1:8080/', r => "
    "{ let b = ''; r.on('data', d => b += d); r.on('end', () => console.log(b)); })"
    ".on('error', () => process.exit(1))"
)


@pytest.mark.parametrize("version", LINES["node"])
def test_node_serves_an_http_request(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    with _container(podman_env, _image(layouts, "node", version), "-e", NODE_SERVER) as name:
        answer = _until(
            "node never answered", lambda: _exec(podman_env, name, "node", "-e", NODE_CLIENT)
        )
    assert answer.startswith(f"hello from node v{version}."), answer


def _http_get(port: int, path: str = "/") -> tuple[int, str] | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    except OSError:
        return None


@pytest.mark.parametrize("version", LINES["nginx"])
def test_nginx_serves_its_default_site_unprivileged_on_8080(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    port = _free_port()
    image = _image(layouts, "nginx", version)
    with _container(podman_env, image, options=["-p", f"127.0.0.1:{port}:8080"]) as name:
        status, page = _until("nginx never answered", lambda: _http_get(port))
        users = _podman(podman_env, "top", name, "user", "args").stdout
    assert status == 200 and "Welcome to nginx" in page
    processes = [line.split(None, 1) for line in users.splitlines()[1:] if line.strip()]
    assert processes and all(user == "nonroot" for user, _ in processes), users
    assert any("master process" in args for _, args in processes)


@pytest.mark.parametrize("version", LINES["php"])
def test_php_serves_a_page_with_its_built_in_server(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "index.php").write_text('<?php echo "hello from php ", PHP_VERSION, "\\n";\n')
    tmp_path.chmod(0o755)  # the container's user (65532) reads the mounted directory
    image = _image(layouts, "php", version)
    options = ["-v", f"{tmp_path}:/srv:ro"]
    with _container(podman_env, image, "-S", "0.0.0.0:8080", "-t", "/srv", options=options) as name:
        client = 'echo file_get_contents("http://127.0.0.1:8080/");'
        answer = _until("php never answered", lambda: _exec(podman_env, name, "php", "-r", client))
    assert answer.startswith(f"hello from php {version}."), answer


@pytest.mark.parametrize("version", LINES["ruby"])
def test_ruby_runs_a_utf8_script(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    script = 'p "Grüße".split("ü"); File.write("grüße.txt", "ok"); p Dir.pwd, Dir.children(".")'
    out = _podman_run(podman_env, _image(layouts, "ruby", version), "ruby", "-e", script)
    assert out.splitlines()[-3:] == ['["Gr", "ße"]', '"/home/nonroot"', '["grüße.txt"]'], out


JAVA_SOURCE = """\
import java.nio.file.Files;
import java.nio.file.Path;

public class Hello {
    public static void main(String[] args) throws Exception {
        Path file = Path.of("gr\\u00fc\\u00dfe.txt");
        Files.writeString(file, "gr\\u00fc\\u00dfe");
        System.out.println("Gr\\u00fc\\u00dfe from " + System.getProperty("user.dir"));
        try (var listing = Files.list(Path.of("."))) {
            listing.forEach(p -> System.out.println("file " + p.getFileName()));
        }
    }
}
"""


@pytest.fixture(scope="module")
def hello_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A jar built with the machine's JDK for Java 17, the oldest jre line; its directory."""
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.fail("javac and jar are needed: install Debian's default-jdk-headless")
    directory = tmp_path_factory.mktemp("jar")
    (directory / "Hello.java").write_text(JAVA_SOURCE)
    classes, jar = directory / "classes", directory / "hello.jar"
    for command in (
        ["javac", "--release", "17", "-d", str(classes), str(directory / "Hello.java")],
        ["jar", "--create", "--file", str(jar), "--main-class", "Hello", "-C", str(classes), "."],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    # The container's user (65532) reads the mounted directory.
    directory.chmod(0o755)
    jar.chmod(0o644)
    return directory


@pytest.mark.parametrize("version", LINES["jre"])
def test_jre_runs_a_jar_and_writes_a_utf8_file_name(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str], hello_jar: Path
) -> None:
    image = _image(layouts, "jre", version)
    done = _podman(
        podman_env, "run", "--rm", "-v", f"{hello_jar}:/app:ro", image, "-jar", "/app/hello.jar"
    )
    assert done.stdout.splitlines() == ["Grüße from /home/nonroot", "file grüße.txt"], done.stdout


@pytest.mark.parametrize("version", LINES["postgres"])
def test_postgres_initialises_its_data_and_answers(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    image = _image(layouts, "postgres", version)
    options = ["-e", "POSTGRES_PASSWORD=s3cret", "-e", "POSTGRES_DB=app"]
    with _container(podman_env, image, options=options) as name:
        query = ("psql", "-U", "postgres", "-d", "app", "-tAc")
        answer = _until(
            "postgres never answered",
            lambda: _exec(podman_env, name, *query, "select 1, current_database()"),
        )
        assert answer.strip() == "1|app"
        server = _exec(podman_env, name, *query, "show server_version")
        assert server is not None and server.startswith(f"{version}.")
        owner = _exec(podman_env, name, *query, "select current_setting('data_directory')")
        assert owner is not None and owner.strip() == "/var/lib/postgresql/data"
        # Over TCP (not the loopback, which initdb trusts), the password is asked and checked.
        address = _podman(
            podman_env, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name
        ).stdout.strip()
        tcp = ("psql", "-h", address, "-U", "postgres", "-w", "-tAc", "select 2")
        assert _exec(podman_env, name, *tcp) is None
        right = _podman(podman_env, "exec", "-e", "PGPASSWORD=s3cret", name, *tcp)
        assert right.stdout.strip() == "2"
        wrong = _podman(podman_env, "exec", "-e", "PGPASSWORD=nope", name, *tcp, check=False)
        assert "password authentication failed" in wrong.stderr
        logged = _podman(podman_env, "logs", name)
        logs = logged.stdout + logged.stderr
    assert "PostgreSQL init process complete" in logs


def test_postgres_keeps_its_data_in_a_named_volume(
    layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    """The volume takes $PGDATA's owner (65532) from the image; a second container on it
    starts the database as it is, without initialising again."""
    image = _image(layouts, "postgres", LINES["postgres"][-1])
    volume = f"couturier-e2e-{uuid.uuid4().hex[:10]}"
    mount = ["-v", f"{volume}:/var/lib/postgresql/data"]
    psql = ("psql", "-U", "postgres", "-tAc")
    try:
        with _container(podman_env, image, options=[*mount, "-e", "POSTGRES_PASSWORD=pw"]) as name:
            _until("postgres never answered", lambda: _exec(podman_env, name, *psql, "select 1"))
            _exec(
                podman_env, name, *psql, "create table kept (x int); insert into kept values (42)"
            )
        with _container(podman_env, image, options=mount) as name:
            kept = _until(
                "postgres never answered",
                lambda: _exec(podman_env, name, *psql, "select x from kept"),
            )
            logged = _podman(podman_env, "logs", name)
        assert kept.strip() == "42"
        assert "init process complete" not in logged.stdout + logged.stderr
    finally:
        _podman(podman_env, "volume", "rm", "-f", volume, check=False)


def test_postgres_refuses_to_initialise_without_a_password(
    layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    image = _image(layouts, "postgres", LINES["postgres"][-1])
    done = _podman(podman_env, "run", "--rm", image, check=False)
    assert done.returncode == 1 and "POSTGRES_PASSWORD" in done.stderr, done.stderr


@pytest.mark.parametrize("version", LINES["postgres"])
def test_postgres_answers_its_version_through_the_entrypoint_without_a_password(
    version: str, layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    """As the official image: ``postgres --version`` (and a first argument starting with
    ``-``) needs no password and initialises nothing."""
    image = _image(layouts, "postgres", version)
    for args in (["postgres", "--version"], ["-V"]):
        done = _podman(podman_env, "run", "--rm", image, *args)
        assert done.stdout.startswith(f"postgres (PostgreSQL) {version}."), done.stdout


def test_python_trusts_the_system_ca_bundle(
    layouts: Callable[[str], Path], podman_env: dict[str, str]
) -> None:
    probe = "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
    image = _image(layouts, "python", LINES["python"][0])
    out = _podman_run(podman_env, image, "python3", "-c", probe)
    assert int(out.strip().splitlines()[-1]) > 100  # Mozilla's roots from ca-certificates
