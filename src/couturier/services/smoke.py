"""Smoke tests: every created line is started once with its starter's smoke command before its
tags move.

After a build made a line's images and before the image sink's commit publishes them, the
build (:mod:`couturier.services.build`) hands each line to the context's :class:`SmokeTester`.
:class:`RuntimeSmoke` writes the line's image for the host's architecture into an OCI image
layout in a temporary directory (the same documents the sink gets, so the same digest) and runs
the line's smoke command (:attr:`couturier.core.starter.ImageLine.smoke`) in it once with the
container runtime (:class:`couturier.oci.runtime.Podman`): as the image's user, with no
network, no host mount and the settings' ``smoke_timeout``. No registry is involved, so a line
that fails was never published: it keeps its previous tags.

A line is ``untested`` when the settings name no runtime (``container_runtime: none``), when
its starter declares no smoke command, for each architecture this machine cannot run (no
emulation is configured: only the host's architecture is run), and when the runtime itself
cannot load the image (podman missing or broken: a fault of the machine, said in the reason,
that must not hold back every line's updates).
"""

from __future__ import annotations

import hashlib
import logging
import platform
import re
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from couturier.errors import Code, Problem
from couturier.oci.documents import Descriptor
from couturier.oci.layout import LayoutSink
from couturier.oci.runtime import ContainerRuntime, Podman, RunOutcome, RuntimeUnusable
from couturier.oci.sink import ImageWriter
from couturier.settings import Settings

__all__ = [
    "FAILED",
    "PASSED",
    "UNTESTED",
    "RuntimeSmoke",
    "SmokeResult",
    "SmokeTester",
    "StageImage",
    "host_architecture",
    "smoke_tester",
    "untested",
]

log = logging.getLogger("couturier.smoke")

PASSED, FAILED, UNTESTED = "passed", "failed", "untested"
# Debian's names of the machines ``platform.machine()`` reports.
_DEBIAN_ARCH = MappingProxyType(
    {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "armhf",
        "ppc64le": "ppc64el",
        "s390x": "s390x",
        "riscv64": "riscv64",
        "i686": "i386",
    }
)
_REF = "smoke"
# A path whose parts are all repository name components of the distribution spec.
_NAMEABLE = re.compile(r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+")

# Stage one architecture's image of a line into a writer; its manifest's descriptor.
StageImage = Callable[[ImageWriter, str], Descriptor]


@dataclass(frozen=True)
class SmokeResult:
    """The smoke test of one line: ``status`` is passed, failed or untested; ``architectures``
    each architecture's own status; ``reason`` says in words why it failed or was not tested
    (empty when it passed); ``seconds`` the run's wall-clock time (loading the image included;
    0 when nothing ran). A failure also has the ``command``, its ``exit_status`` (None after
    the time limit), ``timed_out`` and the last 4 KiB of its ``output``."""

    status: str
    architectures: Mapping[str, str]
    reason: str = ""
    seconds: float = 0.0
    command: tuple[str, ...] = ()
    exit_status: int | None = None
    timed_out: bool = False
    output: str = ""
    architecture: str = ""

    def to_json(self) -> dict[str, Any]:
        """The line's ``smoke`` field of the API: ``{status, architectures, reason, seconds}``."""
        return {
            "status": self.status,
            "architectures": dict(self.architectures),
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
        }

    def problem(self, trace_id: str) -> Problem:
        """A failed test as the line's error (code ``line-does-not-start``)."""
        return Problem(
            Code.LINE_DOES_NOT_START,
            f"built but does not start: {self.reason}",
            {
                "command": list(self.command),
                "exit_status": self.exit_status,
                "timed_out": self.timed_out,
                "output": self.output,
                "architecture": self.architecture,
                "trace_id": trace_id,
            },
        )


def untested(reason: str, architectures: Sequence[str]) -> SmokeResult:
    """A line not tested at all, for ``reason``."""
    return SmokeResult(UNTESTED, {arch: UNTESTED for arch in architectures}, reason)


class SmokeTester(Protocol):
    """Runs one line's smoke test (the port a :class:`BuildContext` holds)."""

    def __call__(
        self, command: Sequence[str], stage: StageImage, architectures: Sequence[str]
    ) -> SmokeResult:
        """Test the line whose images ``stage`` writes (one call per architecture asked)
        with ``command``; ``architectures`` are the ones the line was built for."""
        ...


def host_architecture() -> str:
    """The Debian architecture of this machine (``amd64``); its kernel's name if unknown."""
    machine = platform.machine()
    return _DEBIAN_ARCH.get(machine.lower(), machine.lower())


@dataclass(frozen=True)
class RuntimeSmoke:
    """Smoke tests run with ``runtime`` on a ``host`` machine, each for at most ``timeout``
    seconds, the temporary layouts made under ``scratch`` (on the disk of the layer cache, so
    copying layers there is cheap)."""

    runtime: ContainerRuntime
    host: str
    timeout: float
    scratch: Path

    def __call__(
        self, command: Sequence[str], stage: StageImage, architectures: Sequence[str]
    ) -> SmokeResult:
        statuses = {arch: UNTESTED for arch in architectures}
        if self.host not in statuses:
            return untested(
                f"no {'/'.join(architectures)} machine or emulation here", architectures
            )
        tmp = _scratch(self.scratch) / f"couturier-smoke-{uuid.uuid4().hex}"
        try:
            layout = tmp / "layout"
            try:
                tmp.mkdir(mode=0o700)
                writer = LayoutSink(layout).writer(lambda message: None)
                try:
                    writer.tag(_REF, stage(writer, self.host))
                    writer.commit()
                finally:
                    writer.abort()
            except OSError as error:  # a full disk: the machine's fault, not the image's
                log.warning("smoke test not run: writing %s: %s", tmp, error)
                reason = f"its image could not be written for the test: {error.strerror}"
                return untested(reason, architectures)
            try:
                outcome = self.runtime.run_once(layout, _REF, command, self.timeout)
            except RuntimeUnusable as unusable:
                log.warning("smoke test not run: %s", unusable.reason)
                reason = f"the container runtime failed: {unusable.reason}"
                return untested(reason, architectures)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        statuses[self.host] = PASSED if outcome.passed else FAILED
        others = [arch for arch in architectures if arch != self.host]
        return SmokeResult(
            PASSED if outcome.passed else FAILED,
            statuses,
            _reason(outcome, command, self.timeout, others),
            outcome.seconds,
            tuple(command),
            outcome.exit_status,
            outcome.timed_out,
            outcome.output,
            self.host,
        )


def _scratch(preferred: Path) -> Path:
    """Where a temporary layout goes: ``preferred`` (on the layer cache's disk) when its path
    can name an image, else ``/var/tmp`` (on disk, unlike a tmpfs ``/tmp``), else the system's
    temporary directory. Podman names an image loaded from a layout after the layout's path,
    and refuses one with a part that is not a repository name component (``~/.cache``)."""
    for directory in (preferred, Path("/var/tmp"), Path(tempfile.gettempdir())):
        if _NAMEABLE.fullmatch(str(directory)):
            directory.mkdir(parents=True, exist_ok=True)
            return directory
    return Path(tempfile.gettempdir())


def _reason(outcome: RunOutcome, command: Sequence[str], timeout: float, others: list[str]) -> str:
    """Why the test failed (or, for a pass, which architectures it did not cover)."""
    shown = shlex.join(command)
    if outcome.timed_out:
        return f"{shown} did not finish within its time limit of {timeout:.0f} s"
    if outcome.exit_status != 0:
        last = [line for line in outcome.output.strip().splitlines() if line.strip()]
        tail = f": {last[-1].strip()[:200]}" if last else ""
        return f"{shown} exited with status {outcome.exit_status}{tail}"
    return f"{'/'.join(others)} untested: no emulation here" if others else ""


def smoke_tester(settings: Settings) -> SmokeTester | None:
    """The smoke tester ``settings`` choose: None for ``container_runtime: none``, else podman
    with its own storage under the cache directory (``containers``) and a short run directory
    in the system's temporary directory (podman's sockets need a short path)."""
    if settings.container_runtime != "podman":
        return None
    root = settings.cache_dir / "containers"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    runroot = Path(tempfile.gettempdir()) / f"couturier-{digest}"
    return RuntimeSmoke(
        runtime=Podman(root=root, runroot=runroot),
        host=host_architecture(),
        timeout=float(settings.smoke_timeout),
        scratch=settings.cache_dir / "smoke",
    )
