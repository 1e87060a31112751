"""Running an image once in a container, straight from an OCI image layout (no registry).

:class:`Podman` is the container runtime the smoke tests use
(:mod:`couturier.services.smoke`): it loads the image from a layout directory
(``podman pull oci:DIR:REF``), starts one container from it with the given command as its
entrypoint, and removes the container and the loaded image afterwards. The container runs as
the image's own user (the config's ``User``: podman's default, nothing overrides it), with no
network (``--network=none``), no host mount, no published port, and a time limit (podman's
``--timeout``, which kills the container; a wait of the same length plus a grace period is the
backstop when podman itself hangs).

Podman keeps what it loads under ``root`` (its graph root) and ``runroot``, not in the user's
own storage. Its ``containers.conf`` comes from the environment (``CONTAINERS_CONF``), read by
podman itself: the machine's operator chooses the OCI runtime (e.g. ``runc``) and ulimits.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["OUTPUT_LIMIT", "ContainerRuntime", "Podman", "RunOutcome", "RuntimeUnusable"]

# The most of a command's output (stdout and stderr together) kept: its last 4 KiB, where
# an error usually is.
OUTPUT_LIMIT = 4096
# How long podman gets beyond the container's time limit to kill it and clean up.
_GRACE = 30.0
# How long loading an image from a layout may take (copying a few hundred MiB of layers).
_LOAD_TIMEOUT = 600.0


class RuntimeUnusable(Exception):  # noqa: N818 - a reason, turned into a line's "untested"
    """The runtime could not load the image or create its container (podman missing, its
    storage broken): nothing about the image is known. ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RunOutcome:
    """How one run ended: ``exit_status`` (None when the time limit killed it), whether it
    ``timed_out``, its ``output`` (stdout and stderr interleaved, the last
    :data:`OUTPUT_LIMIT` bytes, decoded leniently) and its wall-clock ``seconds``."""

    exit_status: int | None
    timed_out: bool
    output: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.exit_status == 0 and not self.timed_out


class ContainerRuntime(Protocol):
    """Runs an image once (a port, so a build's context can hold one or none)."""

    def run_once(
        self, layout: Path, ref: str, command: Sequence[str], timeout: float
    ) -> RunOutcome:
        """Run ``command`` in the image tagged ``ref`` in the OCI layout ``layout`` for at most
        ``timeout`` seconds. Raises :class:`RuntimeUnusable` when the image cannot be loaded or
        its container created."""
        ...


@dataclass(frozen=True)
class Podman:
    """Podman with its own storage: ``root`` (graph root) and ``runroot`` (keep it short:
    podman puts sockets there). ``env`` is podman's environment (None: this process's)."""

    root: Path
    runroot: Path
    program: str = "podman"
    env: Mapping[str, str] | None = None

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [self.program, "--root", str(self.root), "--runroot", str(self.runroot), *args]

    def _podman(self, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self._argv(args),
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=None if self.env is None else dict(self.env),
                check=False,
            )
        except FileNotFoundError:
            raise RuntimeUnusable(f"{self.program} is not installed") from None
        except subprocess.TimeoutExpired:
            raise RuntimeUnusable(f"podman {args[0]} did not finish in {timeout:.0f} s") from None

    def run_once(
        self, layout: Path, ref: str, command: Sequence[str], timeout: float
    ) -> RunOutcome:
        """See :meth:`ContainerRuntime.run_once`. Cost: loading the image copies its layers
        into podman's storage once; both the container and the image are removed after."""
        loaded = self._podman(["pull", "--quiet", f"oci:{layout}:{ref}"], _LOAD_TIMEOUT)
        image = loaded.stdout.strip().splitlines()[-1] if loaded.stdout.strip() else ""
        if loaded.returncode != 0 or not image:
            raise RuntimeUnusable(f"podman cannot load the image: {_last_line(loaded.stderr)}")
        try:
            return self._run(image, command, timeout)
        finally:
            # Without -f: an image another run still uses (same digest, another build) stays.
            self._podman(["rmi", image], _GRACE)

    def _run(self, image: str, command: Sequence[str], timeout: float) -> RunOutcome:
        name = f"couturier-smoke-{uuid.uuid4().hex[:16]}"
        argv = self._argv(
            [
                "run",
                "--rm",
                "--name",
                name,
                "--pull=never",
                "--network=none",
                "--timeout",
                str(max(1, int(timeout))),
                # The whole command replaces the entrypoint; an empty CMD keeps the image's own
                # arguments from being appended to it.
                "--entrypoint",
                json.dumps(list(command)),
                image,
            ]
        )
        with tempfile.TemporaryFile() as output:
            started = time.monotonic()
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=None if self.env is None else dict(self.env),
                )
            except FileNotFoundError:
                raise RuntimeUnusable(f"{self.program} is not installed") from None
            try:
                status: int | None = process.wait(timeout + _GRACE)
            except subprocess.TimeoutExpired:
                self._podman(["rm", "--force", "--time", "0", name], _GRACE)
                process.kill()
                process.wait()
                status = None
            seconds = time.monotonic() - started
            output.seek(max(0, output.seek(0, 2) - OUTPUT_LIMIT))
            text = output.read().decode("utf-8", "replace")
        if status == 125 and _podman_refused(text):
            raise RuntimeUnusable(f"podman cannot run the image: {_last_line(text)}")
        # podman's --timeout kills the container: it ends with SIGKILL's status (137).
        timed_out = status is None or (status != 0 and seconds >= timeout)
        return RunOutcome(None if timed_out else status, timed_out, text, seconds)


def _podman_refused(output: str) -> bool:
    """Whether exit status 125 is podman's own error (it could not create the container)
    rather than the command's: podman then says ``Error: ...``."""
    return any(line.startswith("Error:") for line in output.splitlines()) and (
        "executable file" not in output and "no such file" not in output.lower()
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
