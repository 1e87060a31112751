"""apt-get as a test oracle: an empty root whose only state is the sources we give it.

``AptRoot`` runs the host's ``apt-get`` with ``Dir=`` pointed at a private directory, an empty dpkg
status, one architecture and Recommends off, so ``apt-get install -s`` answers "what would an empty
system need for these packages" from the same mirror Couturier reads. The host's apt configuration
is still read first, so every setting that matters is forced on the command line.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from couturier.settings import Release

_INST = re.compile(r"^Inst (\S+) \((\S+) ")


# Ten everyday packages asked for at once: an oracle request and the resolver benchmark's.
TEN_PACKAGES = (
    "python3",
    "curl",
    "git",
    "openssl",
    "ca-certificates",
    "tzdata",
    "less",
    "procps",
    "gawk",
    "perl",
)


def source_lines(release: Release) -> list[str]:
    """``deb`` lines for exactly the suites Couturier reads for ``release``, same keys."""
    return [
        f"deb [signed-by={suite.mirror.keyring}] {suite.mirror.url} {suite.name} "
        + " ".join(suite.components)
        for suite in release.suites
    ]


@dataclass(frozen=True)
class AptResult:
    """What ``apt-get install -s`` decided: the packages it would unpack, or its errors."""

    ok: bool
    packages: frozenset[tuple[str, str]]
    output: str


class AptRoot:
    """A private apt state directory for one architecture and a list of ``deb`` source lines."""

    def __init__(self, root: Path, architecture: str, source_lines: list[str]) -> None:
        self.root = root
        self.architecture = architecture
        for sub in (
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "var/lib/dpkg/status").touch()
        (root / "etc/apt/sources.list").write_text("\n".join(source_lines) + "\n")

    @property
    def options(self) -> list[str]:
        root = str(self.root)
        settings = {
            "Dir": root,
            "Dir::State::status": f"{root}/var/lib/dpkg/status",
            "Dir::Etc::SourceList": f"{root}/etc/apt/sources.list",
            "Dir::Etc::SourceParts": f"{root}/etc/apt/sources.list.d",
            "Dir::Etc::Preferences": f"{root}/etc/apt/preferences",
            "Dir::Etc::PreferencesParts": f"{root}/etc/apt/preferences.d",
            # Debian's container images disable the binary cache; the oracle wants it warm.
            "Dir::Cache::pkgcache": "pkgcache.bin",
            "Dir::Cache::srcpkgcache": "srcpkgcache.bin",
            "APT::Architecture": self.architecture,
            "APT::Architectures": self.architecture,
            "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "1",
            "APT::Get::List-Cleanup": "false",
        }
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]

    def update(self) -> None:
        """Download the indexes (apt itself skips what has not changed)."""
        subprocess.run(["apt-get", *self.options, "update", "-qq"], check=True, capture_output=True)

    def install(self, requests: list[str]) -> AptResult:
        """Simulate installing ``requests`` into the empty root."""
        done = subprocess.run(
            ["apt-get", *self.options, "install", "-s", "-q", *requests],
            capture_output=True,
            text=True,
            check=False,
        )
        packages = frozenset(
            (m[1].split(":")[0], m[2])
            for m in (_INST.match(line) for line in done.stdout.splitlines())
            if m
        )
        return AptResult(done.returncode == 0, packages, done.stdout + done.stderr)
