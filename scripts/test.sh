#!/usr/bin/env bash
# The test command: starts Redis and the S3-compatible test server when they are not running,
# then runs every test of the workspace (unit tests and the end-to-end tests over real servers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/start-redis.sh
scripts/start-s3.sh
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
export S3_ENDPOINT="${S3_ENDPOINT:-http://127.0.0.1:${S3_PORT:-9000}}"
cargo test --workspace --no-fail-fast "$@"
