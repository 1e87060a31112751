"""What is reused from disk is verified, and what a mirror sends is bounded.

On the fixture repository of test_build (a tiny starter over ``oldrel``/``newrel``) and on
test_refresh's suites: a cached layer, a cached ``.deb``, a blob of an existing output layout, an
index snapshot and its derived index, each changed on disk with its size kept, are noticed when
used, dropped, fetched or rebuilt, and said. A mirror answering ``InRelease`` with an endless or
a huge body is refused after a bounded read. Partial files are swept only when no process (a
real second one here) holds them. ``couturier cache verify`` checks and repairs everything.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import http.server
import io
import json
import lzma
import marshal
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from couturier import integrity
from couturier.assembly.fetch import PARTIAL_DIR, cache_path, fetch, sweep_downloads
from couturier.assembly.layercache import LayerCache
from couturier.cli import main as cli_main
from couturier.cli.main import main
from couturier.cli.output import Progress
from couturier.core.starter import Starter, parse_starter
from couturier.debian.index import load_catalog
from couturier.debian.refresh import INRELEASE_LIMIT, refresh
from couturier.debian.snapshots import load_suite_state
from couturier.debian.transport import HttpTransport
from couturier.errors import IntegrityError, StateError
from couturier.integrity import (
    Partial,
    file_problem,
    sha256_file,
    sweep_partials,
    verified_with_stamp,
)
from couturier.oci.documents import Blob
from couturier.oci.layer import Layer
from couturier.oci.layout import Layout, LayoutWriter
from couturier.services.build import BuildResult, ImageRequest, build
from couturier.services.bundles import create_bundle, get_bundle, store_root
from couturier.services.context import build_context
from couturier.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.debs import build_suites
from tests.fixture_repo import CountingTransport, SigningKey, build_repo, sign_release
from tests.test_build import NOW, PACKAGES, RELEASES, STARTER_DOC

SUITES: dict[str, list[dict[str, str]]] = {
    "testing": [
        {"Package": "hello", "Version": "2.10-3", "Architecture": "amd64"},
        {"Package": "hello-doc", "Version": "2.10-3"},
    ],
    "testing-updates": [],
}


@pytest.fixture(scope="module")
def build_repo_root(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("reuse-build-repo") / "repo"
    return build_repo(root, build_suites(root / "pool" / "main", PACKAGES), key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_reuse_integrity.py", releases=tuple(RELEASES))


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture
def build_settings(tmp_path: Path, build_repo_root: Path, signing_key: SigningKey) -> Settings:
    return make_settings(
        tmp_path, build_repo_root, signing_key.keyring, RELEASES, architectures=("amd64",)
    )


@pytest.fixture(scope="module")
def index_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    return build_repo(tmp_path_factory.mktemp("reuse-index-repo") / "repo", SUITES, key=signing_key)


@pytest.fixture
def index_settings(tmp_path: Path, index_repo: Path, signing_key: SigningKey) -> Settings:
    settings = make_settings(tmp_path, index_repo, signing_key.keyring)
    refresh(settings, transport=HttpTransport(retries=0))
    return settings


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte in the middle of ``path`` in place: same size, other content."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def run(
    settings: Settings, starter: Starter, output: Path, said: list[str] | None = None
) -> BuildResult:
    messages = said if said is not None else []
    context = build_context(
        settings, output=output, now=NOW, say=messages.append, transport=CountingTransport()
    )
    return build(context, ImageRequest(starter, "tiny"), lines=["1"])


def layer_digests(output: Path) -> list[str]:
    return [layer["digest"] for layer in Layout(output).manifest("1")["layers"]]


def biggest(directory: Path) -> Path:
    return max((p for p in directory.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)


# -- layers ---------------------------------------------------------------------------------------


def test_cached_layer_changed_on_disk_is_rebuilt_and_said(
    tmp_path: Path, build_settings: Settings, starter: Starter
) -> None:
    first = run(build_settings, starter, tmp_path / "out-1")
    assert first.status == "created", first.to_json()
    blob = biggest(build_settings.cache_dir / "layers" / "blobs")
    flip_byte(blob)
    said: list[str] = []
    second = run(build_settings, starter, tmp_path / "out-2", said)
    assert second.status == "created", second.to_json()
    warning = [m for m in said if f"cached layer sha256:{blob.name}" in m]
    assert warning and "damaged; rebuilding it" in warning[0] and warning[0].startswith("warning")
    assert layer_digests(tmp_path / "out-2") == layer_digests(tmp_path / "out-1")
    assert Layout(tmp_path / "out-2").verify() > 0
    assert f"sha256:{blob.name}" in layer_digests(tmp_path / "out-2")
    # The cache holds the rebuilt layer again, whole.
    assert not file_problem(blob, blob.name)


def test_damaged_blob_of_an_existing_layout_is_rewritten(
    tmp_path: Path, build_settings: Settings, starter: Starter
) -> None:
    output = tmp_path / "out"
    assert run(build_settings, starter, output).status == "created"
    digest = layer_digests(output)[0]
    blob = Layout(output).blob_path(digest)
    flip_byte(blob)
    with pytest.raises(IntegrityError):
        Layout(output).verify()
    said: list[str] = []
    again = run(build_settings, starter, output, said)
    assert again.status == "created"
    assert any(f"blob {digest} in {output}" in m and "rewrote it" in m for m in said), said
    assert Layout(output).verify() > 0


def test_damaged_blob_seen_only_at_commit_is_rewritten(tmp_path: Path) -> None:
    """A blob damaged after the writer checked it (between staging and commit) is noticed too:
    the layout then keeps the writer's copy."""
    output = tmp_path / "layout"
    layer_blob = b"layer bytes" * 100
    with LayoutWriter(output) as writer:
        writer.add_blob(Blob("application/octet-stream", layer_blob))
    digest = Blob("application/octet-stream", layer_blob).descriptor().digest
    said: list[str] = []
    writer = LayoutWriter(output, said.append)
    path = Layout(output).blob_path(digest)
    path.unlink()  # absent when staging: staged; damaged copy appears before the commit
    writer.add_blob(Blob("application/octet-stream", layer_blob))
    path.write_bytes(b"x" * len(layer_blob))
    writer.commit()
    assert path.read_bytes() == layer_blob
    assert said and "damaged" in said[0]


def test_damaged_oci_layout_file_of_an_existing_layout_is_rewritten(
    tmp_path: Path, build_settings: Settings, starter: Starter
) -> None:
    output = tmp_path / "out"
    assert run(build_settings, starter, output).status == "created"
    (output / "oci-layout").write_text("{broken")
    said: list[str] = []
    again = run(build_settings, starter, output, said)
    assert again.status == "created", again.to_json()
    assert json.loads((output / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert any(f"{output / 'oci-layout'} is not JSON" in m and "rewrote it" in m for m in said)
    assert Layout(output).verify() > 0


def test_damaged_index_json_of_an_existing_layout_is_refused_untouched(
    tmp_path: Path, build_settings: Settings, starter: Starter
) -> None:
    """``index.json`` alone holds the tags (other lines', other images'): it is never
    overwritten; the error names it and what to do."""
    output = tmp_path / "out"
    assert run(build_settings, starter, output).status == "created"
    (output / "index.json").write_text("{broken")
    before = sorted(p.name for p in (output / "blobs" / "sha256").iterdir())
    with pytest.raises(
        StateError, match=r"index\.json cannot be parsed.*holds the layout's tags"
    ) as e:
        run(build_settings, starter, output)
    assert e.value.path == str(output / "index.json")
    assert f"move {output} aside" in e.value.hint
    assert (output / "index.json").read_text() == "{broken"
    assert sorted(p.name for p in (output / "blobs" / "sha256").iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial-")]


# -- packages -------------------------------------------------------------------------------------


def test_cached_deb_changed_on_disk_is_fetched_again_and_said(
    tmp_path: Path, index_settings: Settings
) -> None:
    catalog = load_catalog(index_settings, "testing", "amd64")
    hello = catalog.versions("hello")[0]
    cache = tmp_path / "debs-cache"
    fetch([hello], catalog.url_of, cache, transport=CountingTransport())
    path = cache_path(cache, hello.sha256)
    flip_byte(path)
    transport, said = CountingTransport(), list[str]()
    again = fetch([hello], catalog.url_of, cache, transport=transport, warn=said.append)
    assert transport.urls == [catalog.url_of(hello)]
    assert not file_problem(again["hello"], hello.sha256, hello.size)
    assert len(said) == 1 and "cached hello 2.10-3" in said[0] and "downloading it again" in said[0]


def test_deb_longer_than_its_index_says_is_refused_without_reading_it_all(
    tmp_path: Path, index_settings: Settings, index_repo: Path
) -> None:
    catalog = load_catalog(index_settings, "testing", "amd64")
    hello = catalog.versions("hello")[0]
    copy = tmp_path / "mirror"
    shutil.copytree(index_repo, copy)
    deb = copy / hello.filename
    deb.write_bytes(deb.read_bytes() + bytes(50 << 20))
    url = f"{copy.as_uri()}/{hello.filename}"
    cache = tmp_path / "debs-cache"
    with pytest.raises(IntegrityError, match=rf"hello 2\.10-3 .*more than the {hello.size:,}"):
        fetch([hello], lambda p: url, cache, transport=HttpTransport(retries=0))
    assert not cache_path(cache, hello.sha256).exists()
    assert list((cache / "debs" / PARTIAL_DIR).iterdir()) == []


# -- index snapshots ------------------------------------------------------------------------------


def _current(settings: Settings, key: str = "main/amd64") -> str:
    state = load_suite_state(settings.state_dir, "fixture", "testing")
    assert state is not None
    return state.indexes[key].sha256


def _edit_snapshot_sha(settings: Settings) -> tuple[Path, str]:
    """Replace hello's SHA256 in the current amd64 snapshot by another of the same length;
    return the snapshot and the true sha256."""
    path = settings.snapshot_dir / _current(settings)
    text = path.read_bytes()
    line = next(x for x in text.split(b"\n") if x.startswith(b"SHA256: "))
    true = line.removeprefix(b"SHA256: ").decode()
    path.write_bytes(text.replace(line, b"SHA256: " + b"0" * 64))
    return path, true


def test_edited_snapshot_never_makes_resolve_print_a_wrong_sha256(
    index_settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Progress binds sys.stderr when its module is imported; show it the captured one.
    monkeypatch.setattr(cli_main, "Progress", lambda quiet=False: Progress(sys.stderr, quiet))
    config = index_settings.data_dir.parent / "couturier.yaml"
    command = ["--config", str(config), "packages", "resolve", "--release", "testing"]
    command += ["--arch", "amd64", "--json", "hello"]
    assert main(command) == 0
    first = json.loads(capsys.readouterr().out)["packages"][0]["sha256"]
    path, true = _edit_snapshot_sha(index_settings)
    assert first == true
    assert main(command) == 0  # same process: the opened index is not trusted blindly
    captured = capsys.readouterr()
    assert json.loads(captured.out)["packages"][0]["sha256"] == true
    assert f"warning: index snapshot {path.name}" in captured.err
    assert "damaged" in captured.err
    assert "testing: repaired" in captured.err
    assert not file_problem(path, path.name)  # downloaded again


def test_refresh_repairs_an_edited_snapshot_though_inrelease_is_unchanged(
    index_settings: Settings,
) -> None:
    path, _ = _edit_snapshot_sha(index_settings)
    transport = CountingTransport()
    report = refresh(index_settings, transport=transport)
    assert report.suites[0].status == "repaired"
    assert any(f"index snapshot {path.name} of main/amd64" in w for w in report.warnings)
    assert any(u.endswith("binary-amd64/Packages.gz") for u in transport.urls)
    assert not file_problem(path, path.name)
    again = refresh(index_settings, transport=CountingTransport())
    assert [s.status for s in again.suites] == ["unchanged", "unchanged"]


def test_damaged_derived_index_is_rebuilt_and_said(index_settings: Settings) -> None:
    sha = _current(index_settings)
    idx = index_settings.snapshot_dir / f"{sha}.idx"
    flip_byte(idx)
    said: list[str] = []
    catalog = load_catalog(index_settings, "testing", "amd64", said.append)
    assert [p.version for p in catalog.versions("hello")] == ["2.10-3"]
    assert len(said) == 1 and f"derived index {idx}" in said[0] and "rebuilt" in said[0]
    search = index_settings.snapshot_dir / f"{sha}.search"
    assert [p.name for p in catalog.search("hello")] == ["hello", "hello-doc"]  # makes it
    flip_byte(search, 0)
    catalog = load_catalog(index_settings, "testing", "amd64", said.append)
    assert [p.name for p in catalog.search("hello")] == ["hello", "hello-doc"]
    assert f"search text {search}" in said[-1]


def test_stamp_vouches_for_an_old_file_and_never_for_a_changed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, stamp = tmp_path / "blob", tmp_path / "blob.stamp"
    path.write_bytes(b"a" * 1000)
    sha = sha256_file(path)[0]
    assert verified_with_stamp(path, sha, stamp) is None
    assert not stamp.exists()  # too new to vouch for: the next check reads it again
    later = time.time_ns() + 10**10  # as if the file were 10 s old
    monkeypatch.setattr(time, "time_ns", lambda: later)
    assert verified_with_stamp(path, sha, stamp) is None
    assert stamp.exists()
    reads: list[Path] = []
    real = integrity.file_problem

    def counted(path: Path, *args: Any) -> str | None:
        reads.append(path)
        return real(path, *args)

    monkeypatch.setattr(integrity, "file_problem", counted)
    assert verified_with_stamp(path, sha, stamp) is None
    assert reads == []  # trusted without reading
    time.sleep(0.05)
    with path.open("r+b") as handle:  # in place, same size, mtime put back: ctime still moves
        handle.write(b"b")
    before = json.loads(stamp.read_text())["stamp"]["mtime_ns"]
    os.utime(path, ns=(before, before))
    changed = sha256_file(path)[0]
    assert verified_with_stamp(path, sha, stamp) == f"has sha256 {changed}, expected {sha}"


# -- bounded reads --------------------------------------------------------------------------------


class _Endless(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 and an endless body (no length, or a claimed one)."""

    protocol_version = "HTTP/1.1"
    announce: ClassVar[int | None] = None
    sent: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        if self.announce is not None:
            self.send_header("Content-Length", str(self.announce))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"-----BEGIN PGP SIGNED MESSAGE-----\n" * 2000
        sent = 0
        try:
            while sent < (8 << 30):
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        type(self).sent.append(sent)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=[None, 1 << 30], ids=["endless", "1GiB-announced"])
def endless_mirror(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Endless,), {"announce": request.param, "sent": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_huge_inrelease_is_refused_quickly_with_bounded_memory(
    tmp_path: Path, index_repo: Path, signing_key: SigningKey, endless_mirror: str
) -> None:
    make_settings(tmp_path, index_repo, signing_key.keyring)
    config = tmp_path / "couturier.yaml"
    body = yaml.safe_load(config.read_text())
    body["mirrors"]["fixture"]["url"] = endless_mirror
    config.write_text(yaml.safe_dump(body))
    settings = load_settings(config, env={})
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match=rf"InRelease.*than the {INRELEASE_LIMIT:,}"):
            refresh(settings, ["testing"], ["amd64"], HttpTransport(retries=0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The suites of a release are refreshed at once: at most one capped InRelease each.
    suites = len(settings.release("testing").suites)
    assert peak < suites * INRELEASE_LIMIT + (8 << 20)


def test_transport_limit_on_get_and_get_to(tmp_path: Path) -> None:
    source = tmp_path / "file"
    source.write_bytes(b"x" * 5000)
    transport = HttpTransport(retries=0)
    assert transport.get(source.as_uri(), 5000) == b"x" * 5000
    with pytest.raises(IntegrityError, match="announces 5,000 bytes, more than the 4,999"):
        transport.get(source.as_uri(), 4999)
    sink = io.BytesIO(b"stale content that is longer than the body" * 200)
    assert transport.get_to(source.as_uri(), sink) == 5000
    sink.seek(0)
    assert transport.get_to(source.as_uri(), sink, 5000) == 5000
    assert sink.getvalue() == b"x" * 5000


# -- partial files --------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from couturier.integrity import Partial
    kind, directory, prefix, suffix = sys.argv[1:5]
    if kind == "file":
        partial = Partial.file(Path(directory), prefix, suffix)
    else:
        partial = Partial.directory(Path(directory), prefix)
    print(partial.path, flush=True)
    sys.stdin.read()  # hold it until told to go (or killed)
    """
)


@pytest.fixture
def holder() -> Iterator[Any]:
    """Start a second process that creates and holds a partial file (or directory)."""
    started: list[subprocess.Popen[str]] = []

    def start(
        kind: str, directory: Path, prefix: str, suffix: str = ""
    ) -> tuple[subprocess.Popen[str], Path]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, kind, str(directory), prefix, suffix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        return process, Path(process.stdout.readline().strip())

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_sweep_removes_what_no_process_holds_and_keeps_a_running_download(
    tmp_path: Path, holder: Any
) -> None:
    cache = tmp_path / "cache"
    partials = cache / "debs" / PARTIAL_DIR
    process, held = holder("file", partials, "")
    held.write_bytes(b"half a download")
    stale = partials / "killed-build-leftover"
    stale.write_bytes(b"nobody holds this")
    assert sweep_downloads(cache) == [stale]
    assert held.exists() and not stale.exists()
    process.kill()  # the build is killed: its lock goes with it
    process.wait()
    assert sweep_downloads(cache) == [held]


def test_a_killed_writers_staging_directory_goes_a_running_ones_stays(
    tmp_path: Path, holder: Any
) -> None:
    output = tmp_path / "out"
    running, kept = holder("dir", tmp_path, ".out.partial-")
    killed, gone = holder("dir", tmp_path, ".out.partial-")
    killed.kill()
    killed.wait()
    with LayoutWriter(output):
        pass
    assert kept.is_dir() and not gone.exists()
    assert Layout(output).read_index() == []
    assert running.stdin is not None
    running.stdin.close()
    running.wait()


def test_a_layer_write_sweeps_a_killed_builds_partial_layer_not_a_running_ones(
    tmp_path: Path, holder: Any
) -> None:
    root = tmp_path / "layers"
    _, held = holder("file", root / ".partial", "")
    stale = root / ".partial" / "killed"
    stale.write_bytes(b"half a layer")

    def make(dest: Path) -> Layer:
        dest.write_bytes(b"layer")
        digest = "sha256:" + sha256_file(dest)[0]
        return Layer(digest, digest, 5, path=dest)

    layer = LayerCache(root).build("key", make)
    assert layer.path is not None and layer.path.read_bytes() == b"layer"
    assert held.exists() and not stale.exists()
    assert LayerCache(root).get("key") == layer


def test_refresh_sweeps_a_killed_refreshs_temporary_file_not_a_running_ones(
    index_settings: Settings, holder: Any
) -> None:
    directory = index_settings.snapshot_dir
    _, held = holder("file", directory, ".0123.", ".tmp")
    stale = directory / ".4567.deadbeef.tmp"
    stale.write_bytes(b"half a snapshot")
    refresh(index_settings, transport=CountingTransport())
    assert held.exists() and not stale.exists()


def test_partial_file_swept_before_its_writer_locks_it_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fcntl.flock
    raced: list[int] = []

    def sweeper_wins_the_race(fd: int, operation: int) -> None:
        if not raced:  # a sweeper removes the new file before its writer could lock it
            raced.append(fd)
            for entry in tmp_path.iterdir():
                entry.unlink()
        real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", sweeper_wins_the_race)
    partial = Partial.file(tmp_path, "p-")
    try:
        assert raced and list(tmp_path.iterdir()) == [partial.path]
        monkeypatch.setattr(fcntl, "flock", real)
        assert sweep_partials(tmp_path, lambda name: True) == []  # held now
    finally:
        partial.remove()
    assert list(tmp_path.iterdir()) == []


# -- cache verify ---------------------------------------------------------------------------------


def test_cache_verify_repairs_the_caches_and_reports(
    tmp_path: Path,
    build_settings: Settings,
    starter: Starter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = build_settings
    assert run(settings, starter, tmp_path / "out").status == "created"
    deb = next((settings.cache_dir / "debs").glob("??/*"))
    flip_byte(deb)
    layer = biggest(settings.cache_dir / "layers" / "blobs")
    flip_byte(layer)
    snapshot = next(p for p in settings.snapshot_dir.iterdir() if len(p.name) == 64)
    flip_byte(snapshot)
    leftover = settings.cache_dir / "layers" / ".partial" / "leftover"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"x")
    config = tmp_path / "couturier.yaml"
    assert main(["--config", str(config), "-q", "cache", "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {d["path"] for d in report["damaged"]} == {str(deb), str(layer), str(snapshot)}
    assert len(report["repaired"]) == 3 and report["unrepaired"] == []
    assert report["partial_files_removed"] == [str(leftover)]
    assert report["checked"] >= 6
    assert not deb.exists() and not layer.exists() and not snapshot.exists()
    # Everything comes back by itself: the next build refetches, rebuilds, refreshes.
    said: list[str] = []
    again = run(settings, starter, tmp_path / "out-2", said)
    assert again.status == "created", again.to_json()
    assert main(["--config", str(config), "cache", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("checked ")
    assert "0 damaged" in out


@pytest.mark.parametrize("tenant", [None, 7])
def test_cache_verify_reports_a_damaged_bundle_as_not_repaired(
    tmp_path: Path,
    build_settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tenant: int | None,
) -> None:
    """In the command line's store and in a tenant's alike."""
    source = tmp_path / "app.conf"
    source.write_text("key = value\n")
    bundle = create_bundle(build_settings, "conf", "files", [source], "/etc/app", tenant=tenant)
    stored = next(f.source for f in bundle.files if f.source is not None)
    flip_byte(stored)
    config = tmp_path / "couturier.yaml"
    assert main(["--config", str(config), "cache", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"damaged: bundle {stored}" in out
    assert "not repaired: create bundle conf again" in out
    assert "1 not repaired" in out


@pytest.fixture
def spec_config(tmp_path: Path, build_settings: Settings) -> Path:
    """The settings of ``build_settings`` with the fixture starter ``tiny`` as a site starter."""
    config = tmp_path / "couturier.yaml"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    body = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**body, "starters_dir": str(tmp_path / "site")}))
    return config


def test_a_damaged_bundle_fails_every_build_alike_whatever_the_layer_cache_holds(
    tmp_path: Path,
    build_settings: Settings,
    spec_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, a spec whose bundle layer was cached still built from it, while the same spec
    plus one package failed; now both fail with the same error, and ``bundle list`` and
    ``cache verify`` say so too."""
    source = tmp_path / "app.conf"
    source.write_text("key = value\n")
    create_bundle(build_settings, "conf", "files", [source], "/etc/app")
    same = tmp_path / "same.yaml"
    same.write_text("name: app\nstarter: tiny\nbundles: [conf]\n")
    more = tmp_path / "more.yaml"
    more.write_text("name: app\nstarter: tiny\npackages: [extra]\nbundles: [conf]\n")
    command = ["--config", str(spec_config), "-q", "build", "--line", "1", "--output"]
    assert main([*command, str(tmp_path / "out"), str(same)]) == 0, capsys.readouterr()
    capsys.readouterr()
    stored = next((store_root(build_settings) / "conf" / "1" / "files").iterdir())
    flip_byte(stored, 0)
    errors = []
    for spec in (same, more):
        assert main([*command, str(tmp_path / "out"), str(spec)]) == 1
        errors.append(capsys.readouterr().err)
    assert errors[0].replace("same.yaml", "more.yaml") == errors[1], errors
    assert "bundle conf@1: file app.conf changed in the store" in errors[0]
    assert "create the bundle again" in errors[0]
    with pytest.raises(IntegrityError, match=r"bundle conf@1: file app\.conf changed"):
        get_bundle(build_settings, "conf")
    assert main(["--config", str(spec_config), "-q", "bundle", "list"]) == 1
    listed = capsys.readouterr()
    assert "conf@1  damaged" in listed.out
    assert "damaged: bundle conf@1: file app.conf changed in the store" in listed.err
    assert main(["--config", str(spec_config), "-q", "cache", "verify"]) == 1
    assert f"damaged: bundle {stored}" in capsys.readouterr().out


def test_old_index_format_is_rebuilt_silently(index_settings: Settings) -> None:
    sha = _current(index_settings)
    idx = index_settings.snapshot_dir / f"{sha}.idx"
    idx.write_bytes(marshal.dumps({"format": 2, "names": {}}))
    said: list[str] = []
    catalog = load_catalog(index_settings, "testing", "amd64", said.append)
    assert catalog.versions("hello") and said == []


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", lambda data: gzip.compress(data, 1)),
        (".xz", lambda data: lzma.compress(data, preset=0)),
    ],
)
def test_index_that_decompresses_past_its_listed_size_is_refused_unread(
    tmp_path: Path,
    index_repo: Path,
    signing_key: SigningKey,
    suffix: str,
    compress: Callable[[bytes], bytes],
) -> None:
    """A signed but hostile Release lists a small plain index and a compressed one that expands
    to 256 MiB (the only compressed variant listed): decompression, as the bytes arrive, stops
    one byte past the listed size."""
    copy = tmp_path / "mirror"
    shutil.copytree(index_repo, copy)
    suite = copy / "dists" / "testing"
    bomb = compress(bytes(256 << 20))
    (suite / "main" / "binary-amd64" / f"Packages{suffix}").write_bytes(bomb)
    release = (suite / "Release").read_text().splitlines()
    name = f"main/binary-amd64/Packages{suffix}"
    entry = f" {hashlib.sha256(bomb).hexdigest()} {len(bomb):8d} {name}"
    release = [
        entry if line.endswith(f" {name}") else line
        for line in release
        if not line.endswith((" main/binary-amd64/Packages.gz", " main/binary-amd64/Packages.xz"))
        or line.endswith(f" {name}")
    ]
    (suite / "Release").write_text("\n".join(release) + "\n")
    sign_release(suite, signing_key)
    settings = make_settings(tmp_path, copy, signing_key.keyring)
    tracemalloc.start()
    try:
        pattern = rf"Packages\{suffix} \(decompressed\) has \d+ bytes"
        with pytest.raises(IntegrityError, match=pattern):
            refresh(settings, ["testing"], ["amd64"], HttpTransport(retries=0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
