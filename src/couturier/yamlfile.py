"""Reading a YAML file a user hands in (a spec, the settings, a site starter) within bounds.

:func:`load_yaml` reads at most :data:`~couturier.core.yamltext.MAX_YAML_BYTES` bytes of a file
or a pipe (``couturier plan <(envsubst < spec.yaml)``), decodes them as UTF-8 and parses them
with :func:`couturier.core.yamltext.parse_yaml`, which holds the rules (no aliases, bounded
nesting and size). This is the I/O half; the core only ever sees text.
"""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from couturier.core.yamltext import (
    MAX_YAML_BYTES,
    SMALL_HINT,
    YamlDocument,
    YamlProblem,
    YamlUnreadable,
    parse_yaml,
)

__all__ = ["PIPE_WAIT", "load_yaml"]

PIPE_WAIT = 10.0  # seconds a pipe (couturier plan <(envsubst < spec.yaml)) may take to end


def _unreadable(exc: BaseException) -> YamlUnreadable:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return YamlUnreadable(reason)


def _read(path: Path) -> bytes:
    """At most :data:`MAX_YAML_BYTES` + 1 bytes of ``path``. Anything but a regular file (a
    named pipe, ``<(...)``, a device) is read by a helper thread, waited for at most
    :data:`PIPE_WAIT` seconds: a named pipe nobody writes to would block forever in ``open``.
    """
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise _unreadable(exc) from None
    if regular:
        try:
            with path.open("rb") as handle:
                return handle.read(MAX_YAML_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise _unreadable(exc) from None
    read: list[bytes] = []
    failed: list[BaseException] = []

    def reader() -> None:
        try:
            with path.open("rb") as handle:
                read.append(handle.read(MAX_YAML_BYTES + 1))
        except (OSError, ValueError) as exc:
            failed.append(exc)

    # A daemon thread: one left waiting on a silent pipe does not keep the process alive.
    thread = threading.Thread(target=reader, name=f"read {path.name}", daemon=True)
    thread.start()
    thread.join(PIPE_WAIT)
    if failed:
        raise _unreadable(failed[0]) from None
    if not read:
        raise YamlUnreadable(
            f"no data came from it within {PIPE_WAIT:.0f} s (a named pipe nobody writes to?)",
            "write the file first, or give a regular file",
        )
    return read[0]


def load_yaml(path: Path) -> YamlDocument:
    """Read the YAML file at ``path`` (see :func:`parse_yaml`): a file, or a pipe, of at most
    :data:`MAX_YAML_BYTES` bytes of UTF-8. A pipe or device that gives no end of data within
    :data:`PIPE_WAIT` seconds is given up on (:func:`_read`).

    Raises :class:`YamlUnreadable` when it cannot be read, :class:`YamlProblem` otherwise.
    """
    raw = _read(path)
    if len(raw) > MAX_YAML_BYTES:
        raise YamlProblem(f"has more than {MAX_YAML_BYTES:,} bytes", SMALL_HINT)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlProblem(f"is not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None
    return parse_yaml(text)
