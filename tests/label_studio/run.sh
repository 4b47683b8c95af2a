#!/usr/bin/env bash
# Start a real Label Studio server and run tests/label_studio against it.
#
# label-studio pins its own Django, numpy (< 2.3, through opencv) and the
# label-studio-sdk it speaks, so it lives in an environment of its own
# (LS_VENV), never in skal's. The server runs from that environment alone.
# The tests run in it too, with the main environment's site-packages added
# AFTER its own (site.addsitedir at start-up): the SDK and numpy come from
# LS_VENV, scikit-learn, torch and pytest from the main venv, skal from the
# working tree.
#
# The server listens on 127.0.0.1 on a free port, keeps its SQLite database
# and its served files in a temporary folder, and is stopped (and the folder
# removed) however the run ends.
#
# Usage: tests/label_studio/run.sh [extra pytest args]
#   MAIN_VENV         main environment (default .venv)
#   LS_VENV           Label Studio environment to build/reuse (default .venv-ls)
#   LS_SPEC           what pip installs there (default "label-studio>=1.23,<1.24")
#   LS_START_TIMEOUT  seconds to wait for /health (default 600: the first
#                     start migrates the database, ~30 s idle, minutes on a
#                     loaded machine)
set -euo pipefail
cd "$(dirname "$0")/../.."

MAIN_VENV=${MAIN_VENV:-.venv}
LS_VENV=${LS_VENV:-.venv-ls}
LS_SPEC=${LS_SPEC:-"label-studio>=1.23,<1.24"}
LS_START_TIMEOUT=${LS_START_TIMEOUT:-600}

purelib() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

ready() {
    [ -x "$LS_VENV/bin/label-studio" ] && "$LS_VENV/bin/python" - <<'EOF' 2>/dev/null
import label_studio, label_studio_sdk  # noqa: F401
from importlib.metadata import version
major, minor = (int(p) for p in version("label-studio").split(".")[:2])
raise SystemExit(0 if (major, minor) == (1, 23) else 1)
EOF
}

if ! ready; then
    echo "== building $LS_VENV ($LS_SPEC, with its label-studio-sdk)"
    rm -rf "$LS_VENV"
    # The main venv's interpreter: the same Python, so the main environment's
    # compiled wheels load in the tests.
    "$MAIN_VENV/bin/python" -m venv "$LS_VENV"
    "$LS_VENV/bin/python" -m pip install --quiet "$LS_SPEC"
fi

MAIN_SITE=$(cd "$(purelib "$MAIN_VENV")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/skal-label-studio.XXXXXX")
mkdir -p "$WORK/data" "$WORK/files"
PORT=$("$LS_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=$("$LS_VENV/bin/python" -c 'import secrets; print(secrets.token_hex(20))')
URL="http://127.0.0.1:$PORT"
SERVER_PID=

stop() {
    status=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        # the server was started in a session of its own: its process group is its pid
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
        echo "== last lines of the Label Studio server's log"
        tail -n 40 "$WORK/server.log" || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== starting Label Studio on $URL (data in $WORK)"
# Its own environment only: no PYTHONPATH, no main site-packages.
env -u PYTHONPATH \
    LABEL_STUDIO_BASE_DATA_DIR="$WORK/data" \
    DJANGO_DB=sqlite \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LOCAL_FILES_SERVING_ENABLED=true \
    LOCAL_FILES_DOCUMENT_ROOT="$WORK/files" \
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
    LATEST_VERSION_CHECK=false SENTRY_DSN= FRONTEND_SENTRY_DSN= COLLECT_ANALYTICS=false \
    setsid "$LS_VENV/bin/label-studio" start --no-browser \
        --internal-host 127.0.0.1 --port "$PORT" --data-dir "$WORK/data" \
        --username skal@example.com --password "skal-$TOKEN" --user-token "$TOKEN" \
    > "$WORK/server.log" 2>&1 < /dev/null &
SERVER_PID=$!

started=$SECONDS
until "$LS_VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=5)' "$URL" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "== the Label Studio server exited before answering /health" >&2
        exit 1
    fi
    if [ $((SECONDS - started)) -ge "$LS_START_TIMEOUT" ]; then
        echo "== the Label Studio server did not answer /health within ${LS_START_TIMEOUT}s" >&2
        exit 1
    fi
    sleep 2
done
echo "== Label Studio answered /health after $((SECONDS - started))s"

export SKAL_LS_URL="$URL" SKAL_LS_TOKEN="$TOKEN" SKAL_LS_DOCUMENT_ROOT="$WORK/files"
# skal itself comes from the working tree (the main venv's editable install
# is a .pth hook; the working tree first is what the tests are about).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# pyproject's addopts runs doctests over skal/ and ignores some folders: clear it here.
"$LS_VENV/bin/python" -c '
import site, sys
site.addsitedir(sys.argv[1])  # appended: the Label Studio environment wins
import pytest
sys.exit(pytest.main(sys.argv[2:]))
' "$MAIN_SITE" tests/label_studio -p no:cacheprovider --override-ini addopts= -q -ra "$@"
