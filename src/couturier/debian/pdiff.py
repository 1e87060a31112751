"""Package index diffs (pdiffs): bring a kept ``Packages`` index up to date from the small
ed-style patches a mirror offers in ``Packages.diff/``, as apt does, instead of downloading
the whole index again.

A mirror that offers them lists ``<component>/binary-<arch>/Packages.diff/Index`` in its
InRelease. That file (Debian's ``dak`` writes it; apt reads it in
``apt-pkg/acquire-item.cc``) names the current index (``SHA256-Current``), the older
versions it has patches from (``SHA256-History``: sha256, size, patch name), each patch's
uncompressed hash (``SHA256-Patches``) and its compressed one (``SHA256-Download``, the
``.gz`` file). With ``X-Patch-Precedence: merged`` (dak's default since 2020) each patch goes
from its history entry straight to the current index: one patch to apply. Without it the
patches form a chain, each to the next version: all from the kept one onward.

A patch is the output of ``diff --ed``: commands ``Na``, ``N[,M]c``, ``N[,M]d`` in
descending line order, the text of ``a`` and ``c`` ended by a line holding a single ``.``
(:func:`apply_ed`).

:func:`parse_diff_index` and :func:`patches_for` are pure; the refresh verifies the Index
against InRelease, every download against the Index, and the result against InRelease's
hash of the uncompressed ``Packages``, and falls back to the whole index when any of it
fails (:class:`PdiffError`).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from couturier.debian.inrelease import ReleaseFile

__all__ = [
    "DiffIndex",
    "PatchFile",
    "PdiffError",
    "apply_ed",
    "parse_diff_index",
    "patched_index",
    "patches_for",
]

# An ed command of diff --ed: a line range and a, c or d (POSIX diff, "-e").
_COMMAND = re.compile(rb"(?P<start>[0-9]+)(?:,(?P<end>[0-9]+))?(?P<op>[acd])")


class PdiffError(ValueError):
    """A diff index or patch that cannot be used (malformed, not applicable, a hash that does
    not match): the caller downloads the whole index instead."""


@dataclass(frozen=True)
class PatchFile:
    """One patch of a diff index: ``name`` (without ``.gz``), the sha256 and size of its
    text, and of its ``.gz`` download."""

    name: str
    sha256: str
    size: int
    download_sha256: str
    download_size: int


@dataclass(frozen=True)
class DiffIndex:
    """A parsed ``Packages.diff/Index``: the current index's sha256 and size, the history
    (older index sha256 → the patch name that starts from it), the patches by name, and
    whether patches are merged (each one reaches the current index)."""

    current_sha256: str
    current_size: int
    history: tuple[tuple[str, int, str], ...]
    patches: dict[str, PatchFile]
    merged: bool


def _hash_lines(fields: dict[str, list[str]], key: str) -> list[tuple[str, int, str]]:
    rows = []
    for line in fields.get(key, []):
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            raise PdiffError(f"malformed {key} line: {line[:80]!r}")
        rows.append((parts[0].lower(), int(parts[1]), parts[2]))
    return rows


def parse_diff_index(text: str) -> DiffIndex:
    """The :class:`DiffIndex` of an Index file's text (deb822: ``Key: value`` lines, multi-
    line values on indented lines). Raises :class:`PdiffError` when it lacks the SHA256
    fields or a line is malformed."""
    fields: dict[str, list[str]] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            if not key:
                raise PdiffError("a continuation line before any field")
            fields[key].append(line.strip())
            continue
        key, _, value = line.partition(":")
        fields[key] = [value.strip()] if value.strip() else []
    current = (fields.get("SHA256-Current") or [""])[0].split()
    if len(current) != 2 or not current[1].isdigit():
        raise PdiffError("no SHA256-Current")
    patches = {name: (sha, size) for sha, size, name in _hash_lines(fields, "SHA256-Patches")}
    downloads = {
        name.removesuffix(".gz"): (sha, size)
        for sha, size, name in _hash_lines(fields, "SHA256-Download")
    }
    files = {
        name: PatchFile(name, sha, size, *downloads[name])
        for name, (sha, size) in patches.items()
        if name in downloads
    }
    precedence = (fields.get("X-Patch-Precedence") or [""])[0]
    return DiffIndex(
        current_sha256=current[0].lower(),
        current_size=int(current[1]),
        history=tuple(_hash_lines(fields, "SHA256-History")),
        patches=files,
        merged=precedence == "merged",
    )


def patches_for(index: DiffIndex, kept_sha256: str) -> list[PatchFile]:
    """The patches that turn the kept index ``kept_sha256`` into ``index``'s current one, in
    the order to apply them; empty when it is current already. Raises :class:`PdiffError`
    when the kept index is too old (not in the history) or a patch is not listed."""
    if kept_sha256 == index.current_sha256:
        return []
    names = [name for _, _, name in index.history]
    position = next((i for i, (sha, _, _) in enumerate(index.history) if sha == kept_sha256), None)
    if position is None:
        raise PdiffError("the kept index is older than the diff history")
    wanted = [names[position]] if index.merged else names[position:]
    missing = [name for name in wanted if name not in index.patches]
    if missing:
        raise PdiffError(f"patch {missing[0]} is not listed with its hashes")
    return [index.patches[name] for name in wanted]


def apply_ed(lines: list[bytes], script: bytes) -> list[bytes]:
    """``lines`` (each with its newline) after the ``diff --ed`` ``script``; a new list.
    Commands must come in descending line order, as diff writes them, so each one's line
    numbers still refer to the original text. Raises :class:`PdiffError` for a command it
    does not know, a range outside the text, or text not ended by ``.``."""
    result = list(lines)
    script_lines = script.splitlines(keepends=True)
    i = 0
    last = len(lines) + 1  # line numbers must descend
    while i < len(script_lines):
        match = _COMMAND.fullmatch(script_lines[i].rstrip(b"\n"))
        if match is None:
            raise PdiffError(f"not an ed command: {script_lines[i][:40]!r}")
        i += 1
        start = int(match["start"])
        end = int(match["end"]) if match["end"] else start
        op = match["op"]
        if end < start or end > len(lines) or start > last or (op != b"a" and start < 1):
            raise PdiffError(f"ed command {match[0].decode()} outside the text")
        last = start
        text: list[bytes] = []
        if op in (b"a", b"c"):
            while True:
                if i >= len(script_lines):
                    raise PdiffError("text of an ed command not ended by '.'")
                line = script_lines[i]
                i += 1
                if line.rstrip(b"\n") == b".":
                    break
                text.append(line)
        if op == b"a":
            result[start:start] = text
        else:  # c and d replace lines start..end (1-based, inclusive)
            result[start - 1 : end] = text
    return result


# A patch's text is far smaller than the index it patches: more is not a patch.
_PATCH_LIMIT = 64 << 20

# Get the body of a URL (a file of the suite, named for errors), at most ``limit`` bytes.
Getter = Callable[[str, str, int], bytes]


def patched_index(
    get: Getter,
    *,
    suite_url: str,
    base: str,
    release: ReleaseFile,
    kept: bytes,
) -> tuple[bytes, int]:
    """The index ``base`` (``main/binary-amd64/Packages``) that ``release`` lists, made from
    the ``kept`` one with the suite's diffs under ``suite_url`` (``.../dists/<suite>``),
    and how many patches it took. Every file is verified: the Index against ``release``,
    each download and its text against the Index, the result against ``release``'s hash of
    the uncompressed index. Raises :class:`PdiffError` when the diffs cannot be used (none
    listed, the kept index too old, a hash mismatch) and what ``get`` raises; the caller
    downloads the whole index then. Memory: the index's lines, twice while patched."""
    listed = release.entry(f"{base}.diff/Index")
    target = release.entry(base)
    if listed is None or target is None:
        raise PdiffError(f"InRelease lists no {base}.diff/Index or no {base}")
    raw = get(f"{suite_url}/{base}.diff/Index", f"{base}.diff/Index", listed.size)
    if hashlib.sha256(raw).hexdigest() != listed.sha256:
        raise PdiffError(f"{base}.diff/Index does not match its InRelease sha256")
    index = parse_diff_index(raw.decode("utf-8", "replace"))
    if index.current_sha256 != target.sha256:
        raise PdiffError(f"{base}.diff/Index is not for the index InRelease lists")
    patches = patches_for(index, hashlib.sha256(kept).hexdigest())
    lines = kept.splitlines(keepends=True)
    for patch in patches:
        name = f"{base}.diff/{patch.name}.gz"
        compressed = get(f"{suite_url}/{name}", name, patch.download_size)
        if hashlib.sha256(compressed).hexdigest() != patch.download_sha256:
            raise PdiffError(f"{name} does not match the sha256 of the diff index")
        try:
            script = gzip.decompress(compressed)
        except (OSError, EOFError, zlib.error) as error:
            raise PdiffError(f"{name} is not gzip: {error}") from None
        if len(script) > _PATCH_LIMIT or hashlib.sha256(script).hexdigest() != patch.sha256:
            raise PdiffError(f"{name} unpacks to other text than the diff index lists")
        lines = apply_ed(lines, script)
    data = b"".join(lines)
    if len(data) != target.size or hashlib.sha256(data).hexdigest() != target.sha256:
        raise PdiffError(f"{base} patched does not match its InRelease sha256")
    return data, len(patches)
