#!/usr/bin/env bash
# The service against the ecosystem's own clients: each Tests/Ecosystem/test_*.py starts the real
# binary with the settings it checks and drives it with that project's library (standardwebhooks,
# opentelemetry-proto, PyJWT), never with code written here.
# Usage: ecosystem.sh PATH_TO_BINARY [part of a test's file name]
# (AMS_TEST_ADMIN_URL and AMS_TEST_REDIS_URL, as scripts/test.sh exports them).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
BIN="$(realpath "$1")"
VENV="$LOCAL/venv-ecosystem"
REQUIREMENTS="Tests/Ecosystem/requirements.txt"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  log "installing the ecosystem's clients into .local/venv-ecosystem"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
export AMS_BIN="$BIN" AMS_LOCAL="$LOCAL"
: "${AMS_TEST_ADMIN_URL:?}" "${AMS_TEST_REDIS_URL:?}"
shopt -s nullglob
status=0
for test in Tests/Ecosystem/test_*.py; do
  if [ -n "${2:-}" ] && [[ "$test" != *"$2"* ]]; then continue; fi
  log "ecosystem: $(basename "$test" .py)"
  timeout --kill-after=10 300 "$VENV/bin/python" "$test" || { echo "FAIL $test" >&2; status=1; }
done
exit "$status"
