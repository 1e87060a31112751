#!/usr/bin/env bash
# Make this machine ready for Couturier: the Debian tools it calls, uv, and the project's Python
# environment. Idempotent and quiet when everything is already there. Sourced by ./couturier and
# ./run-tests; TOOLS_EXTRA may name more Debian packages (command:package pairs) to ensure.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

# command:debian-package pairs; a command that is missing pulls its package.
tools="gpgv:gpgv gpg:gpg xz:xz-utils dpkg-deb:dpkg apt-get:apt ${TOOLS_EXTRA:-}"
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

(cd "$root_dir" && uv sync --quiet --frozen 2>/dev/null || uv sync --quiet)
