"""YAML written by users (specs, settings), read with limits.

A YAML file a user hands in is read safely (PyYAML's safe loader: plain data only) and within
bounds, so that no file makes Couturier use more than a little memory or time:

- at most :data:`MAX_YAML_BYTES` bytes (read no further), as UTF-8;
- no aliases (``*name``): an alias repeats a node without writing it out again, which is how
  a few hundred bytes expand to gigabytes ("billion laughs"); a spec or settings file never
  needs one, so the line of the first alias is named instead;
- at most :data:`MAX_DEPTH` levels of nesting (the composer is recursive) and
  :data:`MAX_NODES` values (each costs PyYAML time and memory far beyond its bytes);
- mapping keys written twice are recorded (YAML would keep the last one silently).

Every failure is a :class:`YamlProblem` (what is wrong, to follow the file's name, and a hint)
that the caller turns into its own error: a spec violation, a settings
:class:`~couturier.errors.ConfigError`.

Pure: :func:`parse_yaml` takes text. Reading a file or a pipe within the same bounds is
:func:`couturier.yamlfile.load_yaml`'s job.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_YAML_BYTES",
    "SMALL_HINT",
    "YamlDocument",
    "YamlProblem",
    "YamlUnreadable",
    "parse_yaml",
]

MAX_YAML_BYTES = 1024 * 1024
MAX_DEPTH = 64
# Values (scalars, lists, mappings) in one document. PyYAML spends some 40 µs and 700 bytes on
# each: a megabyte of [1,1,1,...] took 20 s and 350 MB. A spec of 100 packages and a few
# hundred env entries holds under 2,000.
MAX_NODES = 10_000


class _Refused(Exception):  # noqa: N818 - a reason, turned into the caller's error
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _Loader(yaml.SafeLoader):
    """A safe loader that refuses aliases and deep nesting and records keys written twice."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int]] = []
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused(
                event.start_mark.line + 1,
                f"uses the YAML alias *{event.anchor}; write the value out instead",
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(
                mark.line + 1,
                f"holds more than {MAX_NODES:,} values; a spec or settings file holds a few "
                "hundred",
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(mark.line + 1, f"nests more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # What a constructor raises on a value it cannot make (a date 2030-13-45, a number
        # too large) is named by the value's line, as a syntax error is.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError, RecursionError) as exc:
            raise _Refused(
                node.start_mark.line + 1,
                f"holds a value YAML cannot read ({' '.join(str(exc).split())[:200]}); quote "
                "it to keep it as text, or correct it",
            ) from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                loader.duplicates.append((key, key_node.start_mark.line + 1))
            seen.add(key)
        except TypeError:
            continue
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlDocument:
    """A parsed document: ``data`` (plain Python values) and ``duplicates``, the mapping keys
    written more than once with the line of each repeat."""

    def __init__(self, data: Any, duplicates: list[tuple[Any, int]]) -> None:
        self.data = data
        self.duplicates = duplicates


class YamlProblem(Exception):  # noqa: N818 - turned into the caller's own error
    """Why a YAML file cannot be used: ``what`` (``line 5 uses the YAML alias *a``, ``is not
    valid YAML: ...``), to follow the file's name, and ``hint``, what to do."""

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint


class YamlUnreadable(YamlProblem):
    """The file could not be read at all (missing, no permission, not a regular file)."""


SMALL_HINT = "a spec or settings file is a few lines; check that this is the right file"


def _marked(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's error as one line in our words: ``line 2 is not valid YAML: expected ',' or
    ']', but got '<stream end>' (while parsing a flow sequence from line 1, column 7)``,
    without its ``"<unicode string>"`` names and the ``^`` markers of its snippets."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1} " if mark else ""
    said = " ".join(str(exc.problem or "").split()) or "cannot be parsed"
    context = exc.context or ""
    if context and exc.context_mark is not None:
        at = exc.context_mark
        context = f"{context} from line {at.line + 1}, column {at.column + 1}"
    return f"{where}is not valid YAML: {said}" + (f" ({context})" if context else "")


def parse_yaml(text: str) -> YamlDocument:
    """Parse ``text``.

    Raises :class:`YamlProblem` for text longer than :data:`MAX_YAML_BYTES`, invalid YAML, an
    alias or nesting deeper than :data:`MAX_DEPTH`. Cost: linear in the text.
    """
    if len(text) > MAX_YAML_BYTES:
        raise YamlProblem(f"has more than {MAX_YAML_BYTES:,} characters", SMALL_HINT)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # its reader already refuses characters YAML does not allow
        return YamlDocument(loader.get_single_data(), loader.duplicates)
    except _Refused as refused:
        raise YamlProblem(f"line {refused.line} {refused.reason}") from None
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(_marked(exc), "fix the line it names") from None
    except yaml.YAMLError as exc:
        said = " ".join(str(exc).split())
        raise YamlProblem(f"is not valid YAML: {said}", "fix the line it names") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # What a constructor raises on a value it cannot make (a date out of range...).
        raise YamlProblem(f"holds a value YAML cannot read: {exc}", "fix it") from None
    finally:
        if loader is not None:
            loader.dispose()
