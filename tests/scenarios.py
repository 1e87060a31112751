"""Resolver scenarios as data: package stanzas and the requests with their expected outcome.

``SCENARIO_PACKAGES`` are complete binary control stanzas (Package, Version, Architecture,
Maintainer, Description, Priority, Section and the relationship fields), so a fixture Debian
repository can be built from exactly these with ``dpkg-deb --build`` and the same
``SCENARIOS`` run through it. Every package is ``amd64`` or ``all``, except ``arch-foreign``
(``arm64`` only), which an ``amd64`` catalog must ignore.

Each scenario is ``(id, requests, expected)``: ``expected`` is the set of ``name=version`` that
gets installed, or :class:`Unsolvable` with the sentence of the :class:`ResolutionError`, or
:class:`Missing` with the message of the :class:`NotFoundError`.
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASE = "fixture"
ARCHITECTURE = "amd64"


def _stanza(name: str, version: str = "1.0", arch: str = "amd64", **fields: str) -> dict[str, str]:
    stanza = {
        "Package": name,
        "Version": version,
        "Architecture": arch,
        "Maintainer": "Couturier Tests <tests@couturier.invalid>",
        "Priority": "optional",
        "Section": "misc",
    }
    stanza.update({key.replace("_", "-"): value for key, value in fields.items()})
    stanza["Description"] = f"resolver scenario package {name}"
    return stanza


SCENARIO_PACKAGES: list[dict[str, str]] = [
    # A cycle: each depends on the other.
    _stanza("cyc-a", Depends="cyc-b"),
    _stanza("cyc-b", arch="all", Depends="cyc-a"),
    # Alternatives: the leftmost is preferred.
    _stanza("alt-user", Depends="alt-left | alt-right"),
    _stanza("alt-left"),
    _stanza("alt-right"),
    # An alternative already satisfied by the chosen set needs no new choice.
    _stanza("sat-user", Depends="sat-first, sat-pref | sat-other"),
    _stanza("sat-first", Depends="sat-other"),
    _stanza("sat-pref"),
    _stanza("sat-other"),
    # Pre-Depends come first, and satisfy a later alternative.
    _stanza("pre-user", Pre_Depends="pre-b", Depends="pre-a | pre-b"),
    _stanza("pre-a"),
    _stanza("pre-b"),
    # Virtual packages: one provider, several providers ordered by priority then by name.
    _stanza("virt-user", Depends="virt-one"),
    _stanza("virt-one-impl", Provides="virt-one"),
    _stanza("mta-user", Depends="mail-agent"),
    _stanza("mta-big", Provides="mail-agent", Priority="optional"),
    _stanza("mta-small", Provides="mail-agent", Priority="standard"),
    _stanza("mta-zed", Provides="mail-agent", Priority="standard"),
    # Essential wins over priority among providers.
    _stanza("pv-user", Depends="pv-virt"),
    _stanza("pv-plain", Provides="pv-virt", Priority="required"),
    _stanza("pv-essential", Provides="pv-virt", Essential="yes"),
    # A real package named X beats a provider of X.
    _stanza("realprov-user", Depends="realprov"),
    _stanza("realprov"),
    _stanza("realprov-alt", Provides="realprov", Priority="required"),
    # Versioned Provides satisfy versioned dependencies; unversioned ones do not.
    _stanza("vp-user", Depends="vp-virt (>= 1.0)"),
    _stanza("vp-unversioned", Provides="vp-virt", Priority="required"),
    _stanza("vp-versioned", Provides="vp-virt (= 1.2)"),
    _stanza("vp-old-user", Depends="vp-virt (>= 2)"),
    # Version constraints against three versions of one library.
    _stanza("ver-lib", "1.0"),
    _stanza("ver-lib", "2.0"),
    _stanza("ver-lib", "3.0"),
    _stanza("ver-lt", Depends="ver-lib (<< 2.0)"),
    _stanza("ver-le", Depends="ver-lib (<= 2.0)"),
    _stanza("ver-eq", Depends="ver-lib (= 2.0)"),
    _stanza("ver-ge", Depends="ver-lib (>= 2.0)"),
    _stanza("ver-gt", Depends="ver-lib (>> 2.0)"),
    _stanza("ver-impossible", Depends="ver-lib (>> 3.0)"),
    # Conflicts through a virtual name, and a package never conflicts with itself.
    _stanza("cf-postfix", Provides="cf-mta", Conflicts="cf-mta", Replaces="cf-mta"),
    _stanza("cf-exim", Provides="cf-mta", Conflicts="cf-mta", Replaces="cf-mta"),
    _stanza("cf-hater", Conflicts="cf-mta"),
    _stanza("cf-old", Conflicts="cf-new"),
    _stanza("cf-new"),
    # Versioned Breaks.
    _stanza("br-lib", "1.0"),
    _stanza("br-lib", "2.0"),
    _stanza("br-tool", Breaks="br-lib (<< 2.0)"),
    # Architectures: native, all, and a foreign one that must be ignored.
    _stanza("arch-user", Depends="arch-native, arch-indep"),
    _stanza("arch-native"),
    _stanza("arch-indep", arch="all"),
    _stanza("arch-foreign", arch="arm64"),
    _stanza("arch-foreign-user", Depends="arch-foreign | arch-indep"),
    # Multi-Arch qualifiers.
    _stanza("ma-allowed", Multi_Arch="allowed"),
    _stanza("ma-no"),
    _stanza("ma-foreign", Multi_Arch="foreign"),
    _stanza("ma-prov", Provides="ma-virt", Multi_Arch="allowed"),
    _stanza("ma-user", Depends="ma-allowed:any"),
    _stanza("ma-native-user", Depends="ma-no:native"),
    _stanza("ma-bad-user", Depends="ma-no:any"),
    _stanza("ma-foreign-user", Depends="ma-foreign:any"),
    _stanza("ma-virt-user", Depends="ma-virt:any"),
    # Recommends and Suggests are not followed.
    _stanza("rec-user", Depends="rec-dep", Recommends="rec-rec", Suggests="rec-sug"),
    _stanza("rec-dep"),
    _stanza("rec-rec"),
    _stanza("rec-sug"),
    # Backtracking over an alternative: the first one clashes three levels down.
    _stanza("bt-user", Depends="bt-first | bt-second"),
    _stanza("bt-first", Depends="bt-mid"),
    _stanza("bt-mid", Depends="bt-deep"),
    _stanza("bt-deep", Conflicts="bt-user"),
    _stanza("bt-second"),
    # Backtracking over a version: the newest vb-lib leaves vb-tool unsatisfiable.
    _stanza("vb-user", Depends="vb-lib, vb-tool"),
    _stanza("vb-lib", "1.0"),
    _stanza("vb-lib", "2.0"),
    _stanza("vb-tool", Depends="vb-lib (<< 2.0)"),
    # Unsolvable requests, each with its explanation.
    _stanza("un-app", Depends="un-lib"),
    _stanza("un-lib", Depends="un-missing-lib"),
    _stanza("un-vapp", "2.0", Depends="un-bar (>= 3)"),
    _stanza("un-bar", "2.1"),
    _stanza("un-web", Depends="un-exim"),
    _stanza("un-exim", Provides="un-mta"),
    _stanza("un-postfix", Provides="un-mta", Conflicts="un-mta"),
    _stanza("un-mailuser", Depends="un-postfix"),
    _stanza("ex-user", Depends="ex-a | ex-b"),
    _stanza("ex-a", Depends="ex-gone"),
    _stanza("ex-b", Conflicts="ex-user"),
    _stanza("un-either", Depends="un-gone-a | un-gone-b"),
]


@dataclass(frozen=True)
class Unsolvable:
    """The request has no solution; ``sentence`` is the ResolutionError's sentence."""

    sentence: str


@dataclass(frozen=True)
class Missing:
    """A requested name or version does not exist; ``message`` is the NotFoundError's message."""

    message: str


Expected = frozenset[str] | Unsolvable | Missing


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


SCENARIOS: list[tuple[str, list[str], Expected]] = [
    ("cycle", ["cyc-a"], _set("cyc-a=1.0", "cyc-b=1.0")),
    ("leftmost-alternative", ["alt-user"], _set("alt-user=1.0", "alt-left=1.0")),
    (
        "requested-package-satisfies-alternative",
        ["alt-user", "alt-right"],
        _set("alt-user=1.0", "alt-right=1.0"),
    ),
    (
        "chosen-package-satisfies-alternative",
        ["sat-user"],
        _set("sat-user=1.0", "sat-first=1.0", "sat-other=1.0"),
    ),
    ("pre-depends-first", ["pre-user"], _set("pre-user=1.0", "pre-b=1.0")),
    ("single-provider", ["virt-user"], _set("virt-user=1.0", "virt-one-impl=1.0")),
    ("request-virtual-single-provider", ["virt-one"], _set("virt-one-impl=1.0")),
    ("providers-by-priority-then-name", ["mta-user"], _set("mta-user=1.0", "mta-zed=1.0")),
    (
        "request-virtual-several-providers",
        ["mail-agent"],
        Unsolvable(
            "mail-agent is a virtual package provided by mta-big, mta-small, mta-zed; "
            "pick one of them"
        ),
    ),
    ("essential-provider-first", ["pv-user"], _set("pv-user=1.0", "pv-essential=1.0")),
    ("real-package-before-provider", ["realprov-user"], _set("realprov-user=1.0", "realprov=1.0")),
    ("versioned-provides", ["vp-user"], _set("vp-user=1.0", "vp-versioned=1.0")),
    (
        "versioned-provides-too-old",
        ["vp-old-user"],
        Unsolvable(
            "you asked for vp-old-user; vp-old-user 1.0 needs vp-virt (>= 2), fixture has "
            "vp-unversioned provides vp-virt; vp-versioned provides vp-virt (= 1.2)"
        ),
    ),
    ("version-lt", ["ver-lt"], _set("ver-lt=1.0", "ver-lib=1.0")),
    ("version-le", ["ver-le"], _set("ver-le=1.0", "ver-lib=2.0")),
    ("version-eq", ["ver-eq"], _set("ver-eq=1.0", "ver-lib=2.0")),
    ("version-ge", ["ver-ge"], _set("ver-ge=1.0", "ver-lib=3.0")),
    ("version-gt", ["ver-gt"], _set("ver-gt=1.0", "ver-lib=3.0")),
    ("request-exact-version", ["ver-lib=2.0"], _set("ver-lib=2.0")),
    (
        "pinned-version-satisfies-dependency",
        ["ver-lib=1.0", "ver-lt"],
        _set("ver-lt=1.0", "ver-lib=1.0"),
    ),
    (
        "pinned-version-blocks-dependency",
        ["ver-lib=1.0", "ver-ge"],
        Unsolvable(
            "you asked for ver-ge; ver-ge 1.0 needs ver-lib (>= 2.0), fixture has 3.0, 2.0, 1.0 "
            "but ver-lib 1.0 is already chosen"
        ),
    ),
    (
        "version-impossible",
        ["ver-impossible"],
        Unsolvable(
            "you asked for ver-impossible; ver-impossible 1.0 needs ver-lib (>> 3.0), "
            "fixture has 3.0, 2.0, 1.0"
        ),
    ),
    ("unknown-version", ["ver-lib=9.0"], Missing("ver-lib 9.0 is not in fixture")),
    ("self-conflict-via-provides", ["cf-postfix"], _set("cf-postfix=1.0")),
    (
        "conflict-via-provides",
        ["cf-postfix", "cf-exim"],
        Unsolvable(
            "you asked for cf-exim; cf-exim conflicts with cf-mta, which cf-postfix provides; "
            "you also asked for cf-postfix"
        ),
    ),
    (
        "conflict-of-chosen-via-provides",
        ["cf-hater", "cf-exim"],
        Unsolvable(
            "you asked for cf-exim; cf-hater conflicts with cf-mta, which cf-exim provides; "
            "you also asked for cf-hater"
        ),
    ),
    (
        "conflict-of-newcomer",
        ["cf-new", "cf-old"],
        Unsolvable("you asked for cf-old; cf-old conflicts with cf-new; you also asked for cf-new"),
    ),
    (
        "conflict-of-chosen",
        ["cf-old", "cf-new"],
        Unsolvable("you asked for cf-new; cf-old conflicts with cf-new; you also asked for cf-old"),
    ),
    ("breaks-not-hit", ["br-tool", "br-lib"], _set("br-tool=1.0", "br-lib=2.0")),
    (
        "breaks-versioned",
        ["br-lib=1.0", "br-tool"],
        Unsolvable(
            "you asked for br-tool; br-tool breaks br-lib (<< 2.0) (br-lib 1.0); "
            "you also asked for br-lib"
        ),
    ),
    (
        "architecture-native-and-all",
        ["arch-user"],
        _set("arch-user=1.0", "arch-native=1.0", "arch-indep=1.0"),
    ),
    (
        "foreign-architecture-ignored",
        ["arch-foreign-user"],
        _set("arch-foreign-user=1.0", "arch-indep=1.0"),
    ),
    ("foreign-architecture-request", ["arch-foreign"], Missing("arch-foreign is not in fixture")),
    ("any-multi-arch-allowed", ["ma-user"], _set("ma-user=1.0", "ma-allowed=1.0")),
    ("native-qualifier", ["ma-native-user"], _set("ma-native-user=1.0", "ma-no=1.0")),
    ("any-via-allowed-provider", ["ma-virt-user"], _set("ma-virt-user=1.0", "ma-prov=1.0")),
    (
        "any-multi-arch-no",
        ["ma-bad-user"],
        Unsolvable(
            "you asked for ma-bad-user; ma-bad-user 1.0 needs ma-no:any, but in fixture ma-no "
            "is not Multi-Arch: allowed"
        ),
    ),
    (
        "any-multi-arch-foreign",
        ["ma-foreign-user"],
        Unsolvable(
            "you asked for ma-foreign-user; ma-foreign-user 1.0 needs ma-foreign:any, but in "
            "fixture ma-foreign is not Multi-Arch: allowed"
        ),
    ),
    ("recommends-not-followed", ["rec-user"], _set("rec-user=1.0", "rec-dep=1.0")),
    ("backtrack-alternative", ["bt-user"], _set("bt-user=1.0", "bt-second=1.0")),
    ("backtrack-version", ["vb-user"], _set("vb-user=1.0", "vb-lib=1.0", "vb-tool=1.0")),
    (
        "missing-dependency",
        ["un-app"],
        Unsolvable(
            "you asked for un-app; un-app depends on un-lib; un-lib depends on un-missing-lib, "
            "which fixture does not have"
        ),
    ),
    (
        "too-old-dependency",
        ["un-vapp"],
        Unsolvable("you asked for un-vapp; un-vapp 2.0 needs un-bar (>= 3), fixture has 2.1"),
    ),
    (
        "deep-conflict-with-request",
        ["un-web", "un-postfix"],
        Unsolvable(
            "you asked for un-web; un-web depends on un-exim; un-postfix conflicts with un-mta, "
            "which un-exim provides; you also asked for un-postfix"
        ),
    ),
    (
        "deep-conflict-with-pulled-in",
        ["un-mailuser", "un-web"],
        Unsolvable(
            "you asked for un-web; un-web depends on un-exim; un-postfix conflicts with un-mta, "
            "which un-exim provides; un-postfix is needed by un-mailuser, which you asked for"
        ),
    ),
    (
        "exhausted-alternatives-explain-first",
        ["ex-user"],
        Unsolvable(
            "you asked for ex-user; ex-user depends on ex-a | ex-b; ex-a depends on ex-gone, "
            "which fixture does not have"
        ),
    ),
    (
        "missing-alternatives",
        ["un-either"],
        Unsolvable(
            "you asked for un-either; un-either depends on un-gone-a | un-gone-b, none of which "
            "fixture has"
        ),
    ),
    ("unknown-name", ["no-such-package"], Missing("no-such-package is not in fixture")),
]
