"""``couturier images``, ``builds`` and ``tokens``: the CLI over a ``couturier serve``'s API.

Every command talks to the server of ``--server`` (else ``COUTURIER_SERVER``, else ``server:``
in the settings file) with the token of ``COUTURIER_TOKEN`` (else ``token:`` in the settings
file) through :mod:`couturier.cli.remote`; what the server refuses is shown as the CLI shows
its own errors. ``images apply SPEC.yaml`` creates the image when its name is new and edits it
otherwise, then follows its build as ``couturier build`` shows one and exits as it does (0
when a line was created, 1 when none was); ``--dry-run`` shows what would change and the
lines a build would create or skip, changing nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from couturier.cli.output import LineProgress, Progress, print_table
from couturier.cli.remote import Remote, image_path, remote
from couturier.core.spec import SpecError, Violation
from couturier.errors import Code, CouturierError, NotFoundError, Problem
from couturier.settings import Settings

__all__ = [
    "builds_get",
    "images_apply",
    "images_delete",
    "images_export",
    "images_get",
    "images_list",
    "images_spec",
    "tokens_create",
    "tokens_list",
    "tokens_revoke",
]

FAILED = "image build failed"
PLAN_NOTE = "the lines' plan needs a server with POST /v1/plan (a newer couturier serve)"


def _client(settings: Settings, args: argparse.Namespace) -> Remote:
    return remote(settings, args.server)


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    print()


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"no private image {name[:100]}",
        "list your images to see their names",
        code=Code.IMAGE_NOT_FOUND,
        fields={"image": name[:100]},
    )


def _existing(client: Remote, name: str) -> str:
    full = client.full_name(name)
    if full is None:
        raise _not_found(name)
    return full


def _short(digest: Any) -> str:
    return str(digest or "").removeprefix("sha256:")[:12] or "-"


def _reason(problem: Any) -> str:
    """A line's problem (``{code, message, fields}``) in words, as ``build`` says it."""
    if not isinstance(problem, Mapping):
        return ""
    from couturier.cli.hints import line_reason

    codes = {str(code): code for code in Code}
    code = codes.get(str(problem.get("code")))
    message = str(problem.get("message") or problem.get("code") or "")
    fields = problem.get("fields")
    if code is None or not isinstance(fields, Mapping):
        return message
    return line_reason(Problem(code, message, fields))


def _print_build_lines(lines: Sequence[Mapping[str, Any]], releases: Mapping[str, str]) -> None:
    """The lines of a build as ``build`` prints them; the release column only when it is
    known (from the stages followed: a build's record does not name them)."""
    headers = ["line", "release", "status", "version", "tags", "digest", "smoke"]
    rows = [
        [
            str(line.get("line")),
            releases.get(str(line.get("line")), "-"),
            str(line.get("status")),
            str(line.get("full_version") or "-"),
            " ".join(line.get("tags") or []) or "-",
            _short(line.get("digest")),
            str((line.get("smoke") or {}).get("status") or "-"),
        ]
        for line in lines
    ]
    if not releases:
        headers.pop(1)
        for row in rows:
            row.pop(1)
    print_table(headers, rows)
    for line in lines:
        reason = _reason(line.get("problem"))
        if reason:
            print(f"{line.get('line')}: {reason}")


def _print_build(build: Mapping[str, Any], releases: Mapping[str, str] | None = None) -> None:
    _print_build_lines(build.get("lines") or [], releases or {})
    for push in build.get("pushes") or []:
        where = f"{push.get('url')}/{push.get('repository')}"
        if push.get("status") == "pushed":
            print(f"{push.get('line')}: pushed to {where}")
        else:
            print(f"{push.get('line')}: not pushed to {where}: {_reason(push.get('problem'))}")
    print(
        f"\n{build.get('image')}: {build.get('status')} (trace {build.get('trace_id')}, "
        f"{build.get('trigger')}, attempt {build.get('attempts')})"
    )


@dataclass
class _Stage:
    """A ``stage`` event of the server, as :class:`LineProgress` shows one."""

    label: str
    release: str
    stage: str
    detail: str = ""
    arch: str = ""

    @property
    def final(self) -> bool:
        return self.stage in ("created", "skipped", "failed")

    @property
    def text(self) -> str:
        head = f"{self.stage} {self.arch}".rstrip()
        if not self.detail:
            return head
        joint = ": " if self.stage in ("skipped", "failed") else " "
        return f"{head}{joint}{self.detail}"


def _follow(client: Remote, trace_id: str, quiet: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Follow a build to its end, one row per line on stderr; the build and each line's
    release."""
    display = LineProgress(sys.stderr, quiet=quiet)
    releases: dict[str, str] = {}

    def shown(name: str, data: dict[str, Any]) -> None:
        if name != "stage":
            return
        stage = _Stage(
            str(data.get("line", "")),
            str(data.get("release", "")),
            str(data.get("stage", "")),
            str(data.get("detail") or ""),
            str(data.get("arch") or ""),
        )
        releases[stage.label] = stage.release
        display(stage)

    try:
        build = client.follow(trace_id, shown)
    finally:
        display.done()
    return build, releases


# -- images ----------------------------------------------------------------------------


def images_list(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images list``: the gallery, every page of it."""
    with _client(settings, args) as client:
        items = list(client.pages("/v1/images"))
    if args.json:
        _dump({"items": items})
        return 0
    rows = []
    for item in items:
        build = item.get("build") or {}
        lines = ", ".join(
            f"{line.get('line')}:{line.get('full_version') or line.get('status')}"
            for line in item.get("lines") or []
        )
        rows.append(
            [
                str(item.get("name")),
                str(item.get("starter")),
                str(build.get("status") or "-"),
                str(build.get("trace_id") or "-"),
                lines or "-",
            ]
        )
    print_table(["name", "starter", "status", "trace", "lines"], rows)
    return 0


def images_get(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images get NAME``: one image, its lines and its last build."""
    with _client(settings, args) as client:
        image = client.get_json(image_path(_existing(client, args.name)))
    if args.json:
        _dump(image)
        return 0
    print(f"{image.get('name')}: {image.get('label')}, {image.get('starter')} starter")
    if image.get("description"):
        print(f"  {image['description']}")
    print(f"  created {image.get('created')}, updated {image.get('updated')}")
    last = image.get("last_build")
    if last:
        print(f"  last build: {last.get('status')} (trace {last.get('trace_id')})")
    lines = image.get("lines") or []
    if lines:
        print("\nlines of the last finished build:")
        _print_build_lines(lines, {})
    if last and last.get("status") == "in progress":
        print(f"\nfollow it with: couturier builds get {last.get('trace_id')} --follow")
    return 0


def images_spec(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images spec NAME``: the image's spec as a YAML spec file (what ``apply`` reads)."""
    with _client(settings, args) as client:
        answer = client.request("GET", image_path(_existing(client, args.name)) + "/spec")
    if args.json:
        import yaml

        _dump({"spec": yaml.safe_load(answer.text)})
    else:
        sys.stdout.write(answer.text)
    return 0


def images_delete(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images delete NAME``: the image, its builds, and its tags and manifests."""
    with _client(settings, args) as client:
        full = _existing(client, args.name)
        client.request("DELETE", image_path(full))
    if args.json:
        _dump({"deleted": full})
    else:
        print(f"{full}: deleted, with its builds and tags")
    return 0


def images_export(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images export NAME --output DIR``: the image's tags, lines and referrers as one OCI
    image layout in DIR (new or empty), unpacked from the server's layout tar."""
    import tempfile

    from couturier.oci.layout_tar import unpack_layout

    output: Path = args.output
    with _client(settings, args) as client:
        full = _existing(client, args.name)
        with tempfile.TemporaryFile() as archive:
            client.download(image_path(full) + "/layout", archive)
            archive.seek(0)
            blobs = unpack_layout(archive, output)
    progress.done()
    if args.json:
        _dump({"image": full, "output": str(output), "blobs": blobs})
    else:
        print(f"{full}: exported to {output} ({blobs} blobs)")
    return 0


def _read_spec(path: Path) -> dict[str, Any]:
    """The spec file at ``path`` as the document to send: read within the bounds of every
    YAML file Couturier reads; the rules are the server's (all its violations come back at
    once), but what JSON cannot carry (a date YAML made of an unquoted value) is refused here."""
    from couturier.services.specs import read_spec_file

    source = f"spec file {path}"
    raw, found = read_spec_file(path)
    if not isinstance(raw, dict):
        raise SpecError([Violation("spec", None, "must be a mapping (name, starter, ...)")], source)
    found += _not_json(raw, "")
    if found:
        raise SpecError(found, source)
    return raw


def _not_json(value: Any, where: str) -> list[Violation]:
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(Violation(where or "spec", key, "keys must be text (quote them)"))
                continue
            found += _not_json(item, f"{where}.{key}" if where else key)
        return found
    if isinstance(value, list):
        return [v for i, item in enumerate(value) for v in _not_json(item, f"{where}[{i}]")]
    if value is None or isinstance(value, str | int | float | bool):
        return []  # the server names a wrong type with the rest
    return [Violation(where, str(value), "must be a text value (quote it)")]


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _env(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _changes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """What applying ``wanted`` over ``current`` (both spec documents) changes."""
    changes: dict[str, Any] = {}
    old, new = str(current.get("description") or ""), str(wanted.get("description") or "")
    changes["description"] = {"from": old, "to": new} if old != new else None
    for key in ("packages", "bundles"):
        before, after = _listed(current.get(key)), _listed(wanted.get(key))
        changes[key] = {
            "added": [p for p in after if p not in before],
            "removed": [p for p in before if p not in after],
        }
    before_env, after_env = _env(current.get("env")), _env(wanted.get("env"))
    changes["env"] = {
        "added": {k: v for k, v in after_env.items() if k not in before_env},
        "removed": {k: v for k, v in before_env.items() if k not in after_env},
        "changed": {
            k: {"from": before_env[k], "to": v}
            for k, v in after_env.items()
            if k in before_env and before_env[k] != v
        },
    }
    for key in ("name", "starter"):
        if key in wanted and wanted.get(key) != current.get(key):
            changes[key] = {"from": current.get(key), "to": wanted.get(key)}
    return changes


def _change_lines(changes: Mapping[str, Any]) -> list[str]:
    shown: list[str] = []
    for key in ("name", "starter"):
        if changes.get(key):
            shown.append(
                f"  {key}: {changes[key]['from']} -> {changes[key]['to']} "
                "(refused: it cannot change after the image is made)"
            )
    description = changes.get("description")
    if description:
        shown.append(f"  description: - {description['from']!r}")
        shown.append(f"  description: + {description['to']!r}")
    for key in ("packages", "bundles"):
        shown += [f"  {key}: - {p}" for p in changes[key]["removed"]]
        shown += [f"  {key}: + {p}" for p in changes[key]["added"]]
    env = changes["env"]
    shown += [f"  env: - {k}={v}" for k, v in env["removed"].items()]
    shown += [f"  env: ~ {k}={c['from']} -> {c['to']}" for k, c in env["changed"].items()]
    shown += [f"  env: + {k}={v}" for k, v in env["added"].items()]
    return shown


def _plan(client: Remote, spec: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    """The server's per-line plan of ``spec`` (``POST /v1/plan``, which checks the spec
    whole); None when the server has no such route."""
    body = {k: v for k, v in spec.items() if k != "architectures"}
    archs = spec.get("architectures")
    params = {"arch": archs[0]} if isinstance(archs, list) and archs else None
    try:
        answer = client.request("POST", "/v1/plan", json=body, params=params, source=source)
    except CouturierError as error:
        if error.code is Code.SERVER_ERROR and error.fields.get("status") in (404, 405):
            return None
        raise
    plan = client.json(answer)
    return plan if isinstance(plan, dict) else None


def _dry_run(client: Remote, args: argparse.Namespace, spec: dict[str, Any]) -> int:
    source = f"spec file {args.spec}"
    name = spec.get("name")
    full = client.full_name(name) if isinstance(name, str) and name else None
    current: dict[str, Any] | None = None
    if full is not None:
        try:
            image = client.get_json(image_path(full))
        except CouturierError as error:
            if error.code is not Code.IMAGE_NOT_FOUND:
                raise
        else:
            current = image.get("spec") if isinstance(image.get("spec"), dict) else {}
    action = "edit" if current is not None else "create"
    changes = _changes(current or {}, spec)
    plan = _plan(client, spec, source)
    ready = [line for line in (plan or {}).get("lines", []) if line.get("status") == "ready"]
    status = 0 if plan is None or ready else 1
    shown = full or (f"{name}" if isinstance(name, str) else "(unnamed)")
    if args.json:
        _dump(
            {
                "dry_run": True,
                "action": action,
                "name": shown,
                "changes": changes,
                "plan": plan,
                "note": None if plan is not None else PLAN_NOTE,
            }
        )
        return status
    verb = "would be edited" if action == "edit" else "would be created"
    print(f"{shown}: {verb} (dry run: nothing was changed)")
    listed = _change_lines(changes)
    if listed:
        print("\n".join(listed))
    elif action == "edit":
        print("  no change to the spec: apply would rebuild it as it is")
    if plan is None:
        print(f"\nlines: {PLAN_NOTE}")
        return status
    print(f"\nlines ({plan.get('architecture')}):")
    rows = []
    for line in plan.get("lines", []):
        ready_line = line.get("status") == "ready"
        size = line.get("size") or {}
        rows.append(
            [
                str(line.get("version")),
                str(line.get("release")),
                "would be created" if ready_line else "would be skipped",
                str(line.get("full_version") or "-"),
                str(len(line.get("packages") or [])) if ready_line else "-",
                _size(size.get("download")) if ready_line else "-",
            ]
        )
    print_table(["line", "release", "build", "version", "packages", "download"], rows)
    for line in plan.get("lines", []):
        reason = _reason(line.get("reason"))
        if reason:
            print(f"{line.get('version')}: {reason}")
    return status


def _size(value: Any) -> str:
    from couturier.cli.output import format_size

    return format_size(value) if isinstance(value, int) else "-"


def images_apply(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``images apply SPEC.yaml [--dry-run] [--no-wait]``."""
    spec = _read_spec(args.spec)
    source = f"spec file {args.spec}"
    with _client(settings, args) as client:
        if args.dry_run:
            return _dry_run(client, args, spec)
        name = spec.get("name")
        full = client.full_name(name) if isinstance(name, str) and name else None
        action = "create"
        answer: Any = None
        if full is not None:
            try:
                client.get_json(image_path(full))
                action = "edit"
            except CouturierError as error:
                if error.code is not Code.IMAGE_NOT_FOUND:
                    raise
        if action == "create":
            try:
                answer = client.json(client.request("POST", "/v1/images", json=spec, source=source))
            except CouturierError as error:
                taken = error.fields.get("image")
                if error.code is not Code.NAME_TAKEN or not isinstance(taken, str):
                    raise
                action, full = "edit", taken  # made meanwhile by someone else
        if action == "edit":
            assert full is not None
            answer = client.json(client.request("PUT", image_path(full), json=spec, source=source))
        accepted = answer.get("build") if isinstance(answer, dict) else None
        if not isinstance(accepted, dict) or not isinstance(accepted.get("trace_id"), str):
            raise CouturierError(
                "the server accepted the spec but named no build",
                code=Code.SERVER_ERROR,
                fields={"server": client.server, "status": 202, "code": None},
            )
        full, trace = str(answer.get("name")), accepted["trace_id"]
        done = "created" if action == "create" else "edited"
        if args.no_wait:
            if args.json:
                _dump({"action": action, **answer})
            else:
                print(f"{full}: {done}; build {trace} {accepted.get('status')}")
                print(f"follow it with: couturier builds get {trace} --follow")
            return 0
        if not args.quiet:
            print(f"{full}: {done}; following build {trace}", file=sys.stderr)
        build, releases = _follow(client, trace, args.quiet)
    if args.json:
        _dump({"action": action, "name": full, "build": build})
    else:
        _print_build(build, releases)
    return 1 if build.get("status") == FAILED else 0


# -- builds ----------------------------------------------------------------------------


def builds_get(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``builds get TRACE_ID [--follow]``: one build; with ``--follow`` its stages until it
    ends, and the exit status of ``build`` (1 when no line was created)."""
    from urllib.parse import quote

    with _client(settings, args) as client:
        releases: dict[str, str] = {}
        if args.follow:
            build, releases = _follow(client, args.trace_id, args.quiet)
        else:
            build = client.get_json(f"/v1/builds/{quote(args.trace_id, safe='')}")
    if args.json:
        _dump(build)
    else:
        _print_build(build, releases)
    return 1 if args.follow and build.get("status") == FAILED else 0


# -- tokens ----------------------------------------------------------------------------


def tokens_create(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``tokens create --scope S``: prints the new token alone (this once)."""
    body: dict[str, Any] = {"scope": args.scope, "description": args.description}
    if args.expires is not None:
        body["expires_days"] = args.expires
    with _client(settings, args) as client:
        made = client.json(client.request("POST", "/v1/tokens", json=body))
    if args.json:
        _dump(made)
    else:
        print(made.get("token"))
    return 0


def tokens_list(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``tokens list``: the tenant's tokens, never a secret."""
    with _client(settings, args) as client:
        items = list(client.pages("/v1/tokens"))
    if args.json:
        _dump({"items": items})
        return 0
    rows = [
        [
            str(t.get("id")),
            str(t.get("scope")),
            str(t.get("description") or "-"),
            str(t.get("created") or "-")[:19],
            str(t.get("expires") or "never")[:19],
            str(t.get("revoked") or "-")[:19],
        ]
        for t in items
    ]
    print_table(["id", "scope", "description", "created", "expires", "revoked"], rows)
    return 0


def tokens_revoke(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``tokens revoke ID``: refused from the next request on."""
    from urllib.parse import quote

    with _client(settings, args) as client:
        revoked = client.json(
            client.request("DELETE", f"/v1/tokens/{quote(args.token_id, safe='')}")
        )
    if args.json:
        _dump(revoked)
    else:
        print(f"token {revoked.get('id')}: revoked")
    return 0
