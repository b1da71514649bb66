#!/usr/bin/env bash
# The gate CI runs after ./install.sh --dev: style, types, then the tests.
#   ./check.sh               everything (the README's test command)
#   ./check.sh -n 2 -m "not e2e and not tmux and not slow"    the fast lane: arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bin=.venv/bin
step() { printf '\n== %s\n' "$*" >&2; }

step "ruff check"
"$bin/ruff" check agentwrap tests bench
step "ruff format --check"
"$bin/ruff" format --check agentwrap tests bench
step "mypy"
"$bin/mypy"
step "pytest $*"
"$bin/python" -m pytest "$@"
