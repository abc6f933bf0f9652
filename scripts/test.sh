#!/usr/bin/env bash
# Runs every test against a real PostgreSQL and Redis under .local/test on free ports: a smoke test of the
# real executable over a socket, the contract check (schemathesis, /docs in Chromium), then the
# Swift tests.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages
export AMS_TEST_DATABASE_URL="$(start_postgres test)"
# Suites that need a database of their own create it through the superuser.
export AMS_TEST_ADMIN_URL="postgres://postgres@127.0.0.1:$(cat "$LOCAL/test/port")/postgres"
export AMS_TEST_REDIS_URL="$(start_redis test)"
log "database: $AMS_TEST_DATABASE_URL, redis: $AMS_TEST_REDIS_URL"

log "building"
swift build --build-tests
bash scripts/smoke.sh "$(swift build --show-bin-path)/agent-management"
bash scripts/contract.sh "$(swift build --show-bin-path)/agent-management"

log "swift test"
# A hang must fail the run, not eat the CI budget.
timeout --kill-after=30 900 swift test --skip-build
