#!/usr/bin/env bash
# The test command: installs what the tests need, then runs them.
#
#   bash scripts/test.sh [pytest arguments]
#
# 1. Debian/Ubuntu packages the tests use: bubblewrap (the code sandbox) and chromium (the chat page's
#    browser test), installed with apt-get when run as root or with passwordless sudo; otherwise the
#    tests that need them are skipped, each with its reason.
# 2. Python packages, into the active virtual environment, or else into .venv in the checkout
#    (created if missing): torch first, so that nothing pulls a multi-GB CUDA build where a CPU wheel
#    is wanted, then r1kit with its test extra.
# 3. pytest, printing the reason for every skipped test (and a line for each failure or error).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

install_debian_packages() {
  local missing=""
  command -v bwrap >/dev/null || missing="$missing bubblewrap"
  command -v chromium >/dev/null || missing="$missing chromium"
  [ -n "$missing" ] || return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
  fi
  if ! command -v apt-get >/dev/null || [ "$sudo" = none ]; then
    echo "scripts/test.sh: not installing$missing (needs apt-get as root or sudo); the tests that use them will be skipped"
    return 0
  fi
  echo "scripts/test.sh: installing Debian packages:$missing"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

python_env() {
  if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || { echo "scripts/test.sh: creating .venv"; python3 -m venv .venv; }
    # shellcheck disable=SC1091
    . .venv/bin/activate
  fi
  python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
  python -m pip install -q -e ".[test]"
}

install_debian_packages
python_env
exec python -m pytest -rfEs "$@"
