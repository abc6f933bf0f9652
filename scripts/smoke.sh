#!/usr/bin/env bash
# Smoke test of the real executable over a real socket: serve, then create, read, and fail properly.
# Usage: smoke.sh PATH_TO_BINARY (AMS_TEST_DATABASE_URL, the owner's, and AMS_TEST_ADMIN_URL must be set).
source "$(dirname "$0")/lib.sh"
BIN="$1"
PORT="$(free_port)"
METRICS_PORT="$(free_port)"
while [ "$METRICS_PORT" = "$PORT" ]; do METRICS_PORT="$(free_port)"; done
export AMS_DATABASE_URL="$AMS_TEST_DATABASE_URL" AMS_JWT_SECRET="smoke-test-secret-0123456789abcdefghijklmnop" AMS_HTTP_PORT="$PORT"
# /metrics on a listener of its own, as an operator would run it.
export AMS_METRICS_PORT="$METRICS_PORT"
LOGFILE="$LOCAL/smoke.log"
# As production runs it (README, "Database roles"): the owner migrates and grants the service's own
# role, and the service (and the CLI below) connects as that role.
"$BIN" migrate --app-role ams_app > "$LOCAL/smoke-migrate.log" 2>&1 || die "migrate --app-role ams_app failed; see $LOCAL/smoke-migrate.log"
export AMS_DATABASE_URL="$(app_role_url "$AMS_TEST_DATABASE_URL")"
"$BIN" serve > "$LOGFILE" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  curl -sf "localhost:$PORT/health" >/dev/null && break
  sleep 0.2
done

passed=0 failed=0
check() {
  local name="$1" want="$2" got="$3"
  if [ "$got" = "$want" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: want $want, got $got" >&2; fi
}

check "openapi command" "openapi: 3.1.0" "$("$BIN" openapi | head -n 1)"
check "openapi --json" 3.1.0 "$("$BIN" openapi --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["openapi"])')"
TENANT="smoke-$RANDOM$RANDOM"
TOKEN="$("$BIN" token --tenant "$TENANT" --role admin --ttl 5m)"
AUTH=(-H "Authorization: Bearer $TOKEN")
check "health" 200 "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/health")"
check "ready" 200 "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/health/ready")"
BODY="$(curl -s -D "$LOCAL/smoke.headers" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"name":"Smoke","llm_config":{"model":"gpt-4o-mini"},"tools":["search"]}' "localhost:$PORT/v1/agents")"
check "create status" 201 "$(awk 'NR==1{print $2}' "$LOCAL/smoke.headers")"
ID="$(printf '%s' "$BODY" | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
check "get" 200 "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "localhost:$PORT/v1/agents/$ID")"
check "not modified" 304 "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -H 'If-None-Match: "1"' "localhost:$PORT/v1/agents/$ID")"
check "no token" AMS-201 "$(curl -s "localhost:$PORT/v1/agents" | sed -n 's/.*"code":"\(AMS-[0-9]*\)".*/\1/p')"
check "missing agent" AMS-301 "$(curl -s "${AUTH[@]}" "localhost:$PORT/v1/agents/00000000-0000-0000-0000-000000000000" | sed -n 's/.*"code":"\(AMS-[0-9]*\)".*/\1/p')"
# A dead database answers AMS-502 quickly; the service recovers by itself when it is back.
stop_postgres test
check "database down" AMS-502 "$(curl -s -m 10 "${AUTH[@]}" "localhost:$PORT/v1/agents?limit=1" | sed -n 's/.*"code":"\(AMS-[0-9]*\)".*/\1/p')"
check "not ready" 503 "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "localhost:$PORT/health/ready")"
start_postgres test >/dev/null
recovered=000
for _ in $(seq 1 100); do
  recovered="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "${AUTH[@]}" "localhost:$PORT/v1/agents/$ID")"
  [ "$recovered" = 200 ] && break
  sleep 0.2
done
check "recovered" 200 "$recovered"
check "metrics on its own port" 200 "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$METRICS_PORT/metrics")"
check "metrics count the GET" 1 "$(curl -s "localhost:$METRICS_PORT/metrics" | grep -c '^http_requests_total{method="GET",route="/v1/agents/{id}",status="200"}')"
check "no metrics on the API port" 404 "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/metrics")"
check "access log line" 1 "$(grep -c 'request .*route=/v1/agents/{id}.*status=304' "$LOGFILE")"
# The CLI's export, import and apply work on the database; the server sees what they write.
EXPORT_DIR="$LOCAL/smoke-export"
rm -rf "$EXPORT_DIR"
check "cli export" "exported 1 agents to $EXPORT_DIR" "$("$BIN" export --tenant "$TENANT" --out "$EXPORT_DIR" 2>&1)"
check "cli import" created "$("$BIN" import --tenant "$TENANT-copy" "$EXPORT_DIR"/*.json 2>&1 | awk '{print $2}')"
check "cli apply twice" "unchanged	Smoke" "$("$BIN" apply --tenant "$TENANT-copy" "$EXPORT_DIR"/*.json 2>&1)"
check "delete" 204 "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${AUTH[@]}" "localhost:$PORT/v1/agents/$ID")"
check "restore" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "${AUTH[@]}" "localhost:$PORT/v1/agents/$ID/restore")"
# The service's role cannot migrate: on a database it would have to, serve stops and names the command.
ADMIN=(env PGOPTIONS="-c client_min_messages=warning" psql "$AMS_TEST_ADMIN_URL" -v ON_ERROR_STOP=1 -qtA)
"${ADMIN[@]}" -c "DROP DATABASE IF EXISTS ams_smoke_unmigrated WITH (FORCE)" -c "CREATE DATABASE ams_smoke_unmigrated OWNER ams" >/dev/null
UNMIGRATED="$(AMS_DATABASE_URL="${AMS_DATABASE_URL%/*}/ams_smoke_unmigrated" AMS_HTTP_PORT="$(free_port)" AMS_METRICS_PORT='' \
  timeout 60 "$BIN" serve 2>&1 || true)"
"${ADMIN[@]}" -c "DROP DATABASE ams_smoke_unmigrated WITH (FORCE)" >/dev/null
check "unmigrated schema names the command" yes \
  "$(grep -qF 'run `agent-management migrate --app-role ams_app`' <<<"$UNMIGRATED" && echo yes || echo no)"

echo "smoke: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  echo "--- server log ---" >&2; tail -n 50 "$LOGFILE" >&2
  exit 1
fi
