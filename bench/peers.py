"""Peer measurements run under Debian's own Python (/usr/bin/python3), where apt_pkg and solv live.

Usage: ``/usr/bin/python3 bench/peers.py tagfile PACKAGES_FILE ROUNDS identity|all``
       ``/usr/bin/python3 bench/peers.py libsolv ARCH ROUNDS PACKAGES_FILE... -- PKG...``
Prints one JSON object with the per-round seconds. Not imported by Couturier.
"""

from __future__ import annotations

import json
import sys
import time


def tagfile(path: str, rounds: int, fields: str) -> dict[str, object]:
    """Iterate the sections reading the identity fields ("identity") or every field ("all")."""
    import apt_pkg

    times = []
    count = 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = 0
        with open(path, "rb") as handle:
            for section in apt_pkg.TagFile(handle):
                if fields == "all":
                    dict(section)
                else:
                    section["Package"], section["Version"], section.get("Architecture")
                count += 1
        times.append(time.perf_counter() - start)
    return {"seconds": times, "packages": count}


def libsolv(arch: str, rounds: int, files: list[str], names: list[str]) -> dict[str, object]:
    import solv

    start = time.perf_counter()
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_DEB)
    pool.setarch(arch)
    for index, path in enumerate(files):
        repo = pool.add_repo(f"r{index}")
        handle = solv.xfopen(path)
        repo.add_debpackages(handle)
        handle.close()
    pool.installed = pool.add_repo("installed")
    pool.addfileprovides()
    pool.createwhatprovides()
    load = time.perf_counter() - start
    times = []
    installed = 0
    for _ in range(rounds):
        start = time.perf_counter()
        jobs = [
            pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_NAME, pool.str2id(n))
            for n in names
        ]
        solver = pool.Solver()
        solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
        problems = solver.solve(jobs)
        installed = -1 if problems else len(solver.transaction().newsolvables())
        times.append(time.perf_counter() - start)
    return {"seconds": times, "load_seconds": load, "packages": installed}


def main() -> None:
    mode = sys.argv[1]
    if mode == "tagfile":
        result = tagfile(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        rest = sys.argv[4:]
        cut = rest.index("--")
        result = libsolv(sys.argv[2], int(sys.argv[3]), rest[:cut], rest[cut + 1 :])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
