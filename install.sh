#!/usr/bin/env bash
# Install agentwrap into a virtual environment in this checkout (.venv) and link the
# `agentwrap` command into ~/.local/bin. Safe to run again.
#   ./install.sh          the tool
#   ./install.sh --dev    the tool, the test dependencies and the agent CLIs the tests drive
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (known: --dev)" >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*" >&2; }

python_ok() {  # a Python that really runs and is >= 3.12
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local c
  for c in python3.13 python3.12 python3; do
    if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then echo "$c"; return 0; fi
  done
  # pyenv keeps versions that its shims do not expose unless selected.
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for c in "$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3 \
           /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do
    if [ -x "$c" ] && python_ok "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

if [ -x "$venv/bin/python" ] && python_ok "$venv/bin/python"; then
  :
elif py="$(find_python)"; then
  say "creating $venv with $("$py" --version 2>&1)"
  "$py" -m venv "$venv"
elif command -v uv >/dev/null 2>&1; then
  say "no Python >= 3.12 found; asking uv for one"
  uv venv --python '>=3.12' "$venv"
else
  say "agentwrap needs Python >= 3.12 and none was found (looked for python3.13, python3.12,"
  say "python3, pyenv versions and uv). Install one, e.g. 'apt-get install python3.12', then run again."
  exit 1
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip >/dev/null 2>&1 || true
if [ "$dev" = 1 ]; then
  "${pip[@]}" install -e "$here[dev]"
else
  "${pip[@]}" install -e "$here"
fi

mkdir -p "$HOME/.local/bin"
ln -sf "$venv/bin/agentwrap" "$HOME/.local/bin/agentwrap"
say "installed: $HOME/.local/bin/agentwrap -> $venv/bin/agentwrap"
case ":$PATH:" in
  *":$HOME/.local/bin:"*) ;;
  *) say "add ~/.local/bin to your PATH to run 'agentwrap' directly" ;;
esac

if [ "$dev" = 1 ]; then
  # The terminal tests drive real terminals through tmux.
  if ! command -v tmux >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing tmux for the terminal tests"
    (apt-get update -qq && apt-get install -y -qq tmux) >/dev/null 2>&1 || say "could not install tmux"
  fi
  # The end-to-end tests drive the real agent CLIs, pinned in tests/e2e/agents.
  if command -v npm >/dev/null 2>&1; then
    say "installing the agent CLIs the tests drive (npm)"
    (cd "$here/tests/e2e/agents" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  else
    say "npm not found: the end-to-end tests that drive real agent CLIs will be skipped"
  fi
fi
