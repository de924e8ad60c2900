#!/usr/bin/env bash
# Starts an S3-compatible test server (moto) on 127.0.0.1:${S3_PORT:-9000} unless
# something already answers HTTP there. Idempotent: safe to run any number of times.
#
#   S3_PORT   port to bind (default 9000)
#   TMPDIR    where the server log and pid file go (default /tmp)
#
# The server keeps running in the background after this script exits; stop it with
#   kill "$(cat "${TMPDIR:-/tmp}/statport-moto-${S3_PORT:-9000}.pid")"
set -euo pipefail

port="${S3_PORT:-9000}"
url="http://127.0.0.1:${port}/"
tmp="${TMPDIR:-/tmp}"
log="${tmp%/}/statport-moto-${port}.log"
pidfile="${tmp%/}/statport-moto-${port}.pid"
wait_secs=30
moto_min=5.2.2
moto_requirement="moto[server]>=${moto_min}"

# True when an HTTP server answers on $url (any status code counts).
answers() {
    if command -v curl >/dev/null 2>&1; then
        curl --silent --output /dev/null --max-time 2 "$url"
    else
        python3 - "$url" <<'PY' >/dev/null 2>&1
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
    fi
}

# True when python3 can import moto's server at version >= $moto_min.
moto_usable() {
    python3 - "${moto_min}" >/dev/null 2>&1 <<'PY'
import sys

import moto
import moto.server  # noqa: F401 (fails without the [server] extra)


def parse(version):
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


sys.exit(0 if parse(moto.__version__) >= parse(sys.argv[1]) else 1)
PY
}

if answers; then
    echo "start-s3: something already answers on ${url}, leaving it alone"
    exit 0
fi

# moto 5.2.0 and 5.2.1 answer CompleteMultipartUpload with the wrong XML root element,
# which aws-sdk-s3 rejects (getmoto/moto#10055); 5.2.2 is the first release that works.
if ! moto_usable; then
    echo "start-s3: installing ${moto_requirement} with pip (moto missing or older than ${moto_min})"
    python3 -m pip install --quiet "${moto_requirement}"
    if ! moto_usable; then
        echo "start-s3: ${moto_requirement} is still not importable by python3 after pip install" >&2
        exit 1
    fi
fi
# Run the module with the same interpreter that was checked, whatever moto_server is on PATH.
server=(python3 -m moto.server)

echo "start-s3: starting ${server[*]} on 127.0.0.1:${port} (log: ${log})"
nohup "${server[@]}" --host 127.0.0.1 --port "${port}" >"${log}" 2>&1 &
pid=$!
echo "${pid}" >"${pidfile}"

deadline=$((SECONDS + wait_secs))
until answers; do
    if ! kill -0 "${pid}" 2>/dev/null; then
        echo "start-s3: moto server exited before answering; last log lines:" >&2
        tail -n 20 "${log}" >&2 || true
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "start-s3: moto server did not answer on ${url} within ${wait_secs}s; last log lines:" >&2
        tail -n 20 "${log}" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "start-s3: moto server answers on ${url} (pid ${pid})"
