#!/usr/bin/env bash
# Starts a throw-away Redis on 127.0.0.1:6379 unless one already answers there (idempotent).
# Installs Debian's redis-server first when it is missing.
set -euo pipefail

if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "start-redis: installing redis-server"
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
for _ in $(seq 1 60); do
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        echo "start-redis: redis answers on 127.0.0.1:6379"
        exit 0
    fi
    sleep 0.5
done
echo "start-redis: redis did not answer on 127.0.0.1:6379 within 30 s" >&2
exit 1
