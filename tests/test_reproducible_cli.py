"""``couturier build`` with ``SOURCE_DATE_EPOCH``: the whole layout is reproducible.

In reproducible mode the timestamp tags come from ``SOURCE_DATE_EPOCH`` too, not from the clock,
so two builds of the same inputs on two machines give byte-identical layouts, ``index.json``
(which holds the tags) included. Runs the real CLI on the signed fixture repository of
``tests/test_build.py``, with its starter as a site starter.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from couturier.cli.main import main
from couturier.oci.layout import Layout
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey
from tests.test_build import RELEASES, STARTER_DOC, repo, tree_snapshot

__all__ = ["repo"]  # the fixture repository, shared with tests/test_build.py

EPOCH = 1_700_000_000


def _machine(directory: Path, repo: Path, key: SigningKey) -> str:
    """A fresh machine's settings file (own indexes and caches) with the fixture starter."""
    directory.mkdir(parents=True)
    make_settings(directory, repo, key.keyring, RELEASES, architectures=("amd64",))
    starters = directory / "starters"
    starters.mkdir()
    (starters / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    config = directory / "couturier.yaml"
    body = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**body, "starters_dir": str(starters)}))
    return str(config)


def test_source_date_epoch_makes_the_whole_layout_reproducible(
    tmp_path: Path,
    repo: Path,
    signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    outputs = []
    for name in ("a", "b"):
        config = _machine(tmp_path / name, repo, signing_key)
        output = tmp_path / f"out-{name}"
        argv = ["--config", config, "build", "--starter", "tiny", "--output", str(output)]
        assert main([*argv, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["status"] == "created", result
        outputs.append(output)
    assert tree_snapshot(outputs[0]) == tree_snapshot(outputs[1])
    # Each line's immutable tag is its full version and the epoch's UTC time, not the clock's.
    stamp = dt.datetime.fromtimestamp(EPOCH, dt.UTC).strftime("%Y%m%d%H%M%S")
    for line in result["lines"]:
        assert f"{line['full_version']}-{stamp}" in line["tags"], line
        assert f"{line['full_version']}-{stamp}" in Layout(outputs[0]).tags()


@pytest.mark.parametrize(
    "value", ["abc", "-5", "1e9", "99999999999999", "\uff11\uff12\uff13", "9" * 5000]
)
def test_a_bad_source_date_epoch_is_one_clear_error(
    tmp_path: Path,
    *,
    repo: Path,
    signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    config = _machine(tmp_path / "m", repo, signing_key)
    output = tmp_path / "out"
    status = main(["--config", config, "build", "--starter", "tiny", "--output", str(output)])
    err = capsys.readouterr().err
    assert status == 1
    assert "SOURCE_DATE_EPOCH must be a whole number of seconds since 1970" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not output.exists()
