#!/usr/bin/env bash
# Make this machine ready for Couturier: the Debian tools it calls, uv, the project's Python
# environment (in $venv_dir) and the console's browser libraries (node_modules/, by npm ci). Idempotent and quiet when everything is already there. Sourced by ./couturier and
# ./run-tests; TOOLS_EXTRA may name more Debian packages (command:package pairs) to ensure.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

# command:debian-package pairs; a command that is missing pulls its package.
tools="gpgv:gpgv gpg:gpg xz:xz-utils dpkg-deb:dpkg apt-get:apt npm:npm ${TOOLS_EXTRA:-}"
missing=()
for pair in $tools; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# uv lives in a venv of its own so a system Python that forbids pip installs still works; an
# earlier run's copy is found there before anything is installed again.
tools_venv="${XDG_DATA_HOME:-$HOME/.local/share}/couturier-tools"
if ! command -v uv >/dev/null 2>&1 && [ -x "$tools_venv/bin/uv" ]; then
    export PATH="$tools_venv/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
    if ! python3 -m venv "$tools_venv" >/dev/null 2>&1; then
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$tools_venv"
    fi
    echo "installing uv into $tools_venv" >&2
    "$tools_venv/bin/pip" install --quiet uv
    export PATH="$tools_venv/bin:$PATH"
fi

# The project environment is synced only when uv.lock or pyproject.toml changed since the last
# successful sync (their checksums are stamped into the environment after it): a `uv sync` that
# finds nothing to do still costs a tenth of a second on every ./couturier command.
venv_dir="${UV_PROJECT_ENVIRONMENT:-.venv}"
case "$venv_dir" in /*) ;; *) venv_dir="$root_dir/$venv_dir" ;; esac
sync_stamp="$venv_dir/.couturier-sync-stamp"
sync_inputs() { (cd "$root_dir" && cksum pyproject.toml uv.lock 2>/dev/null || true); }
if [ ! -x "$venv_dir/bin/couturier" ] || [ "$(cat "$sync_stamp" 2>/dev/null)" != "$(sync_inputs)" ]; then
    (cd "$root_dir" && uv sync --quiet --frozen 2>/dev/null || uv sync --quiet)
    sync_inputs >"$sync_stamp"  # after the sync, which may have written uv.lock
fi

# The console's browser libraries (htmx), exactly as package-lock.json pins them: installed by
# `npm ci` when node_modules/ is missing or the lockfile changed since the last install (its
# checksum is stamped into node_modules/ after it). --ignore-scripts: nothing of a package runs.
npm_stamp="$root_dir/node_modules/.couturier-npm-stamp"
npm_inputs() { (cd "$root_dir" && cksum package.json package-lock.json 2>/dev/null || true); }
# A checkout without a lockfile (an installed copy, the scripts' own tests) has nothing to install.
if [ -f "$root_dir/package-lock.json" ] && { [ ! -d "$root_dir/node_modules" ] ||
    [ "$(cat "$npm_stamp" 2>/dev/null)" != "$(npm_inputs)" ]; }; then
    if ! (cd "$root_dir" && npm ci --ignore-scripts --no-audit --no-fund --silent >/dev/null); then
        echo "couturier: npm ci failed: the console's scripts (package-lock.json) could not be" \
            "installed; install npm (apt-get install npm) and check the npm registry is reachable" >&2
        exit 1
    fi
    npm_inputs >"$npm_stamp"
fi
