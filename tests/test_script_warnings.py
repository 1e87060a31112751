"""Plan and build warn, per line, about what an added package's maintainer scripts would do
that Couturier does not replay (``services/maintscripts.added_warnings``).

The fixture repository is test_build's tiny starter plus four packages with real maintainer
scripts built by ``dpkg-deb``: ``foo-daemon`` (its postinst adds the system user ``foo`` and
enables a service), ``libbar`` (activates the ``ldconfig`` trigger: replayed natively),
``nojs`` (registers the alternative ``js``, which the build does not make) and ``awkish``
(registers ``awk``, ``nawk`` and ``awkish`` in a loop: only the last is not made).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from couturier.assembly.deb import read_deb_control
from couturier.cli.main import main
from couturier.core.catalog import Package
from couturier.core.starter import Starter, parse_starter
from couturier.debian.index import IndexCatalog
from couturier.errors import IntegrityError
from couturier.services import catalog as catalog_service
from couturier.services.build import ImageRequest, build
from couturier.services.context import build_context
from couturier.services.maintscripts import added_warnings
from couturier.services.plan import line_plan, plan_image
from couturier.settings import Settings, load_settings
from tests.debs import Content, File, build_deb, build_suites
from tests.fixture_repo import SigningKey, build_repo
from tests.test_build import NOW, PACKAGES, RELEASES, STARTER_DATE, STARTER_DOC, settings_in

FOO_POSTINST = b"""#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd foo >/dev/null; then
        adduser --system --group --home /var/lib/foo --no-create-home foo
    fi
fi
# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] ; then
    deb-systemd-helper enable 'foo.service' >/dev/null || true
fi
# End automatically added section
"""
NOJS_POSTINST = b"""#!/bin/sh
set -e
update-alternatives --install /usr/bin/js js /usr/bin/nojs 50
"""

# A loop over literal words: awk and nawk are alternatives the build makes
# (assembly/generated.py ALTERNATIVES), awkish is not.
AWKISH_POSTINST = b"""#!/bin/sh
set -e
bindir=/usr/bin
for name in awk nawk awkish; do
    update-alternatives --install $bindir/$name $name $bindir/awkish 5
done
"""

SCRIPTED: list[tuple[dict[str, str], dict[str, Content]]] = [
    (
        {"Package": "foo-daemon", "Version": "1.0-1", "Depends": "libbar"},
        {
            "usr/sbin/food": File(b"#!/bin/sh\n", 0o755),
            "DEBIAN/postinst": File(FOO_POSTINST, 0o755),
        },
    ),
    (
        {"Package": "libbar", "Version": "1.0-1"},
        {"usr/lib/libbar.so.1": b"\x7fELF\n", "DEBIAN/triggers": "activate-noawait ldconfig\n"},
    ),
    (
        {"Package": "nojs", "Version": "1.0-1"},
        {
            "usr/bin/nojs": File(b"#!/bin/sh\n", 0o755),
            "DEBIAN/postinst": File(NOJS_POSTINST, 0o755),
        },
    ),
    (
        {"Package": "awkish", "Version": "1.0-1"},
        {
            "usr/bin/awkish": File(b"#!/bin/sh\n", 0o755),
            "DEBIAN/postinst": File(AWKISH_POSTINST, 0o755),
        },
    ),
]
FOO_ACCOUNT = {
    "package": "foo-daemon",
    "action": "accounts",
    "message": "foo-daemon: postinst adds the system user foo; not replayed",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("scripts-repo") / "repo"
    packages = {
        suite: [*PACKAGES[suite], *[(c, f, STARTER_DATE) for c, f in SCRIPTED]]
        for suite in RELEASES
    }
    return build_repo(root, build_suites(root / "pool" / "main", packages), key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_script_warnings.py", releases=tuple(RELEASES))


@pytest.fixture
def settings(tmp_path: Path, repo: Path, signing_key: SigningKey) -> Settings:
    """Settings over the fixture repository with the tiny starter as a site-local starter."""
    settings_in(tmp_path / "env", repo, signing_key)
    (tmp_path / "env" / "starters").mkdir()
    (tmp_path / "env" / "starters" / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    config = tmp_path / "env" / "couturier.yaml"
    body = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**body, "starters_dir": "starters"}))
    return load_settings(config, env={})


def _spec(path: Path, packages: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"name": "tiny-foo", "starter": "tiny", "packages": packages}))
    return path


def _by_label(document: dict[str, Any]) -> dict[str, Any]:
    return {line["version"]: line for line in document["lines"]}


def test_plan_warns_per_line_about_what_is_not_replayed(
    settings: Settings, starter: Starter
) -> None:
    plan = plan_image(
        build_context(settings), "tiny-foo", starter, ["foo-daemon", "nojs"]
    ).to_json()
    for line in plan["lines"]:
        # The service is waived (no init system), ldconfig is replayed: neither is a warning.
        assert line["warnings"] == [
            FOO_ACCOUNT,
            {
                "package": "nojs",
                "action": "alternatives",
                "message": "nojs: postinst registers the alternative js; not replayed",
            },
        ]
    # Nothing added, nothing to warn about (the starter's packages are the audit's business).
    assert all(
        line["warnings"] == []
        for line in plan_image(build_context(settings), "t", starter, []).to_json()["lines"]
    )


def test_plan_and_build_commands_show_the_warnings(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env" / "couturier.yaml"
    spec = _spec(tmp_path / "spec.yaml", ["foo-daemon"])
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 0
    lines = _by_label(json.loads(capsys.readouterr().out))
    assert lines["1"]["warnings"] == [FOO_ACCOUNT]

    assert main(["--config", str(config), "-q", "plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "1: warning: foo-daemon: postinst adds the system user foo; not replayed" in out

    output = tmp_path / "oci"
    argv = ["--config", str(config), "-q", "build", str(spec), "--output", str(output)]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [line["warnings"] for line in result["lines"]] == [[FOO_ACCOUNT], [FOO_ACCOUNT]]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2: warning: foo-daemon: postinst adds the system user foo; not replayed" in out


def test_a_starter_build_has_no_warnings(
    settings: Settings, starter: Starter, tmp_path: Path
) -> None:
    result = build(
        build_context(settings, output=tmp_path / "oci", now=NOW), ImageRequest(starter, "tiny")
    )
    assert [line.to_json()["warnings"] for line in result.lines] == [[], []]


def test_only_the_control_archive_is_read(tmp_path: Path) -> None:
    control, files = SCRIPTED[0]
    deb = build_deb(tmp_path, control, files)
    contents = read_deb_control(deb.read_bytes(), deb.name)
    assert contents.name == "foo-daemon"
    assert contents.entries == ()  # data.tar is not even decompressed
    assert contents.scripts["postinst"] == FOO_POSTINST
    with pytest.raises(IntegrityError, match="not an ar archive"):
        read_deb_control(b"garbage", "x.deb")


class _Unreachable:
    """A catalog whose packages are all at a URL that does not exist."""

    def url_of(self, package: Package) -> str:
        return f"file:///nonexistent/{package.filename}"


def test_a_package_that_cannot_be_fetched_leaves_one_warning_saying_so(
    settings: Settings, starter: Starter
) -> None:
    catalog = catalog_service.catalog(settings, "oldrel", "amd64", lambda message: None)
    plan = line_plan(catalog, starter, starter.lines[0], ["foo-daemon"])
    context = build_context(settings)
    (warning,) = added_warnings(context, cast(IndexCatalog, _Unreachable()), plan)
    assert warning.action == "unchecked"
    assert warning.message.startswith("maintainer scripts of the added packages not checked: ")
    assert "foo-daemon" in warning.message or "libbar" in warning.message


def test_a_loop_s_alternatives_are_judged_one_by_one(settings: Settings, starter: Starter) -> None:
    plan = plan_image(build_context(settings), "tiny-awk", starter, ["awkish"]).to_json()
    for line in plan["lines"]:
        assert line["warnings"] == [
            {
                "package": "awkish",
                "action": "alternatives",
                "message": "awkish: postinst registers the alternative awkish; not replayed",
            }
        ]
