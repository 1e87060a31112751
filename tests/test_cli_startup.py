"""Start-up cost of the command line (issue 9): what each command imports, not how long it takes.

``couturier --help`` parses with :mod:`couturier.cli.parser` alone; a command imports its own
handler module and the services it uses when it runs, and settings without a file never build
pydantic's models. Each check runs in a fresh interpreter, so modules other tests imported do
not hide an import. Timings are in ``bench/startup.py``; timing assertions here would be flaky.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from couturier.cli.parser import BUNDLE_KINDS
from couturier.core.bundle import KINDS

# Heavy modules no command that does not build needs: pydantic (settings files), the YAML
# reader, rich (tables), the build engine and its OCI, SBOM and bundle code.
BUILD_ONLY = (
    "couturier.assembly",
    "couturier.oci",
    "couturier.services.build",
    "couturier.services.bundles",
    "couturier.core.sbom",
)


def _modules_after(code: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(prefixes))


def test_help_imports_no_command_and_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "from couturier.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    modules = _modules_after(code, tmp_path)
    assert _loaded(modules, ("pydantic", "yaml", "rich", "couturier.services", *BUILD_ONLY)) == []


def test_settings_without_a_file_do_not_import_pydantic_or_yaml(tmp_path: Path) -> None:
    code = (
        "from couturier.settings import load_settings\n"
        "settings = load_settings(None, {'COUTURIER_DATA_DIR': '/tmp/d'})\n"
        "assert settings.architectures == ('amd64', 'arm64')"
    )
    assert _loaded(_modules_after(code, tmp_path), ("pydantic", "yaml")) == []


def test_packages_resolve_does_not_import_the_build_engine(tmp_path: Path) -> None:
    # Its handler module, as main imports it when `packages resolve` runs (no catalog here).
    modules = _modules_after("import couturier.cli.packages", tmp_path)
    assert "couturier.services.catalog" in modules
    assert _loaded(modules, ("pydantic", *BUILD_ONLY)) == []


def test_every_command_has_a_handler_that_imports(tmp_path: Path) -> None:
    from couturier.cli import main as cli_main

    for group, command in cli_main._COMMANDS:
        assert callable(cli_main._handler(group, command)), (group, command)


def test_the_parser_offers_the_bundle_kinds_of_the_bundle_code() -> None:
    assert BUNDLE_KINDS == KINDS
