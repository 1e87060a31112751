"""Errors are data: every code is registered and documented, advice naming a CLI command lives
in the CLI only, and the main kinds carry their code, fields and retryable."""

from __future__ import annotations

import argparse
import ast
import re
import socket
from pathlib import Path

import pytest

from couturier.cli.hints import error_hint, failure_hint, line_reason
from couturier.cli.output import error_json
from couturier.cli.parser import parser
from couturier.core.catalog import MemoryCatalog, Package
from couturier.core.relations import parse_request
from couturier.core.resolver import resolve
from couturier.debian.transport import HttpTransport
from couturier.errors import (
    CODES,
    AccessError,
    Code,
    CouturierError,
    IntegrityError,
    NotFoundError,
    Problem,
    SourceError,
)
from couturier.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "couturier"
DOCS = ROOT / "docs" / "errors.md"


def _documented() -> dict[str, str]:
    """``code -> retryable column`` of every table row of docs/errors.md."""
    rows = re.findall(r"^\| `([a-z-]+)` \|.*\| (\*\*yes\*\*|no) \|[^|]*\|$", DOCS.read_text(), re.M)
    return {code: retryable.strip("*") for code, retryable in rows}


def test_every_code_is_registered_and_documented_with_its_retryable() -> None:
    assert set(CODES) == set(Code)
    documented = _documented()
    assert set(documented) == {str(code) for code in Code}
    for code, info in CODES.items():
        assert documented[str(code)] == ("yes" if info.retryable else "no"), code
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", str(code)), code


def test_every_code_named_in_the_source_exists_and_every_code_is_used() -> None:
    used: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            owner = node.value if isinstance(node, ast.Attribute) else None
            if isinstance(owner, ast.Name) and owner.id == "Code":
                used.add(node.attr)  # type: ignore[attr-defined]
            if isinstance(node, ast.keyword) and node.arg == "code":
                # A code is always a member of Code, never a string written at a raise site.
                assert not isinstance(node.value, ast.Constant), f"{path}:{node.value.lineno}"
    assert used <= set(Code.__members__), used - set(Code.__members__)
    assert used == set(Code.__members__), set(Code.__members__) - used


def _cli_flags() -> set[str]:
    flags: set[str] = set()

    def walk(command: argparse.ArgumentParser) -> None:
        for action in command._actions:
            flags.update(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(parser())
    return flags - {"--help", "--version"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr):
            found.add(id(node.body[0].value))
    return found


def test_nothing_below_the_interfaces_names_a_cli_command_or_flag() -> None:
    """No message, hint or rule outside ``cli/`` names ``couturier <command>`` or one of the
    CLI's options: the CLI renders such advice from the code and fields (``cli/hints.py``).
    Docstrings are not messages; items of a list, tuple or set are data (a gpgv command line,
    the options of a maintainer script's ``update-alternatives --config``, the lines of a
    generated page about the CLI)."""
    flags = "|".join(re.escape(flag) for flag in sorted(_cli_flags()))
    named = re.compile(
        r"couturier (build|plan|catalog|packages|bundle|cache|starters)\b"
        rf"|(?<![\w-])({flags})(?![\w-])"
    )
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple | ast.Set):
                skip.update(id(e) for e in node.elts)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and id(node) in skip:
                skip.update(id(v) for v in node.values)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and id(node) not in skip and named.search(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_the_scan_finds_a_command_in_a_hint(tmp_path: Path) -> None:
    """The pattern of the scan above does catch what it is for."""
    flags = "|".join(re.escape(flag) for flag in sorted(_cli_flags()))
    named = re.compile(
        r"couturier (build|plan|catalog|packages|bundle|cache|starters)\b"
        rf"|(?<![\w-])({flags})(?![\w-])"
    )
    assert named.search("run `couturier catalog refresh --release x`")
    assert named.search("choose another --output")
    assert not named.search("set it with $(git log -1 --format=%ct)")


# -- the shape of an error ----------------------------------------------------------------------


def test_problem_json_is_code_message_fields_and_fields_are_frozen() -> None:
    error = NotFoundError(
        "python3-rsa 4.9-2 is not in bookworm",
        code=Code.VERSION_NOT_IN_RELEASE,
        fields={"package": "python3-rsa", "available": ["4.8-2"]},
    )
    problem = error.problem
    assert problem == Problem(
        Code.VERSION_NOT_IN_RELEASE,
        "python3-rsa 4.9-2 is not in bookworm",
        {"package": "python3-rsa", "available": ("4.8-2",)},
    )
    assert problem.to_json() == {
        "code": "version-not-in-release",
        "message": "python3-rsa 4.9-2 is not in bookworm",
        "fields": {"package": "python3-rsa", "available": ["4.8-2"]},
    }
    with pytest.raises(TypeError):
        problem.fields["package"] = "other"  # type: ignore[index]
    assert not problem.retryable


def test_a_class_gives_its_default_code_and_the_code_its_retryable() -> None:
    assert SourceError("x").code is Code.SOURCE_UNREACHABLE and SourceError("x").retryable
    assert IntegrityError("x").code is Code.INTEGRITY_FAILED
    assert not IntegrityError("x").retryable
    assert CouturierError("x", retryable=True).retryable  # a raise site may say otherwise
    document = error_json(SourceError("cannot fetch", "check the mirror", fields={"url": "u"}))
    assert document == {
        "error": {
            "code": "source-unreachable",
            "message": "cannot fetch",
            "fields": {"url": "u"},
            "retryable": True,
            "hint": "check the mirror",
        }
    }


# -- the main kinds -----------------------------------------------------------------------------


def test_unknown_release_names_the_nearest_and_the_known_ones(tmp_path: Path) -> None:
    settings = load_settings(None, env={"COUTURIER_DATA_DIR": str(tmp_path)})
    with pytest.raises(CouturierError) as caught:
        settings.release("bokworm")
    assert caught.value.code is Code.RELEASE_UNKNOWN
    assert caught.value.fields["release"] == "bokworm"
    assert caught.value.fields["suggestions"] == ("bookworm",)
    assert "bookworm" in caught.value.fields["known"]  # type: ignore[operator]
    with pytest.raises(CouturierError) as arch:
        settings.check_architecture("amd46")
    assert arch.value.code is Code.ARCHITECTURE_UNKNOWN
    assert arch.value.fields["suggestions"][0] == "amd64"  # type: ignore[index]


def _catalog() -> MemoryCatalog:
    return MemoryCatalog(
        [
            Package({"Package": "python3", "Version": "3.11.2-1", "Architecture": "amd64"}),
            Package({"Package": "python3-rsa", "Version": "4.8-2", "Architecture": "all"}),
        ],
        release="bookworm",
        architecture="amd64",
    )


def test_a_misspelt_package_is_not_found_with_suggestions() -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve(_catalog(), [parse_request("pyhton3")])
    error = caught.value
    assert error.code is Code.PACKAGE_NOT_FOUND
    assert dict(error.fields) == {
        "package": "pyhton3",
        "release": "bookworm",
        "architecture": "amd64",
        "suggestions": ("python3",),
    }
    assert error_hint(error) == (
        "did you mean python3? check the spelling or search with `couturier packages search`"
    )
    assert line_reason(error.problem) == "pyhton3 is not in bookworm"  # no command on a line


def test_a_version_the_release_lacks_names_the_versions_it_has() -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve(_catalog(), [parse_request("python3-rsa=4.9-2")])
    error = caught.value
    assert error.code is Code.VERSION_NOT_IN_RELEASE
    assert error.fields["available"] == ("4.8-2",)
    assert (error.fields["operator"], error.fields["version"]) == ("=", "4.9-2")
    assert line_reason(error.problem) == (
        "python3-rsa 4.9-2 is not in bookworm; bookworm has python3-rsa 4.8-2"
    )


def test_an_unreachable_mirror_is_retryable_and_names_the_url() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/dists/bookworm/InRelease"
    waits: list[float] = []
    transport = HttpTransport(timeout=2, retries=1, backoff=0.01, sleep=waits.append)
    with pytest.raises(SourceError) as caught:
        transport.get(url)
    error = caught.value
    assert error.code is Code.SOURCE_UNREACHABLE and error.retryable
    assert error.fields["url"] == url and error.fields["attempts"] == 2
    assert waits == [0.01]
    assert error_json(error)["error"]["retryable"] is True


def test_the_cli_renders_advice_naming_its_commands_from_the_code() -> None:
    missing = NotFoundError(
        "release bookworm has no main/amd64 index snapshot of suite bookworm yet",
        "refresh the release's catalog",
        code=Code.INDEX_MISSING,
        fields={"release": "bookworm", "architecture": "amd64"},
    )
    assert missing.hint == "refresh the release's catalog"
    assert error_hint(missing) == "run `couturier catalog refresh --release bookworm`"
    damaged = IntegrityError("x", "create the bundle again", code=Code.BUNDLE_DAMAGED)
    assert error_hint(damaged) == "create the bundle again (`couturier bundle create NAME ...`)"
    plain = CouturierError("x", "a generic hint", code=Code.FILE_CONFLICT)
    assert error_hint(plain) == "a generic hint"


def test_a_failed_line_gets_the_clis_advice_from_its_code_and_fields() -> None:
    full = Problem(Code.STORAGE_FULL, "no space left on /out", {"path": "/out", "setting": ""})
    assert failure_hint(full) == "free space or choose another --output"
    cache = Problem(Code.STORAGE_FULL, "no space left on /c", {"setting": "cache_dir"})
    assert failure_hint(cache) == "free space or point cache_dir in the settings at another disk"
    damaged = Problem(
        Code.BUNDLE_DAMAGED, "bundle corp-ca@2: file x changed", {"bundle": "corp-ca"}
    )
    assert (
        failure_hint(damaged) == "create the bundle again (`couturier bundle create corp-ca ...`)"
    )
    assert failure_hint(Problem(Code.FILE_CONFLICT, "a and b both ship /x")) == ""


def test_the_scope_advice_names_who_can_make_such_a_token() -> None:
    """A token of too low a scope cannot make a higher one, so the advice for
    ``scope-too-low`` names the server's admin command with the needed scope, and does not
    repeat the message's "this needs a token of scope ..."."""
    error = AccessError(
        "this needs a token of scope admin (or higher); this one is write",
        "scope",
        fields={"needed": "admin", "scope": "write"},
    )
    hint = error_hint(error)
    assert "`couturier admin token create --tenant ID --scope admin`" in hint
    assert "couturier tokens create" not in hint
    assert "needs a token of scope" not in hint
