"""The layer contract of DESIGN.md ("Architecture"), as ``lint-imports`` checks it in ./run-tests.

The contracts live in ``pyproject.toml``. These tests run the real checker on a copy of the
package: unchanged it keeps every contract; with one import that breaks a rule (the pure core
reaching an adapter, an adapter reaching the services above it, the core reading the
environment) it fails and names the import, so a contract that checks nothing cannot pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _copy_of_the_package(directory: Path) -> Path:
    """``src/couturier`` and ``pyproject.toml`` copied under ``directory``; returns it."""
    shutil.copytree(
        ROOT / "src" / "couturier",
        directory / "src" / "couturier",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", directory / "pyproject.toml")
    return directory


def _lint_imports(directory: Path) -> subprocess.CompletedProcess[str]:
    linter = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(directory / "src")}
    return subprocess.run(
        [str(linter), "--no-cache", "--no-logo"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_package_keeps_every_layer_contract(tmp_path: Path) -> None:
    done = _lint_imports(_copy_of_the_package(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout
    assert "KEPT" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        ("core/version.py", "import couturier.assembly.fetch", "couturier.assembly"),
        ("core/planner.py", "from couturier.settings import Settings", "couturier.settings"),
        ("core/tags.py", "import os", "os"),
        ("debian/packages.py", "import couturier.services.build", "couturier.services"),
        ("oci/layer.py", "import couturier.debian.transport", "couturier.debian"),
        ("services/plan.py", "import couturier.cli.output", "couturier.cli"),
    ],
)
def test_an_import_against_the_layers_is_caught(
    tmp_path: Path, module: str, line: str, named: str
) -> None:
    copy = _copy_of_the_package(tmp_path)
    path = copy / "src" / "couturier" / module
    text = path.read_text()
    # After the module docstring and `from __future__`, so the file still imports.
    head, future, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + future + f"{line}  # noqa\n" + rest)
    done = _lint_imports(copy)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
    dotted = "couturier." + module.removesuffix(".py").replace("/", ".")
    assert f"{dotted} -> {named}" in done.stdout, done.stdout
