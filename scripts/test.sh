#!/usr/bin/env bash
# Runs every test against a real PostgreSQL and Redis under .local/test on free ports: a smoke test of the
# real executable over a socket, the contract check (schemathesis, /docs in Chromium), the alert
# rules' unit tests (promtool), the ecosystem's own clients against it (Tests/Ecosystem), the web
# console in a browser (Tests/Console), then the Swift tests.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages
# The owner's URL; the cluster also has the service's own role, ams_app (see lib.sh), which the smoke
# test serves as and the suites of ServiceRoleTests use.
export AMS_TEST_DATABASE_URL="$(start_postgres test)"
# Suites that need a database of their own create it through the superuser.
export AMS_TEST_ADMIN_URL="postgres://postgres@127.0.0.1:$(cat "$LOCAL/test/port")/postgres"
export AMS_TEST_REDIS_URL="$(start_redis test)"
log "database: $AMS_TEST_DATABASE_URL, redis: $AMS_TEST_REDIS_URL"

log "format"
# `swift format format -i` fixes what this finds; the frozen migration history stays as it shipped.
find Package.swift Plugins Sources Tests -name '*.swift' -not -path '*/History/*' -print0 | xargs -0 swift format lint --strict --parallel

log "building"
swift build --build-tests
bash scripts/smoke.sh "$(swift build --show-bin-path)/agent-management"
bash scripts/contract.sh "$(swift build --show-bin-path)/agent-management"
bash scripts/alerts.sh
bash scripts/ecosystem.sh "$(swift build --show-bin-path)/agent-management"
bash scripts/console.sh "$(swift build --show-bin-path)/agent-management"

log "databases of their own for the suites that need one"
# Made before the suites run in parallel: making one writes the whole template through the WAL,
# and several made at once stalled every commit (and every listener's heartbeat) for seconds.
PSQL=(psql -h 127.0.0.1 -p "$(cat "$LOCAL/test/port")" -U postgres -v ON_ERROR_STOP=1 -qtA)
for spare in app:32 infra:5; do
  for i in $(seq 1 "${spare#*:}"); do
    name="ams_spare_${spare%%:*}_$i"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name OWNER ams" >/dev/null
  done
done
export AMS_TEST_SPARE_DATABASES=1

log "swift test"
# A hang must fail the run, not eat the CI budget.
timeout --kill-after=30 900 swift test --skip-build
