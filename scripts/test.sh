#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests against a real
# nats-server (installed project-locally if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export NATS_SERVER_BIN="$(scripts/install-nats-server.sh)"
echo "using $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version))"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# Two cores: keep the fan-out small; tests start their own servers.
cargo test --workspace --all-features --locked -- --test-threads=4
