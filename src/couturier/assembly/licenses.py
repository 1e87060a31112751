"""The licenses of installed packages, read from their Debian copyright files.

Debian ships ``/usr/share/doc/<package>/copyright`` in every package, and the assembled tree keeps
it (:data:`couturier.assembly.assemble.DEFAULT_INCLUDE`). When the file is machine-readable
(`DEP-5 <https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/>`_: a first paragraph
with a ``Format:`` field), the short names on the first line of its ``License:`` fields say the
package's licenses: :func:`copyright_license` collects those of the header and ``Files``
paragraphs, adds the names of standalone ``License`` paragraphs that no ``Files`` paragraph
already uses, maps each to an SPDX id (:func:`spdx_license`: ``GPL-2+`` → ``GPL-2.0-or-later``,
``Expat`` → ``MIT``...) and joins them with ``AND``. A name with no SPDX id becomes
``LicenseRef-<name>``; a ``License:`` field that gives text instead of a name counts as
``LicenseRef-unnamed``. A file in another format says nothing we can trust: None.

:func:`package_licenses` does this for every package of an
:class:`~couturier.assembly.assemble.Assembly`, following the symbolic links Debian uses between
documentation directories. Pure: reads only the in-memory tree.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from couturier.assembly.assemble import Assembly
from couturier.assembly.ldcache import tree_real_path
from couturier.core.entries import Entry, EntryType

__all__ = [
    "UNNAMED",
    "copyright_license",
    "dep5_paragraphs",
    "package_licenses",
    "spdx_license",
]

UNNAMED = "LicenseRef-unnamed"
_MAX_LINKS = 16

# SPDX ids we map to, by the lowercase spellings Debian copyright files use for them. Everything
# here must be on the SPDX license list (tests check each one with spdx-tools' licensing).
_SPDX_IDS = (
    "0BSD",
    "AFL-2.0",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0-only",
    "Apache-1.0",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "Beerware",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSD-4-Clause-UC",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "FTL",
    "HPND",
    "ICU",
    "IJG",
    "Info-ZIP",
    "ISC",
    "Latex2e",
    "Libpng",
    "libpng-2.0",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "NTP",
    "OFL-1.1",
    "OLDAP-2.8",
    "OpenSSL",
    "PSF-2.0",
    "Python-2.0",
    "SGI-B-2.0",
    "Sleepycat",
    "TCL",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
)
_ALIASES = {
    "expat": "MIT",
    "mit/x11": "MIT",
    "apache-2": "Apache-2.0",
    "apache-2-llvm-exceptions": "Apache-2.0 WITH LLVM-exception",
    "artistic-1": "Artistic-1.0",
    "bsd-2": "BSD-2-Clause",
    "bsd-3": "BSD-3-Clause",
    "bsd-4": "BSD-4-Clause",
    "boost-1.0": "BSL-1.0",
    "cc0": "CC0-1.0",
    "mpl-2": "MPL-2.0",
    "openldap-2.8": "OLDAP-2.8",
    "psf-2": "PSF-2.0",
    "psf": "PSF-2.0",
    "python": "Python-2.0",
    "artistic": "Artistic-1.0",
    # Debian's "Perl" is Perl's own dual license.
    "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "public-domain": "LicenseRef-public-domain",
    "public domain": "LicenseRef-public-domain",
    "pd": "LicenseRef-public-domain",
}
_SIMPLE = {**{spdx.lower(): spdx for spdx in _SPDX_IDS}, **_ALIASES}

# GNU licenses: GPL-2+, GPL-2.0+, GPLv3+, LGPL-2.1, GFDL-NIV-1.3+, GPL-3.0-or-later...
_GNU = re.compile(
    r"(?P<family>agpl|lgpl|gpl|gfdl-niv|gfdl)[-_ ]?v?(?P<version>\d+(?:\.\d+)?)"
    r"(?P<suffix>\+|-or-later|-only)?",
    re.IGNORECASE,
)
_GNU_VERSIONS = {
    "GPL": ("1.0", "2.0", "3.0"),
    "LGPL": ("2.0", "2.1", "3.0"),
    "AGPL": ("3.0",),
    "GFDL": ("1.1", "1.2", "1.3"),
    "GFDL-NIV": ("1.1", "1.2", "1.3"),
}
# "<license> with <name> exception" → SPDX exception id, per GPL major version where it differs.
# Keys are the exception's name without the word "exception" (``GCC-exception-3.1`` → gcc-3.1).
_EXCEPTIONS: dict[str, dict[str, str]] = {
    "autoconf": {"2": "Autoconf-exception-2.0", "3": "Autoconf-exception-3.0"},
    "autoconf-2.0": {"": "Autoconf-exception-2.0"},
    "autoconf-3.0": {"": "Autoconf-exception-3.0"},
    "bison": {"": "Bison-exception-2.2"},
    "bison-2.2": {"": "Bison-exception-2.2"},
    "libtool": {"": "Libtool-exception"},
    "gcc": {"2": "GCC-exception-2.0", "3": "GCC-exception-3.1"},
    "gcc-2.0": {"": "GCC-exception-2.0"},
    "gcc-3.1": {"": "GCC-exception-3.1"},
    "classpath": {"": "Classpath-exception-2.0"},
    "classpath-2.0": {"": "Classpath-exception-2.0"},
    "font": {"": "Font-exception-2.0"},
    "font-2.0": {"": "Font-exception-2.0"},
    "linux-syscall-note": {"": "Linux-syscall-note"},
    "llvm": {"": "LLVM-exception"},
}
_WITH = re.compile(r"(?P<license>\S+)\s+with\s+(?P<exception>.+)", re.IGNORECASE)
_EXCEPTION_WORD = re.compile(r"[-\s]*exception[-\s]*", re.IGNORECASE)
_COMMA_OPERATOR = re.compile(r",\s*(and|or)\s+", re.IGNORECASE)
_OPERATOR = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)
_NOT_ID = re.compile(r"[^A-Za-z0-9.-]+")


def _gnu(name: str) -> str | None:
    match = _GNU.fullmatch(name)
    if match is None:
        return None
    family = match["family"].upper()
    version = match["version"] if "." in match["version"] else match["version"] + ".0"
    if family.startswith("GFDL") and version.endswith(".0"):
        return None
    if version not in _GNU_VERSIONS[family]:
        return None
    suffix = "-or-later" if match["suffix"] in ("+", "-or-later") else "-only"
    if family == "GFDL-NIV":
        return f"GFDL-{version}-no-invariants{suffix}"
    return f"{family}-{version}{suffix}"


def _license_ref(name: str) -> str:
    cleaned = _NOT_ID.sub("-", name.replace("+", "-plus")).strip("-.")
    return f"LicenseRef-{cleaned or 'unnamed'}"


def spdx_license(name: str) -> str:
    """The SPDX expression for one DEP-5 license name (``GPL-2+`` → ``GPL-2.0-or-later``).

    Handles ``<name> with <x> exception`` for the exceptions the SPDX list has; anything else
    that is one word becomes ``LicenseRef-<name>`` (``+`` spelled ``-plus``), and text that is
    not a name at all :data:`UNNAMED`. The result may be compound (Debian's ``Perl``).
    """
    name = " ".join(name.split())
    known = _SIMPLE.get(name.lower()) or _gnu(name)
    if known is not None:
        return known
    match = _WITH.fullmatch(name)
    if match is not None:
        base = _SIMPLE.get(match["license"].lower()) or _gnu(match["license"])
        key = _EXCEPTION_WORD.sub("-", match["exception"]).strip("-").lower()
        variants = _EXCEPTIONS.get(key, {})
        major = (base or "").partition("-")[2][:1]
        exception = variants.get(major) or variants.get("")
        if base is not None and " " not in base and exception is not None:
            return f"{base} WITH {exception}"
        return _license_ref(name)
    if " " in name:
        return UNNAMED
    return _license_ref(name)


def _dep5_expression(text: str) -> str:
    """The SPDX expression of a DEP-5 ``License`` first line (``GPL-2+ or Artistic, and BSD``).

    Commas bind loosest (``A or B, and C`` is ``(A or B) and C``); otherwise ``and`` binds
    tighter than ``or``, as in SPDX, so the operators are kept in place.
    """
    text = " ".join(text.split())
    if not text:
        return UNNAMED
    chunks = _COMMA_OPERATOR.split(text)
    out: list[str] = []
    for index, chunk in enumerate(chunks):
        if index % 2:
            out.append(chunk.upper())
            continue
        tokens = _OPERATOR.split(chunk)
        terms: list[str] = []
        for position, token in enumerate(tokens):
            if position % 2:
                terms.append(token.upper())
                continue
            term = spdx_license(token)
            if term == UNNAMED:
                return UNNAMED  # prose, not names: its "and"s are not operators either
            compound = " OR " in term and len(tokens) > 1
            terms.append(f"({term})" if compound else term)
        expression = " ".join(terms)
        out.append(f"({expression})" if len(chunks) > 1 and len(tokens) > 1 else expression)
    return " ".join(out)


def dep5_paragraphs(text: str) -> list[dict[str, str]] | None:
    """The paragraphs of a DEP-5 copyright file (field → first line of its value, lowercase
    field names), or None when the file is not machine-readable."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current = {}
        elif line.startswith("#") or line[0] in " \t":
            continue  # comments and continuation lines (license texts) do not matter here
        else:
            field, colon, value = line.partition(":")
            if colon:
                current.setdefault(field.strip().lower(), value.strip())
    if current:
        paragraphs.append(current)
    if not paragraphs or not {"format", "format-specification"} & paragraphs[0].keys():
        return None
    return paragraphs


def _terms(expression: str) -> set[str]:
    return {t for t in re.split(r"[\s()]+", expression) if t and t not in ("AND", "OR", "WITH")}


def copyright_license(text: str) -> str | None:
    """The SPDX expression of a copyright file's licenses, None when it is not DEP-5 or names
    no license. Expressions of several paragraphs are joined with ``AND``, each once."""
    paragraphs = dep5_paragraphs(text)
    if paragraphs is None:
        return None
    used: list[str] = []  # expressions of the header and the Files paragraphs
    standalone: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if "license" not in paragraph:
            continue
        expression = _dep5_expression(paragraph["license"])
        if index == 0 or "files" in paragraph:
            used.append(expression)
        else:
            standalone.append(expression)
    seen = set().union(*(_terms(e) for e in used)) if used else set()
    used += [e for e in standalone if not _terms(e) <= seen]
    unique = list(dict.fromkeys(unit for e in used for unit in _and_units(e)))
    if not unique:
        return None
    if len(unique) == 1 and unique[0].startswith("("):
        return unique[0][1:-1]
    return " AND ".join(unique)


def _and_units(expression: str) -> list[str]:
    """The operands of ``expression``'s top-level ``AND``s; one parenthesized unit when its top
    level has an ``OR`` (which binds looser, so it cannot be split)."""
    units: list[str] = []
    current: list[str] = []
    depth = 0
    for token in re.findall(r"\(|\)|[^\s()]+", expression):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth == 0 and token == "OR":
            return [f"({expression})"]
        if depth == 0 and token == "AND":
            units.append(" ".join(current).replace("( ", "(").replace(" )", ")"))
            current = []
        else:
            current.append(token)
    units.append(" ".join(current).replace("( ", "(").replace(" )", ")"))
    return units


def _lookup(entries: Mapping[str, Entry], path: str) -> Entry | None:
    """The entry at ``path`` in the tree, following symbolic links (also in parent dirs) and a
    hard link to its original."""
    real = tree_real_path(entries, path, hops=_MAX_LINKS)
    entry = entries.get(real) if real is not None else None
    if entry is not None and entry.type is EntryType.HARDLINK:
        entry = entries.get(entry.target)
    return entry


def package_licenses(assembly: Assembly) -> dict[str, str | None]:
    """Package name → SPDX license expression of its copyright file (None: unknown), for every
    package of ``assembly``.

    Cost: one parse per copyright file (a few kB each). Never raises for a missing, unreadable
    or free-form file: that package's license is None.
    """
    out: dict[str, str | None] = {}
    for deb in assembly.packages:
        path = posixpath.join("usr/share/doc", deb.name, "copyright")
        entry = _lookup(assembly.entries, path)
        if entry is None or entry.type is not EntryType.FILE:
            out[deb.name] = None
            continue
        out[deb.name] = copyright_license(entry.data.decode("utf-8", errors="replace"))
    return out
