"""``couturier signing-key``, ``couturier admin signing-key rotate`` and ``couturier verify``.

``signing-key`` prints the tenant's public key from the server (``GET /v1/signing-key``) as
PEM, for ``cosign verify --key``; ``--all`` lists every key with its dates; ``--starters``
the installation's starter key. ``admin signing-key rotate --tenant ID`` works on the
database as the other admin commands do. ``verify HOST/TENANT/NAME:TAG`` reads the image, its
signatures and attestations from the registry at HOST (:mod:`couturier.oci.verify`) and exits
0 when every check holds, 1 naming those that do not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from couturier.cli.output import Progress, print_table
from couturier.errors import Code, CouturierError, InputError
from couturier.settings import Settings

__all__ = ["rotate", "signing_key", "verify"]

# HOST[:PORT]/REPOSITORY(:TAG|@sha256:HEX): the reference forms podman and cosign take.
_REFERENCE = re.compile(
    r"(?P<host>[A-Za-z0-9.-]+(?::[0-9]{1,5})?)/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def signing_key(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``signing-key [--all] [--starters]``: the public key(s) the server signs with."""
    from couturier.cli.remote import remote

    params = {"all": "true" if args.all else "false", "starters": str(args.starters).lower()}
    with remote(settings, args.server) as client:
        answer = client.request("GET", "/v1/signing-key", params=params)
        document = client.json(answer) if args.all else None
    if document is None:
        sys.stdout.write(answer.text)
        return 0
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        print()
        return 0
    rows = [
        [str(k.get("key_id")), str(k.get("created")), str(k.get("retired") or "current")]
        for k in document.get("items") or []
    ]
    print_table(["key", "created", "retired"], rows)
    for key in document.get("items") or []:
        sys.stdout.write(str(key.get("pem")))
    return 0


def rotate(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin signing-key rotate --tenant ID``: prints the new public key (PEM)."""
    from couturier.cli.admin import open_for_admin
    from couturier.services.signing_keys import rotate as rotate_key

    installation = open_for_admin(settings)
    try:
        key = rotate_key(installation, args.tenant)
    finally:
        installation.close()
    print(f"tenant {args.tenant}: new signing key {key.key_id}", file=sys.stderr)
    sys.stdout.write(key.pem)
    return 0


def _reference(text: str) -> tuple[str, str, str]:
    """(host, repository, tag or digest) of ``text``; ``latest`` when it names neither."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        raise InputError(
            f"{text[:200]!r} is not an image reference",
            "write HOST/TENANT/NAME:TAG, e.g. couturier.example:8080/53/my-python:3.13",
            fields={"kind": "image-reference", "value": text[:200]},
        )
    return match["host"], match["repository"], match["digest"] or match["tag"] or "latest"


def _server_keys(settings: Settings, args: argparse.Namespace, repository: str) -> list[Any]:
    """Every public key (current and retired) the server lists for this image's owner."""
    from couturier.cli.remote import remote
    from couturier.oci.signing import load_public_key

    starters = "true" if repository.startswith("starters/") else "false"
    with remote(settings, args.server) as client:
        document = client.get_json("/v1/signing-key", {"all": "true", "starters": starters})
    return [load_public_key(str(k.get("pem")).encode()) for k in document.get("items") or []]


def verify(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``verify HOST/TENANT/NAME:TAG [--key PUB]``: prints each check; 0 when all hold."""
    from couturier.cli.keys import read_public_key
    from couturier.oci.registry import Credentials, RegistryClient, RetryPolicy
    from couturier.oci.verify import RegistryReader, verify_image

    host, repository, reference = _reference(args.image)
    keys: list[ec.EllipticCurvePublicKey]
    if args.key:
        keys = [read_public_key(path) for path in args.key]
    else:
        keys = _server_keys(settings, args, repository)
    server = urlsplit(args.server or settings.server or "")
    ours = server.netloc == host
    scheme = "http" if args.plain_http or (ours and server.scheme == "http") else "https"
    # Couturier's own registry takes the API token as the password (any user name).
    credentials = Credentials("couturier", settings.token) if ours and settings.token else None
    with RegistryClient(
        f"{scheme}://{host}", credentials=credentials, retry=RetryPolicy(attempts=2)
    ) as client:
        try:
            checks = verify_image(RegistryReader(client, repository), reference, keys)
        except LookupError:
            raise CouturierError(
                f"{args.image} names no image",
                "check the name and tag (couturier images get NAME)",
                code=Code.IMAGE_NOT_FOUND,
                fields={"image": args.image[:200]},
            ) from None
        except ValueError as error:
            raise CouturierError(
                f"{args.image}: {error}",
                code=Code.VERIFICATION_FAILED,
                fields={"check": "content", "image": args.image[:200]},
            ) from None
    if args.json:
        json.dump(
            {
                "image": args.image,
                "checks": [
                    {"check": c.name, "digest": c.digest, "holds": c.holds, "problem": c.problem}
                    for c in checks
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        rows = [[c.name, c.digest[:19], "ok" if c.holds else f"FAILS: {c.problem}"] for c in checks]
        print_table(["check", "digest", "result"], rows)
    failing = [c for c in checks if not c.holds]
    if not failing:
        return 0
    first = failing[0]
    raise CouturierError(
        f"{args.image} does not verify: {', '.join(dict.fromkeys(c.name for c in failing))}"
        f" ({first.name} of {first.digest[:19]}: {first.problem})",
        code=Code.VERIFICATION_FAILED,
        fields={"check": first.name, "image": args.image[:200]},
    )
