#!/usr/bin/env bash
# The run command: statport on its embedded default (no Redis, no S3: task records, schedules and
# the queue in target/demo/statport.db, logs and result files under target/demo/objects/). Writes a
# day of demo CloudFront logs (yesterday, UTC) for the `demo` tenant, the same in the Huawei
# format for the `demo-huawei` tenant (key "demo-huawei-key"), and the IP database that places
# their clients (target/demo/ipdb.mmdb, config/demo.toml's ip_database.path), then runs statport
# (API, workers and the scheduler in one process) on 127.0.0.1:8080. Ctrl-C stops it gracefully;
# run it again and every accepted task and schedule is still there.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p statport
# The demo's own config: the `demo` tenant and its published key "demo-key" (never for real use).
export STATPORT_CONFIG="${STATPORT_CONFIG:-config/demo.toml}"
./target/release/statport gen-ipdb --out target/demo/ipdb.mmdb
./target/release/statport gen-logs --tenant demo --hours 24 --lines-per-hour "${DEMO_LINES_PER_HOUR:-2000}"
./target/release/statport gen-logs --tenant demo-huawei --hours 24 --lines-per-hour "${DEMO_LINES_PER_HOUR:-2000}"
exec ./target/release/statport serve "$@"
