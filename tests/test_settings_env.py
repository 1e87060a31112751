"""Settings read the environment they are handed, never the process's own: a server that
makes settings for a job from a mapping gets exactly that mapping's directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.errors import ConfigError
from couturier.settings import load_settings


@pytest.fixture(autouse=True)
def process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's own variables point elsewhere: none of them may be read."""
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.setenv(name, str(tmp_path / "process" / name))
    for name in ("COUTURIER_DATA_DIR", "COUTURIER_CACHE_DIR", "COUTURIER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_the_xdg_directories_come_from_the_mapping(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    settings = load_settings(env=env)
    assert settings.data_dir == tmp_path / "data" / "couturier"
    assert settings.cache_dir == tmp_path / "cache" / "couturier"


def test_without_xdg_variables_the_mapping_home_is_used(tmp_path: Path) -> None:
    settings = load_settings(env={"HOME": str(tmp_path / "home")})
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "couturier"
    assert settings.cache_dir == tmp_path / "home" / ".cache" / "couturier"


def test_an_empty_mapping_reads_no_variable_of_the_process(tmp_path: Path) -> None:
    """Nothing in the mapping: the user's home from the password database, not $HOME."""
    settings = load_settings(env={})
    process = tmp_path / "process"
    assert not settings.data_dir.is_relative_to(process)
    assert not settings.cache_dir.is_relative_to(process)
    assert settings.cache_dir.parts[-2:] == (".cache", "couturier")


def test_the_couturier_variables_of_the_mapping_win(tmp_path: Path) -> None:
    env = {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    settings = load_settings(env=env)
    assert (settings.data_dir, settings.cache_dir) == (tmp_path / "data", tmp_path / "cache")


def test_public_url_comes_from_the_file_or_the_variable(tmp_path: Path) -> None:
    """The registry's token realm behind a proxy: ``public_url`` in the file, overridden by
    ``COUTURIER_PUBLIC_URL``; anything but an http(s) URL is one line naming the key."""
    config = tmp_path / "couturier.yaml"
    config.write_text("public_url: https://couturier.example.org/\n")
    env = {"HOME": str(tmp_path)}
    assert load_settings(config, env=env).public_url == "https://couturier.example.org"
    env["COUTURIER_PUBLIC_URL"] = "https://proxy.example.org:8443"
    assert load_settings(config, env=env).public_url == "https://proxy.example.org:8443"
    assert load_settings(env={"HOME": str(tmp_path)}).public_url is None
    with pytest.raises(ConfigError, match="public_url must be"):
        load_settings(env={"HOME": str(tmp_path), "COUTURIER_PUBLIC_URL": "ftp://x"})
