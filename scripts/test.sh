#!/usr/bin/env bash
# The test command: starts Redis and the S3-compatible test server when they are not running,
# runs every test of the workspace (unit tests, the conformance suites of every backend, and the
# end-to-end tests over Redis + S3), then the end-to-end suite again on the embedded default
# (SQLite + a local folder): one suite, two backends. Extra arguments go to the first run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/start-redis.sh
scripts/start-s3.sh
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
export S3_ENDPOINT="${S3_ENDPOINT:-http://127.0.0.1:${S3_PORT:-9000}}"
echo "==> every test; end-to-end on Redis + S3"
STATPORT_E2E_BACKEND=redis cargo test --workspace --no-fail-fast "$@"
# The outage tests cut Redis and S3 behind relays and the chaos test kills a Redis server: they
# have no embedded counterpart.
echo "==> end-to-end on the embedded default (SQLite + local folder)"
STATPORT_E2E_BACKEND=embedded cargo test -p statport --test e2e --no-fail-fast -- --skip outage:: --skip chaos::
