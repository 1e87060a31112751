"""Signing figure (issue 14): what signing and attesting add to a warm rebuild of the python
starter.

Every line of the ``python`` starter (amd64) is built warm (bench/build.py's verified indexes,
package and layer caches in ``$XDG_CACHE_HOME/couturier-bench``; one unsigned build first
fills them) into a new OCI layout, alternately unsigned and signed with an ECDSA P-256 key
(:class:`couturier.oci.signing.KeySigner`): a cosign signature of each line's manifest and the
SLSA provenance, SPDX and CycloneDX attestations in DSSE envelopes, written as referrers and
under the ``.sig``/``.att`` tags. Target: signing adds at most 5 % to the median. Run with
``uv run python -m bench.signing [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Sequence

from bench.engine import ARCH, BASE, bench_settings, median, timed_build
from bench.report import machine, write_section
from couturier.oci.signing import KeySigner, generate_key

STARTER = "python"
TARGET = 0.05


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="builds of each kind")
    args = parser.parse_args(argv)
    settings = bench_settings()
    work = BASE / "work" / "signing"
    signer = KeySigner(generate_key())
    first = timed_build(settings, STARTER, work / "warm-up", None)  # fills the caches
    created = [line.version for line in first.result.lines if line.status == "created"]
    if not created:
        raise SystemExit(f"no python line was built: {first.result.to_json()}")
    load_before = os.getloadavg()
    plain: list[float] = []
    signed: list[float] = []
    for round_ in range(args.rounds):
        order = [(plain, None), (signed, signer)]
        for seconds, with_key in order if round_ % 2 == 0 else order[::-1]:
            built = timed_build(settings, STARTER, work / "out", None, signer=with_key)
            assert [line.status for line in built.result.lines].count("created") == len(created)
            seconds.append(built.seconds)
    load_after = os.getloadavg()
    plain_s, signed_s = median(plain), median(signed)
    added = signed_s / plain_s - 1
    verdict = "**met**" if added <= TARGET else "**not met**"
    body = "\n".join(
        [
            "## Signing and attesting a warm rebuild",
            "",
            f"Machine: {machine()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load "
            f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min; other "
            "work shared the 2 cores).",
            "",
            f"Every `{STARTER}` line ({', '.join(created)}; {ARCH}), warm (every package and "
            "layer cached), into a new OCI layout; unsigned and signed builds alternate, "
            f"{args.rounds} of each. Signed: a cosign signature of each manifest and its SLSA "
            "provenance, SPDX and CycloneDX attestations (DSSE, ECDSA P-256, RFC 6979), as "
            "referrers and under the `.sig`/`.att` tags (`bench/signing.py`).",
            "",
            "| build | median s | runs |",
            "|---|---:|---|",
            f"| unsigned | {plain_s:.3f} | {', '.join(f'{s:.3f}' for s in plain)} |",
            f"| signed and attested | {signed_s:.3f} | {', '.join(f'{s:.3f}' for s in signed)} |",
            "",
            f"Signing adds **{added * 100:+.1f} %** ({(signed_s - plain_s) * 1000:+.0f} ms). "
            f"Target: at most {TARGET * 100:.0f} %. {verdict}.",
        ]
    )
    write_section("signing", body)
    print(body)


if __name__ == "__main__":
    main()
