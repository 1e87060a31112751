"""Site-local starters: ``starters_dir`` adds starters and may replace the shipped ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from couturier.errors import ConfigError, NotFoundError
from couturier.services.starters import get_starter, starters
from couturier.settings import Settings, load_settings

SITE_PYTHON = {
    "name": "python",
    "description": "Our own Python",
    "packages": ["base-files"],
    "lines": [
        {"version": "3.13", "release": "trixie", "primary": "python3.13", "eol": "2030-06-30"}
    ],
}


def settings_with(tmp_path: Path, files: dict[str, object]) -> Settings:
    directory = tmp_path / "site-starters"
    directory.mkdir()
    for name, body in files.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(body))
    config = tmp_path / "couturier.yaml"
    config.write_text(yaml.safe_dump({"starters_dir": "site-starters"}))
    return load_settings(config, env={})


def test_site_starters_join_and_replace_the_shipped_ones(tmp_path: Path) -> None:
    tiny = {**SITE_PYTHON, "name": "tiny", "description": "A site starter"}
    settings = settings_with(tmp_path, {"python": SITE_PYTHON, "tiny": tiny})
    known = starters(settings)
    assert {"base", "php", "python", "tiny"} <= set(known)
    assert known["python"].description == "Our own Python"
    assert get_starter(settings, "tiny").description == "A site starter"
    with pytest.raises(NotFoundError, match="tiny"):
        get_starter(settings, "nope")


def test_a_malformed_site_starter_names_its_file(tmp_path: Path) -> None:
    broken = {**SITE_PYTHON, "name": "broken", "lines": [{"version": "1", "release": "sid"}]}
    settings = settings_with(tmp_path, {"broken": broken})
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        starters(settings)


def test_the_environment_points_at_a_starters_dir(tmp_path: Path) -> None:
    settings = load_settings(None, env={"COUTURIER_STARTERS_DIR": str(tmp_path)})
    assert settings.starters_dir == tmp_path
    assert "python" in starters(settings)  # an empty directory adds nothing


def test_a_spec_may_name_a_site_starter(tmp_path: Path) -> None:
    """The spec checks take the deployment's starters: a site starter is one, everywhere."""
    from couturier.core.spec import SpecError
    from couturier.services.specs import load_spec
    from couturier.services.starters import shipped_starters

    tiny = {**SITE_PYTHON, "name": "tiny", "description": "A site starter"}
    settings = settings_with(tmp_path, {"tiny": tiny})
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: my-tiny\nstarter: tiny\n")
    assert load_spec(spec, starters(settings)).starter == "tiny"
    with pytest.raises(SpecError, match="is not a starter"):
        load_spec(spec, shipped_starters())
