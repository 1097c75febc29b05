#!/usr/bin/env bash
# Starts the whole system on this machine and opens the console:
# nats-server (installed into .venv if missing or older than 2.10) with
# nats.conf, swarm-hub, one swarm-agent for this host. Quitting the console
# stops everything this script started. Logs: .local/logs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .local/logs .local/nats .local/data

nats_server=$(scripts/install-nats-server.sh)
echo "building StreamSwarm (release)…"
cargo build --release --locked --bins
bin="$root/target/release"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open 4222; then
  echo "a NATS server already listens on 127.0.0.1:4222; using it"
else
  "$nats_server" -c nats.conf >.local/logs/nats.log 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do port_open 4222 && break; sleep 0.1; done
  port_open 4222 || { echo "nats-server did not start; see .local/logs/nats.log" >&2; exit 1; }
fi

# Prometheus metrics on 127.0.0.1:9464, unless something else has the port.
metrics=(--metrics-listen 127.0.0.1:9464)
if port_open 9464; then
  echo "port 9464 is in use: the hub runs without /metrics" >&2
  metrics=()
fi
"$bin/swarm-hub" --data .local/data "${metrics[@]}" >.local/logs/hub.log 2>&1 &
pids+=($!)
"$bin/swarm-agent" "$@" >.local/logs/agent.log 2>&1 &
pids+=($!)

"$bin/swarm-tui" ${SWARM_TUI_ARGS:-}
