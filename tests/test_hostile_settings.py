"""Settings of the wrong shape and bad local state: one line naming the key, the shape
expected and the shape found; never a traceback, never "unknown architecture 'a'"."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.cli.main import main
from couturier.errors import ConfigError
from couturier.settings import Settings, load_settings


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "couturier.yaml"
    path.write_text(text)
    return path


BAD = {
    "mirrors-list": ("mirrors: [1, 2]", "mirrors must be a mapping of name → mirror, got a list"),
    "data-dir-list": ("data_dir: [1]", "data_dir must be a directory path, got a list"),
    "suite-missing": (
        "releases:\n  noble:\n    suites:\n      - {mirror: debian}\n",
        "releases.noble.suites[0].suite is required",
    ),
    "architectures-mapping": (
        "architectures: {amd64: yes}",
        "architectures must be a list of architecture names, got a mapping",
    ),
    "architecture-unknown": (
        "architectures: [amd64, sparc]",
        "architectures: 'sparc' is not an architecture Debian builds",
    ),
    "architecture-number": (
        "architectures: [[1]]",
        "architectures[0] must be an architecture name, got a list",
    ),
    "mirror-not-mapping": ("mirrors:\n  u: http://x\n", "mirrors.u must be a mapping with url"),
    "mirror-without-url": (
        "mirrors:\n  u: {keyring: builtin:debian}\n",
        "mirrors.u.url is required",
    ),
    "mirror-valid-until": (
        "mirrors:\n  u: {url: 'http://x', valid_until: never}\n",
        "mirrors.u.valid_until must be one of enforce, warn, ignore, got the text 'never'",
    ),
    "arch-urls-list": (
        "mirrors:\n  u: {url: 'http://x', arch_urls: [a]}\n",
        "mirrors.u.arch_urls must be a mapping of architecture → URL, got a list",
    ),
    "unknown-key": ("colour: red", "colour is not a setting (known: data_dir"),
    "unknown-mirror-key": (
        "mirrors:\n  u: {url: 'http://x', urls: []}\n",
        "mirrors.u.urls is not a setting in mirrors.u (known: url, keyring",
    ),
    "release-not-mapping": ("releases: [bookworm]", "releases must be a mapping of release name"),
    "release-without-suites": (
        "releases:\n  x: {components: [main]}\n",
        "releases.x.suites is required",
    ),
    "release-empty-suites": (
        "releases:\n  12: {suites: []}\n",
        "releases.12.suites must not be empty",
    ),
    "release-unknown-mirror": (
        "releases: {x: {suites: [{mirror: nope, suite: s}]}}",
        "releases.x.suites[0] names unknown mirror 'nope'",
    ),
    "suite-list": ("releases: {x: {suites: [[1]]}}", "releases.x.suites[0] must be a mapping"),
    "bool-path": ("cache_dir: true", "cache_dir must be a directory path, got true (a boolean)"),
    "not-a-mapping": ("- a\n- b\n", "must hold a mapping of settings, got a list"),
    "alias": ("a: &x [1]\ndata_dir: *x\n", "line 2 uses the YAML alias *x"),
    "twice": ("data_dir: /a\ndata_dir: /b\n", "data_dir is written more than once (line 2)"),
    "keyring-missing": (
        "mirrors:\n  u: {url: 'http://x', keyring: nowhere.gpg}\n",
        "keyring",
    ),
    "not-yaml": ("data_dir: [", "is not valid YAML"),
    "component-list": (
        "releases: {x: {components: [[1]], suites: [{mirror: debian, suite: s}]}}",
        "releases.x.components[0] must be a component name, got a list",
    ),
    "too-many-values": ("architectures: [" + "a," * 20_000 + "]", "holds more than 10,000 values"),
    "url-newline": (
        'mirrors:\n  u: {url: "http://x\\n"}\n',
        "mirrors.u.url must not hold control characters",
    ),
    "name-tab": (
        'releases:\n  "a\\tb": {suites: [{mirror: debian, suite: s}]}\n',
        "releases: the name the text 'a\\tb' must not hold control characters",
    ),
    "name-null": ("mirrors:\n  null: {url: x}\n", "mirrors: the name nothing must be text"),
    "path-nul": ('data_dir: "a\\0b"\n', "data_dir must not hold control characters"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_wrong_settings_are_one_line_naming_the_key(case: str, tmp_path: Path) -> None:
    text, expected = BAD[case]
    path = settings_file(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path, env={})
    message = str(error.value)
    assert expected in message, message
    assert message.startswith(f"settings file {path}")
    assert "\n" not in message
    assert "unknown architecture 'a'" not in message


def test_one_architecture_as_text_is_a_list_of_one(tmp_path: Path) -> None:
    settings = load_settings(settings_file(tmp_path, "architectures: amd64\n"), env={})
    assert settings.architectures == ("amd64",)


def test_one_component_as_text_is_a_list_of_one(tmp_path: Path) -> None:
    text = "releases: {x: {components: main, suites: [{mirror: debian, suite: s}]}}"
    settings = load_settings(settings_file(tmp_path, text), env={})
    assert settings.release("x").suites[0].components == ("main",)


def test_numbers_used_as_names_are_text(tmp_path: Path) -> None:
    text = "releases:\n  12:\n    suites:\n      - {mirror: debian, suite: 12}\n"
    settings = load_settings(settings_file(tmp_path, text), env={})
    assert settings.release("12").suites[0].name == "12"


def test_huge_and_special_settings_files(tmp_path: Path) -> None:
    big = settings_file(tmp_path, "# " + "x" * (1 << 20))
    with pytest.raises(ConfigError, match="has more than 1,048,576 bytes"):
        load_settings(big, env={})
    with pytest.raises(ConfigError, match="Is a directory"):
        load_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(tmp_path / "absent.yaml", env={})


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("x")
    with pytest.raises(ConfigError, match=f"data_dir {file} is not a directory"):
        load_settings(None, env={"COUTURIER_DATA_DIR": str(file)})
    with pytest.raises(ConfigError, match=r"cache_dir .* is not a directory"):
        load_settings(settings_file(tmp_path, f"cache_dir: {file}\n"), env={})


def test_the_public_values_are_kept(tmp_path: Path) -> None:
    keyring = tmp_path / "k.gpg"
    keyring.write_bytes(b"x")
    text = (
        "architectures: [arm64]\n"
        "mirrors:\n  u: {url: 'http://u', keyring: k.gpg, arch_urls: {arm64: 'http://p'},"
        " valid_until: enforce}\n"
        "releases:\n  noble:\n    components: [main, universe]\n    suites:\n"
        "      - {mirror: u, suite: noble}\n      - {mirror: u, suite: noble-x, components: [a]}\n"
        "starters_dir: starters\n"
    )
    settings = load_settings(settings_file(tmp_path, text), env={})
    assert isinstance(settings, Settings)
    [first, second] = settings.release("noble").suites
    assert (first.mirror.name, first.mirror.url, first.mirror.keyring) == ("u", "http://u", keyring)
    assert first.mirror.url_for("arm64") == "http://p" and first.mirror.valid_until == "enforce"
    assert first.components == ("main", "universe") and second.components == ("a",)
    assert settings.starters_dir == tmp_path / "starters"


@pytest.mark.parametrize("text", ["mirrors: [1, 2]", "architectures: amd65", "data_dir: [1]"])
def test_cli_prints_one_line(
    text: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    path = settings_file(tmp_path, text)
    assert main(["--config", str(path), "-q", "bundle", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("couturier: error: settings file") and err.count("\n") == 1, err


def test_cli_data_directory_that_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    (tmp_path / "data").write_text("x")
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    assert main(["-q", "bundle", "list"]) == 1
    err = capsys.readouterr().err
    assert "is not a directory" in err and err.count("\n") == 1, err
