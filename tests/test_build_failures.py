"""Bad input and a hostile environment during a build: each line fails alone, the rest is built.

The fixture repository is test_build's tiny starter (``oldrel`` for line 1, ``newrel`` for line 2)
plus three packages that both releases carry, fine in ``oldrel`` and bad in ``newrel``:
``payload`` 2.0 holds 1.5 MiB of incompressible data (too big for a small tmpfs), ``broken`` 2.0
is a real ``.deb`` cut in half and ``garbled`` 2.0 is garbage behind a valid ``ar`` header. Both
bad archives are in the pool before the indexes are written, so the signed index describes them
and only reading them can tell. The repository is served over HTTP by a real server in a thread,
which can cut chosen downloads short or be shut down mid-build.

Every test builds two lines where one meets the failure and checks that the other is created, the
failed line's error names the package (or directory) and the trace id, and the layout at the
output is either absent or complete: only created lines, every blob whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import random
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.assembly.fetch import cache_path
from couturier.cli.main import main
from couturier.cli.output import LineProgress
from couturier.core.starter import Starter, parse_starter
from couturier.debian.transport import HttpTransport
from couturier.errors import Problem
from couturier.oci.layout import Layout
from couturier.services.build import BuildResult, ImageRequest, StageEvent, build
from couturier.services.context import build_context
from couturier.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.debs import Content, File, build_suites
from tests.fixture_repo import SigningKey, build_repo
from tests.test_build import (
    NOW,
    PACKAGES,
    RELEASES,
    STARTER_DOC,
    _copyright,
    lines_of,
    tree_snapshot,
)

PAYLOAD = random.Random(3).randbytes(3 << 19)  # 1.5 MiB that gzip cannot shrink

EXTRA: dict[str, list[tuple[dict[str, str], dict[str, Content]]]] = {
    "oldrel": [
        ({"Package": "payload", "Version": "1.0-1"}, {"usr/share/payload/data": b"small\n"}),
        ({"Package": "broken", "Version": "1.0-1"}, {"usr/bin/broken": File(b"ok\n", 0o755)}),
        ({"Package": "garbled", "Version": "1.0-1"}, {"usr/bin/garbled": File(b"ok\n", 0o755)}),
    ],
    "newrel": [
        ({"Package": "payload", "Version": "2.0-1"}, {"usr/share/payload/data": PAYLOAD}),
        (
            {"Package": "broken", "Version": "2.0-1"},
            {"usr/bin/broken": File(PAYLOAD[:200_000], 0o755), **_copyright("broken")},
        ),
        ({"Package": "garbled", "Version": "2.0-1"}, {"usr/bin/garbled": b"replaced\n"}),
    ],
}


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    """The signed repository; the bad ``.deb`` files are damaged before it is indexed."""
    root = tmp_path_factory.mktemp("failures-repo") / "repo"
    pool = root / "pool" / "main"
    suites = build_suites(
        pool,
        {
            suite: [*packages, *((c, f, 1_600_000_000) for c, f in EXTRA[suite])]
            for suite, packages in PACKAGES.items()
        },
    )
    broken = pool / "broken_2.0-1_all.deb"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    (pool / "garbled_2.0-1_all.deb").write_bytes(
        b"!<arch>\n"
        + _ar_member("debian-binary", b"2.0\n")
        + _ar_member("control.tar.gz", b"this is not gzip " * 20)
        + _ar_member("data.tar.gz", PAYLOAD[:4096])
    )
    return build_repo(root, suites, key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_build_failures.py", releases=tuple(RELEASES))


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


# -- a real HTTP mirror that can fail ------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    mirror: HttpMirror

    def do_GET(self) -> None:
        if self.mirror.cut_short(self.path):
            body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the mirror went away mid-body
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpMirror:
    """Serves ``root`` over HTTP on 127.0.0.1 from a thread.

    ``drops`` maps a file name to how many more requests for it get the headers and half the body
    before the connection is closed; :meth:`stop` shuts the server down for good.
    """

    def __init__(self, root: Path) -> None:
        self.drops: dict[str, int] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"mirror": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def cut_short(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        with self._lock:
            self.requests.append(path)
            if self.drops.get(name, 0) > 0:
                self.drops[name] -= 1
                return True
        return False

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def served(tmp_path: Path, repo: Path) -> Iterator[tuple[Path, HttpMirror]]:
    """A copy of the repository (tests may tamper with it) and the server serving it."""
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy)
    mirror = HttpMirror(copy)
    yield copy, mirror
    mirror.stop()


def http_settings(directory: Path, repo: Path, key: SigningKey, url: str) -> Settings:
    """test_build's settings for a machine under ``directory``, reading the mirror at ``url``."""
    directory.mkdir(parents=True, exist_ok=True)
    make_settings(directory, repo, key.keyring, RELEASES, architectures=("amd64",))
    path = directory / "couturier.yaml"
    body = yaml.safe_load(path.read_text())
    body["mirrors"]["fixture"]["url"] = url
    path.write_text(yaml.safe_dump(body))
    return load_settings(path, env={})


class Sleeps:
    """The backoff waits the transport asked for (recorded, not slept)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def transport(sleeps: Sleeps) -> HttpTransport:
    return HttpTransport(timeout=10, retries=2, backoff=0.25, sleep=sleeps)


class Stages:
    """Records the progress events of a build; ``then`` runs on every one (e.g. stop a mirror)."""

    def __init__(self, then: Callable[[StageEvent], None] = lambda event: None) -> None:
        self.events: list[StageEvent] = []
        self._then = then
        self._lock = threading.Lock()

    def __call__(self, event: StageEvent) -> None:
        with self._lock:
            self.events.append(event)
        self._then(event)

    def of(self, label: str) -> list[str]:
        return list(dict.fromkeys(e.stage for e in self.events if e.label == label))


# -- what every test checks ----------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_failed(result: BuildResult, code: str, label: str = "2") -> Problem:
    """Line ``label`` failed with an error of ``code`` (its fields carrying the build's trace
    id) and every other line was created; returns the failed line's error."""
    lines = {line.version: line for line in result.lines}
    assert result.status == "some lines created", result.to_json()
    failed = lines[label]
    assert failed.status == "failed", result.to_json()
    assert failed.error is not None and failed.error.code == code, failed.error
    assert failed.error.fields["trace_id"] == result.trace_id
    assert failed.to_json()["error"]["code"] == code
    assert failed.digest == "" and failed.tags == ()
    assert all(line.status == "created" for v, line in lines.items() if v != label)
    return failed.error


def assert_complete_or_absent(output: Path, result: BuildResult) -> None:
    """The layout holds exactly the created lines (and their SBOM referrers), whole, or does not
    exist; no staging left."""
    assert [p.name for p in output.parent.iterdir() if ".partial-" in p.name] == []
    created = [line for line in result.lines if line.status == "created"]
    if not created:
        assert not output.exists()
        return
    layout = Layout(output)
    assert layout.verify() > 0
    images = [entry for entry in layout.read_index() if not entry.artifact_type]
    assert {entry.digest for entry in images} == {line.digest for line in created}
    for line in created:
        # Each created line carries its SBOMs as referrers; no other line's are left.
        assert {r.artifact_type for r in layout.referrers(line.digest)} == {
            "application/spdx+json",
            "application/vnd.cyclonedx+json",
        }
        assert layout.tagged(line.version).digest == line.digest
        assert "latest" not in line.tags or layout.tagged("latest").digest == line.digest
    # Not even an unreferenced blob may be a fragment.
    for blob in (output / "blobs" / "sha256").iterdir():
        assert _sha256(blob) == blob.name, blob


def assert_cache_whole(cache: Path) -> None:
    """Every cached .deb and layer is whole and named by its content; no temporary file is left."""
    files = [p for p in cache.rglob("*") if p.is_file()]
    partial = [p for p in files if ".partial" in p.relative_to(cache).parts]  # in-progress files
    assert [p for p in files if p.name.endswith(".tmp") or p.name.startswith(".")] + partial == []
    for deb in (p for p in files if "debs" in p.relative_to(cache).parts):
        assert _sha256(deb) == deb.name, deb
    layers = cache / "layers"
    for key in (layers / "keys").glob("*.json") if layers.exists() else ():
        meta = json.loads(key.read_text())
        blob = layers / "blobs" / meta["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == meta["size"], key
    for blob in (layers / "blobs").iterdir() if layers.exists() else ():
        assert _sha256(blob) == blob.name, blob


def build_private(
    settings: Settings,
    starter: Starter,
    output: Path,
    packages: tuple[str, ...] = (),
    *,
    sleeps: Sleeps | None = None,
    stages: Stages | None = None,
    epoch: int | None = None,
) -> BuildResult:
    request = ImageRequest(starter, "failing", packages=packages, private=bool(packages))
    context = build_context(
        settings,
        output=output,
        transport=transport(sleeps or Sleeps()),
        epoch=epoch,
        now=NOW,
        on_stage=stages or Stages(),
    )
    return build(context, request)


# -- a. an unreachable mirror mid-download ------------------------------------------------------


def test_download_cut_short_is_retried_with_backoff(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    mirror.drops["tool_2.1-1_all.deb"] = 1  # only the first attempt is cut short
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    sleeps = Sleeps()
    result = build_private(settings, starter, tmp_path / "out", sleeps=sleeps)
    assert result.status == "created", result.to_json()
    assert sleeps.waits == [0.25]
    assert mirror.requests.count("/pool/main/tool_2.1-1_all.deb") == 2
    assert_complete_or_absent(tmp_path / "out", result)


def test_mirror_dropping_a_download_fails_that_line_only(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    mirror.drops["tool_2.1-1_all.deb"] = 99
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    sleeps, stages = Sleeps(), Stages()
    result = build_private(settings, starter, tmp_path / "out", sleeps=sleeps, stages=stages)
    url = f"{mirror.url}/pool/main/tool_2.1-1_all.deb"
    error = assert_one_line_failed(result, "source-unreachable")
    assert error.fields["url"] == url and error.fields["package"] == "tool"
    assert error.fields["version"] == "2.1-1" and error.fields["attempts"] == 3
    assert error.retryable
    assert sleeps.waits == [0.25, 0.5]  # backoff doubles between the three attempts
    assert stages.of("2")[-2:] == ["fetching", "failed"]
    assert_complete_or_absent(tmp_path / "out", result)
    assert_cache_whole(settings.cache_dir)


def test_mirror_gone_between_indexes_and_downloads_fails_that_line_only(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)

    line_1_fetched = threading.Event()

    def stop_when_line_2_fetches(event: StageEvent) -> None:
        # The lines are built side by side: the mirror goes once line 1 has its packages.
        if event.label == "1" and event.stage == "assembling":
            line_1_fetched.set()
        if event.label == "2" and event.stage == "fetching" and mirror.running:
            assert line_1_fetched.wait(30)
            mirror.stop()

    sleeps, stages = Sleeps(), Stages(stop_when_line_2_fetches)
    result = build_private(settings, starter, tmp_path / "out", sleeps=sleeps, stages=stages)
    assert not mirror.running
    url = f"{mirror.url}/pool/main/tool_2.1-1_all.deb"
    error = assert_one_line_failed(result, "source-unreachable")
    assert (error.fields["url"], error.fields["package"]) == (url, "tool")
    assert error.fields["attempts"] == 3 and error.retryable
    # base-files and libfoo are shared with line 1 and already cached: only tool is retried.
    assert sleeps.waits == [0.25, 0.5]
    line_1 = ["waiting", "resolving", "fetching", "assembling", "compressing", "built"]
    assert stages.of("1") == [*line_1, "writing", "created"]
    assert stages.of("2") == ["waiting", "resolving", "fetching", "failed"]
    assert_complete_or_absent(tmp_path / "out", result)
    assert_cache_whole(settings.cache_dir)


# -- b. corrupt packages -------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["broken", "garbled"])
def test_corrupt_deb_that_matches_its_index_fails_that_line(
    tmp_path: Path,
    served: tuple[Path, HttpMirror],
    signing_key: SigningKey,
    starter: Starter,
    package: str,
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    result = build_private(settings, starter, tmp_path / "out", (package,))
    error = assert_one_line_failed(result, "package-corrupt")
    assert error.fields["file"] == f"{package}_2.0-1_all.deb"
    assert_complete_or_absent(tmp_path / "out", result)
    # The verified download stays cached: it is what the signed index describes.
    assert_cache_whole(settings.cache_dir)


@pytest.mark.parametrize("package", ["broken", "garbled"])
def test_corrupt_deb_error_names_the_package(
    tmp_path: Path,
    served: tuple[Path, HttpMirror],
    signing_key: SigningKey,
    starter: Starter,
    package: str,
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    result = build_private(settings, starter, tmp_path / "out", (package,))
    error = assert_one_line_failed(result, "package-corrupt")
    assert f"{package}_2.0-1_all.deb" in error.message


def test_tampered_download_fails_that_line_and_is_not_cached(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    deb = repo / "pool" / "main" / "tool_2.1-1_all.deb"
    original = deb.read_bytes()
    deb.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # after indexing, same size
    log = io.StringIO()
    result = build_private(settings, starter, tmp_path / "out", stages=Stages(LineProgress(log)))
    url = f"{mirror.url}/pool/main/tool_2.1-1_all.deb"
    error = assert_one_line_failed(result, "download-hash-mismatch")
    assert (error.fields["package"], error.fields["url"]) == ("tool", url)
    assert error.fields["expected_sha256"] == hashlib.sha256(original).hexdigest()  # the index's
    assert error.fields["actual_sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()
    assert error.fields["expected_size"] == error.fields["actual_size"] == len(original)
    assert mirror.requests.count("/pool/main/tool_2.1-1_all.deb") == 2  # fetched once more
    assert not cache_path(settings.cache_dir, hashlib.sha256(original).hexdigest()).exists()
    assert_complete_or_absent(tmp_path / "out", result)
    assert_cache_whole(settings.cache_dir)
    # What `couturier build` shows on a log: each line's stages, the failure in words. The
    # lines are built side by side, so their rows interleave; each line's come in order, and
    # the layout is written once every line has ended.
    logged = log.getvalue().splitlines()
    assert [row for row in logged if row.startswith("1: ")] == [
        "1: resolving",
        "1: fetching 0/3",
        "1: assembling",
        "1: compressing",
        "1: built 1.4",
        "1: writing",
        "1: created 1.4",
    ]
    assert [row for row in logged if row.startswith("2: ")] == [
        "2: resolving",
        "2: fetching 0/3",
        f"2: failed: {error.message}",
    ]
    assert logged.index("1: writing") > max(
        logged.index("1: built 1.4"), logged.index(f"2: failed: {error.message}")
    )


# -- c. a full disk ------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(directory: Path, size: str = "512k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory`` for the block (skips if mounting is refused)."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def grow(directory: Path, size: str = "32m") -> None:
    """Free space: resize the tmpfs on ``directory`` keeping its files."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(directory)], check=True)


def test_full_output_disk_fails_the_line_that_does_not_fit(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    with small_disk(tmp_path / "disk") as disk:
        output = disk / "out"
        result = build_private(settings, starter, output, ("payload",))
        error = assert_one_line_failed(result, "storage-full")
        assert error.fields["path"] == str(output) and error.fields["setting"] == ""
        assert_complete_or_absent(output, result)
        assert Layout(output).tags() == sorted(lines_of(result)["1"].tags)
        assert "latest" in lines_of(result)["1"].tags  # tags are planned over created lines
        assert_cache_whole(settings.cache_dir)

        grow(disk)
        again = build_private(settings, starter, output, ("payload",))
        assert again.status == "created", again.to_json()
        assert lines_of(again)["1"].digest == lines_of(result)["1"].digest
        assert_complete_or_absent(output, again)


def fill(directory: Path) -> None:
    """Write a file into ``directory`` until its disk is full."""
    with (directory / "filler").open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(PAYLOAD[: 1 << 16])
            handle.flush()


def test_full_disk_leaves_an_existing_layout_as_it_was(
    tmp_path: Path,
    served: tuple[Path, HttpMirror],
    signing_key: SigningKey,
    starter: Starter,
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    with small_disk(tmp_path / "disk") as disk:
        output = disk / "out"
        first = build_private(settings, starter, output)
        assert first.status == "created", first.to_json()
        fill(disk)
        before = tree_snapshot(output)
        result = build_private(settings, starter, output, epoch=1_500_000_000)  # new blobs
        assert result.status == "image build failed"
        for line in result.lines:
            assert line.status == "failed"
            assert line.error is not None and line.error.code == "storage-full"
            assert line.error.fields["path"] == str(output)
            assert line.error.fields["trace_id"] == result.trace_id
        assert tree_snapshot(output) == before
        assert [p.name for p in disk.iterdir() if ".partial-" in p.name] == []
        assert Layout(output).verify() > 0


def test_full_cache_disk_fails_the_line_that_does_not_fit(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    with small_disk(settings.cache_dir) as cache:
        result = build_private(settings, starter, tmp_path / "out", ("payload",))
        error = assert_one_line_failed(result, "storage-full")
        assert error.fields["path"] == str(cache) and error.fields["setting"] == "cache_dir"
        assert_complete_or_absent(tmp_path / "out", result)
        assert_cache_whole(cache)

        grow(cache)
        again = build_private(settings, starter, tmp_path / "again", ("payload",))
        assert again.status == "created", again.to_json()
        assert lines_of(again)["1"].digest == lines_of(result)["1"].digest
        assert_cache_whole(cache)


def test_a_line_that_hit_a_disk_another_line_filled_is_built_again_alone(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    """Lines build side by side: a line whose write found the disk full (filled, say, by
    another line's download) is built again alone once the others are done, so only a line
    that does not fit by itself fails."""
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    context = build_context(settings, output=tmp_path / "out", now=NOW)
    full = [True]
    attempts: list[str] = []

    def fetch(packages: Any, url_of: Any, progress: Any = None) -> Any:
        attempts.append(",".join(sorted(p.name for p in packages)))
        if full[0]:
            full[0] = False
            raise OSError(errno.ENOSPC, "No space left on device", str(settings.cache_dir))
        return context.fetch(packages, url_of, progress)

    result = build(dataclasses.replace(context, fetch=fetch), ImageRequest(starter, "failing"))
    assert result.status == "created", result.to_json()
    assert len(attempts) == len(result.lines) + 1  # the line that found the disk full: twice


def test_full_layer_cache_leaves_no_broken_entry(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    # Downloads fit (they are on the big disk); the 1.5 MiB layer of payload 2.0 does not.
    with small_disk(settings.cache_dir / "layers") as layers:
        result = build_private(settings, starter, tmp_path / "out", ("payload",))
        error = assert_one_line_failed(result, "storage-full")
        assert error.fields["path"] == str(settings.cache_dir)
        assert_complete_or_absent(tmp_path / "out", result)
        assert_cache_whole(settings.cache_dir)

        grow(layers)
        again = build_private(settings, starter, tmp_path / "again", ("payload",))
        assert again.status == "created", again.to_json()
        assert_cache_whole(settings.cache_dir)


# -- d. unknown starters and packages ------------------------------------------------------------


def test_cli_unknown_starter_lists_the_known_ones(
    tmp_path: Path, repo: Path, signing_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    make_settings(tmp_path, repo, signing_key.keyring, RELEASES, architectures=("amd64",))
    config = str(tmp_path / "couturier.yaml")
    output = tmp_path / "out"
    status = main(["--config", config, "build", "--starter", "nope", "--output", str(output)])
    assert status == 1
    err = capsys.readouterr().err
    assert "no starter image called 'nope'" in err
    assert "starters: base, jre, nginx, node, php, postgres, python, ruby" in err
    assert not output.exists()


def test_missing_package_skips_only_the_lines_without_it(
    tmp_path: Path, served: tuple[Path, HttpMirror], signing_key: SigningKey, starter: Starter
) -> None:
    repo, mirror = served
    settings = http_settings(tmp_path / "env", repo, signing_key, mirror.url)
    stages = Stages()
    result = build_private(settings, starter, tmp_path / "out", ("extra",), stages=stages)
    lines = lines_of(result)
    assert result.status == "some lines created"
    assert lines["1"].status == "created"
    assert lines["2"].status == "skipped"
    error = lines["2"].error
    assert error is not None and error.code == "package-not-found", error
    assert (error.fields["package"], error.fields["release"]) == ("extra", "newrel")
    assert stages.of("2") == ["waiting", "resolving", "skipped"]
    assert stages.events[-1].text.startswith("created")
    assert_complete_or_absent(tmp_path / "out", result)
