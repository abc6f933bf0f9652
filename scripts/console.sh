#!/usr/bin/env bash
# The web console (GET /console) in a real browser: Tests/Console/test_console.py drives Debian's
# chromium with Playwright (from PyPI; its own browser download is never used) against the real
# binary, and runs axe-core through axe-playwright-python. Screenshots go to .local/console/.
# Usage: console.sh PATH_TO_BINARY (AMS_TEST_ADMIN_URL and AMS_TEST_REDIS_URL, as scripts/test.sh
# exports them).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
BIN="$(realpath "$1")"
VENV="$LOCAL/venv-console"
REQUIREMENTS="Tests/Console/requirements.txt"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  log "installing Playwright and axe-playwright-python into .local/venv-console"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi
export AMS_BIN="$BIN" AMS_LOCAL="$LOCAL" AMS_CHROMIUM="$(command -v chromium)"
: "${AMS_TEST_ADMIN_URL:?}" "${AMS_TEST_REDIS_URL:?}"
log "console: Tests/Console/test_console.py"
timeout --kill-after=10 600 "$VENV/bin/python" Tests/Console/test_console.py
