#!/usr/bin/env bash
# Change events (issue 13): from a committed change to its announcement, on one replica of the
# release build. RATE changes a second (PATCHes) across TENANTS tenants for SECONDS; the wait is
# from each change's commit (Postgres's track_commit_timestamp) to its frame at a stand-in
# orchestrator (events.py, over the orchestrator WebSocket sink) and to its message on the tenant's
# Redis channel (the notifier woke, sequenced it and the sink sent it).
# Usage: Benchmarks/events.sh [RATE] [TENANTS] [SECONDS]   (defaults 200, 50, 20)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
RATE="${1:-200}"
TENANTS="${2:-50}"
SECONDS_="${3:-20}"

ensure_packages
export AMS_DATABASE_URL="$(start_postgres bench)"
PGPORT="$(cat "$LOCAL/bench/port")"
PSQL=("$(pg_bin)/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
export AMS_REDIS_URL="$(start_redis bench)"
REDIS_PORT="$(cat "$LOCAL/bench/redis/port")"
export AMS_JWT_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export AMS_LOG_LEVEL=warning AMS_ACCESS_LOG=0 AMS_DEFAULT_TIER=enterprise AMS_RATE_LIMITS=0

# The commit time of each change, which the measurement starts from.
if [ "$("${PSQL[@]}" -c "SHOW track_commit_timestamp")" != "on" ]; then
  "${PSQL[@]}" -c "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
  as_pg "$(pg_bin)/pg_ctl" -D "$LOCAL/bench/data" -w -m fast restart >/dev/null
fi

log "building (release)"
swift build -c release --product agent-management >/dev/null
BIN="$(swift build -c release --show-bin-path)/agent-management"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS ams WITH (FORCE)" -c "CREATE DATABASE ams OWNER ams" >/dev/null
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
"$BIN" migrate >/dev/null

export AMS_HTTP_PORT="$(free_port)"
ORCHESTRATOR_PORT="$(free_port)"
export AMS_ORCHESTRATOR_WS_URL="ws://127.0.0.1:$ORCHESTRATOR_PORT/ws" AMS_SERVICE_TOKEN="bench-orchestrator"
"$BIN" serve > "$LOCAL/bench/events-server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$AMS_HTTP_PORT"
for _ in $(seq 1 150); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.2; done
TOKEN="$("$BIN" token --role service --ttl 2h)"
PREFIX="ev$RANDOM"
: > "$LOCAL/bench/event-agents.txt"
for t in $(seq 1 "$TENANTS"); do
  id="$(curl -sf -X POST "$BASE/v1/agents" -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $PREFIX-$t" -H 'Content-Type: application/json' \
    -d '{"name":"a","system_prompt":"You help.","llm_config":{"model":"gpt-4o-mini"}}' | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
  [ -n "$id" ] || die "could not create an agent"
  echo "$PREFIX-$t $id" >> "$LOCAL/bench/event-agents.txt"
done
for _ in $(seq 1 50); do
  curl -sf "$BASE/health/ready" | grep -q '"leader":true' && break
  sleep 0.2
done
log "$RATE changes a second across $TENANTS tenants for ${SECONDS_}s"
python3 Benchmarks/events.py "$AMS_HTTP_PORT" "$REDIS_PORT" "$TOKEN" "$LOCAL/bench/event-agents.txt" "$RATE" "$SECONDS_" "$ORCHESTRATOR_PORT" \
  "postgres://postgres@127.0.0.1:$PGPORT/ams"
