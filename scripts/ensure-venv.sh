#!/usr/bin/env bash
# Make sure VENV (default .venv) is a working virtual environment of PYTHON (default
# python3): its python runs pip. Nothing is installed into it here; the Makefile does that.
#
# In order: trust a venv only if `VENV/bin/python -m pip --version` works, else remove it
# (a half-made one, left by a failed first run, is never trusted); make sure PYTHON can
# make venvs (Debian's python3 cannot until python3-venv is installed: apt-get as root,
# else say what to install); make the venv, and remove it again if it came out without pip.
#
#   scripts/ensure-venv.sh [PYTHON] [VENV]
set -euo pipefail

readonly PYTHON="${1:-python3}"
readonly VENV="${2:-.venv}"

say() { echo "ensure-venv: $*"; }

fail() {
    echo "ensure-venv: FAILED: $*" >&2
    exit 1
}

works() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

can_make_venvs() { "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; }

if works; then
    exit 0
fi
if [ -e "$VENV" ]; then
    say "$VENV has no working pip (a failed earlier run?): removing it and starting over"
    rm -rf "$VENV"
fi

command -v "$PYTHON" >/dev/null || fail "no $PYTHON: install Python 3.11 or newer (apt-get install python3)"

if ! can_make_venvs; then
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    packages="python3-venv python${version}-venv"
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        fail "$PYTHON cannot make virtual environments (no ensurepip). Install the venv module," \
            "as root: apt-get install $packages   (then run make again)"
    fi
    say "$PYTHON cannot make virtual environments: installing $packages"
    apt-get update -qq
    # python3-venv is the default python3's; the versioned one covers another python3.X.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    can_make_venvs ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv" >/dev/null
    can_make_venvs || fail "$PYTHON still cannot make virtual environments after installing $packages"
fi

say "making $VENV with $PYTHON"
if ! "$PYTHON" -m venv "$VENV" || ! works; then
    rm -rf "$VENV"
    fail "$PYTHON -m venv $VENV did not make a venv with a working pip (removed it again)"
fi
