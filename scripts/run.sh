#!/usr/bin/env bash
# The run command: starts Redis and the S3-compatible server when they are not running, writes a
# day of demo CloudFront logs (yesterday, UTC) for the `demo` tenant, the same in the Huawei
# format for the `demo-huawei` tenant (key "demo-huawei-key"), and the IP database that
# places their clients (target/demo/ipdb.mmdb, config/demo.toml's ip_database.path), then runs
# statport (API and workers in one process) on 127.0.0.1:8080. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/start-redis.sh
scripts/start-s3.sh
cargo build --release -p statport
# The demo's own config: the `demo` tenant and its published key "demo-key" (never for real use).
export STATPORT_CONFIG="${STATPORT_CONFIG:-config/demo.toml}"
./target/release/statport gen-ipdb --out target/demo/ipdb.mmdb
./target/release/statport gen-logs --tenant demo --hours 24 --lines-per-hour "${DEMO_LINES_PER_HOUR:-2000}"
./target/release/statport gen-logs --tenant demo-huawei --hours 24 --lines-per-hour "${DEMO_LINES_PER_HOUR:-2000}"
exec ./target/release/statport serve "$@"
