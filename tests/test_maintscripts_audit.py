"""The audit of the starters' maintainer scripts stays true (network: Debian's mirror).

Every package of every starter line (amd64) is fetched through the verified download cache the
other network tests share, its control archive read and its actions judged. Two checks:
every action is handled or waived (``core/replay.py``, ``core/replay_starters.py``), and
``docs/maintainer-scripts.md`` is what ``scripts/audit-maintainer-scripts`` generates now. A
plan of real added packages shows what the warnings of ``couturier plan`` say.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.debian.refresh import refresh
from couturier.services.context import build_context
from couturier.services.maintscripts import (
    AuditedPackage,
    audit_markdown,
    audit_starters,
    build_policy,
    unjudged,
)
from couturier.services.plan import plan_image
from couturier.settings import Settings
from tests.starters import shipped, starter_named

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "maintainer-scripts.md"
pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def audited(mirror_settings: Settings) -> tuple[AuditedPackage, ...]:
    starters = shipped().values()
    releases = sorted({line.release for starter in starters for line in starter.lines})
    refresh(mirror_settings, releases=releases, architectures=["amd64"])
    return audit_starters(build_context(mirror_settings), starters, "amd64")


def test_every_action_of_a_starter_package_is_handled_or_waived(
    audited: tuple[AuditedPackage, ...],
) -> None:
    missing = [
        f"{package}: {action.script} {action.action} {action.detail!r} ({action.sentence})"
        for package, action in unjudged(audited, build_policy("amd64"))
    ]
    assert not missing, (
        "neither handled nor waived; replay them or add a rule with its reason to "
        "core/replay_starters.py:\n" + "\n".join(missing)
    )


def test_the_document_is_what_the_audit_generates_now(
    audited: tuple[AuditedPackage, ...],
) -> None:
    expected = audit_markdown(audited, build_policy("amd64"))
    assert DOCUMENT.read_text() == expected, (
        "docs/maintainer-scripts.md is stale: run `uv run scripts/audit-maintainer-scripts`"
    )


def test_warnings_of_added_packages_name_what_they_would_do(mirror_settings: Settings) -> None:
    """A python 3.13 image with packages whose scripts loop over names, set variables first,
    wrap adduser in a function and register alternatives the build makes: no warning prints
    a shell variable, and php's and java's alternatives (made by assembly/generated.py) are not
    warned about."""
    packages = ["python3-gi-auto", "dbus", "php-cli", "openjdk-21-jre-headless", "python3"]
    plan = plan_image(
        build_context(mirror_settings),
        "py-extra",
        starter_named("python"),
        packages,
        "amd64",
        lines=["3.13"],
    ).to_json()
    (line,) = plan["lines"]
    messages = [warning["message"] for warning in line["warnings"]]
    assert messages and not [m for m in messages if "$" in m], messages
    assert not [m for m in messages if m.startswith(("php-cli:", "php8.4-cli:"))], messages
    java = [m for m in messages if m.startswith("openjdk-21-jre-headless:")]
    assert not [m for m in java if "alternative java" in m or "alternative keytool" in m]
    assert (
        "dbus-system-bus-common: postinst adds the accounts declared in sysusers.d/dbus.conf "
        "(systemd-sysusers); not replayed"
    ) in messages
    assert "dbus-system-bus-common: postinst adds the system user messagebus; not replayed" in (
        messages
    )
    assert (
        "dbus: postinst overrides the owner or mode of "
        "/usr/lib/dbus-1.0/dbus-daemon-launch-helper; not replayed"
    ) in messages
