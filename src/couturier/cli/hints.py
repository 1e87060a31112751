"""What the command line tells a person about an error: its advice, from the error's code and
fields, naming the CLI's own commands and flags where they help.

Below the interfaces an error carries a code, fields and at most generic advice that names no
command (:mod:`couturier.errors`); here a code becomes "run `couturier catalog refresh
--release bookworm`". :func:`error_hint` is the advice for an error that stops a command;
:func:`line_reason` is the sentence for a line of a plan or build that is skipped or failed
(what is missing and the facts beside it, never a command: the line cannot act on it), and
:func:`failure_hint` the advice for a failed one (a bundle to create again, another --output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from couturier.errors import Code, CouturierError, FieldValue, Problem

__all__ = ["error_hint", "failure_hint", "line_reason"]

Fields = Mapping[str, FieldValue]


def _listed(value: FieldValue) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _did_you_mean(fields: Fields) -> str:
    near = _listed(fields.get("suggestions"))
    if not near:
        return ""
    listed = near[0] if len(near) == 1 else f"{', '.join(near[:-1])} or {near[-1]}"
    return f"did you mean {listed}? "


def _refresh(fields: Fields) -> str:
    release = fields.get("release")
    flag = f" --release {release}" if isinstance(release, str) and release else ""
    return f"run `couturier catalog refresh{flag}`"


def _package_not_found(fields: Fields, generic: str) -> str:
    return f"{_did_you_mean(fields)}check the spelling or search with `couturier packages search`"


def _bundle_not_found(fields: Fields, generic: str) -> str:
    if fields.get("what") == "version":
        return generic
    create = "create one with `couturier bundle create`"
    return f"{generic}; {create}" if generic else create


def _bundle_damaged(fields: Fields, generic: str) -> str:
    bundle = fields.get("bundle")
    name = str(bundle).partition("@")[0] if bundle else "NAME"
    return f"create the bundle again (`couturier bundle create {name} ...`)"


def _elsewhere(fields: Fields) -> str:
    setting = fields.get("setting")
    if setting:
        return f"point {setting} in the settings at another disk"
    return "choose another --output"


def _storage_full(fields: Fields, generic: str) -> str:
    return f"free space or {_elsewhere(fields)}"


def _storage_unwritable(fields: Fields, generic: str) -> str:
    return f"fix it or {_elsewhere(fields)}"


def _settings(fields: Fields, generic: str) -> str:
    return "check --config or COUTURIER_CONFIG" if fields.get("unreadable") else generic


_Render = Callable[[Fields, str], str]

_TOKEN = (
    "set COUTURIER_TOKEN (or token: in the settings file) to a valid token: "
    "`couturier tokens create` or, on the server, `couturier admin token create` makes one"
)


def _scope(fields: Fields, generic: str) -> str:
    # The message already names the scope; the advice says who can make such a token (a
    # token of a lower scope cannot make one of a higher scope, so not `couturier tokens`).
    needed = fields.get("needed")
    if not needed:
        return _TOKEN
    return (
        f"set COUTURIER_TOKEN to a token of scope {needed}: on the server, "
        f"`couturier admin token create --tenant ID --scope {needed}` makes one"
    )


# Codes whose advice names a command or a flag; every other code shows the error's own hint.
_HINTS: Mapping[Code, _Render] = {
    Code.INDEX_MISSING: lambda fields, generic: _refresh(fields),
    Code.SNAPSHOT_DAMAGED: lambda fields, generic: (
        "run `couturier catalog refresh` to download it again"
    ),
    Code.SUITE_STATE_DAMAGED: lambda fields, generic: (
        "run `couturier catalog refresh` to rebuild it from the signed InRelease"
    ),
    Code.PACKAGE_NOT_FOUND: _package_not_found,
    Code.BUNDLE_NOT_FOUND: _bundle_not_found,
    Code.BUNDLE_DAMAGED: _bundle_damaged,
    Code.OUTPUT_UNUSABLE: lambda fields, generic: (
        "name a new directory (it is created), or an OCI image layout, with --output"
    ),
    Code.STORAGE_FULL: _storage_full,
    Code.STORAGE_UNWRITABLE: _storage_unwritable,
    Code.SETTINGS_INVALID: _settings,
    Code.INSTALLATION_NOT_EMPTY: lambda fields, generic: (
        "restore into an empty data directory (data_dir, COUTURIER_DATA_DIR), or add --force "
        "to replace that installation"
    ),
    Code.TOKEN_MISSING: lambda fields, generic: _TOKEN,
    Code.TOKEN_INVALID: lambda fields, generic: _TOKEN,
    Code.TOKEN_EXPIRED: lambda fields, generic: _TOKEN,
    Code.TOKEN_REVOKED: lambda fields, generic: _TOKEN,
    Code.SCOPE_TOO_LOW: _scope,
    Code.IMAGE_NOT_FOUND: lambda fields, generic: (
        _did_you_mean(fields)
        + "`couturier images list` shows your images; `couturier images apply SPEC.yaml` makes one"
    ),
    Code.BUILD_NOT_FOUND: lambda fields, generic: (
        "`couturier images get NAME` shows an image's last build and its trace ID"
    ),
    Code.ACTION_NOT_FOUND: lambda fields, generic: (
        "`couturier actions list` shows your actions and their IDs"
    ),
    Code.NAME_TAKEN: lambda fields, generic: (
        "`couturier images apply` edits an image of that name"
        if fields.get("image")
        else "`couturier actions remove ID` frees an action's name"
        if fields.get("action")
        else generic
    ),
    Code.SERVER_UNREACHABLE: lambda fields, generic: (
        "check --server (or COUTURIER_SERVER, server: in the settings file) and that "
        "`couturier serve` runs there"
    ),
    Code.TENANT_NOT_FOUND: lambda fields, generic: (
        f"{_did_you_mean(fields)}`couturier admin tenant list` shows the tenants; "
        "`couturier admin tenant create NAME` makes one"
    ),
}


def error_hint(error: CouturierError) -> str:
    """The advice the CLI shows for ``error``: rendered from its code and fields where the CLI
    has something better to say (a command to run), else the error's own hint."""
    render = _HINTS.get(error.code)
    return render(error.fields, error.hint) if render else error.hint


def failure_hint(problem: Problem) -> str:
    """The CLI's advice for a failed line, from its code and fields alone (a line carries no
    generic hint): empty for codes the CLI has nothing to add to."""
    render = _HINTS.get(problem.code)
    return render(problem.fields, "") if render else ""


def _line_facts(problem: Problem) -> str:
    """The facts a person needs beside a line's reason (what the release has instead)."""
    fields = problem.fields
    if problem.code is Code.VERSION_NOT_IN_RELEASE:
        available = _listed(fields.get("available"))
        if available:
            return f"{fields.get('release')} has {fields.get('package')} {', '.join(available)}"
        providers = _listed(fields.get("providers"))
        if providers:
            return "providers: " + ", ".join(providers)
    return ""


def line_reason(problem: Problem) -> str:
    """Why a line was skipped or failed, in words: ``python3-rsa 4.9-2 is not in bookworm;
    bookworm has python3-rsa 4.8-2``."""
    facts = _line_facts(problem)
    return f"{problem.message}; {facts}" if facts else problem.message
