#!/usr/bin/env bash
# Throughput and latency of the hot paths, measured with wrk against a release build on loopback:
# a cached GET (served from the tenant actor's pre-encoded bytes), a list (always Postgres), and a
# create (validation + one transaction). Compare the figures of one run with each other; absolute
# numbers depend on the machine. Usage: Benchmarks/run.sh [seconds per scenario, default 10]
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
DURATION="${1:-10}"

ensure_packages
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk >/dev/null; }
export AMS_DATABASE_URL="$(start_postgres bench)"
export AMS_JWT_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export AMS_LOG_LEVEL=warning
export AMS_HTTP_PORT="$(free_port)"
# The enterprise quota of 100 agents would stop the create scenario; lift it for the benchmark.
sed '/enterprise:/,/max_tools_per_agent/ s/max_agents: 100/max_agents: 10000000/' config/tiers.yaml > "$LOCAL/bench/tiers.yaml"
export AMS_TIERS_FILE="$LOCAL/bench/tiers.yaml"

log "building (release)"
swift build -c release --product agent-management >/dev/null
BIN="$(swift build -c release --show-bin-path)/agent-management"
"$BIN" serve > "$LOCAL/bench/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "localhost:$AMS_HTTP_PORT/health" >/dev/null && break; sleep 0.2; done
BASE="http://127.0.0.1:$AMS_HTTP_PORT"

TENANT="bench-$RANDOM$RANDOM"
SERVICE="$("$BIN" token --role service --ttl 1h)"
curl -sf -X PUT "$BASE/internal/v1/tenants/$TENANT" -H "Authorization: Bearer $SERVICE" \
  -H 'Content-Type: application/json' -d '{"tier":"enterprise"}' >/dev/null
export TOKEN="$("$BIN" token --tenant "$TENANT" --role admin --ttl 1h)"
ID="$(curl -sf -X POST "$BASE/v1/agents" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench-get","llm_config":{"model":"gpt-4o-mini"},"tools":["search"],"metadata":{"team":"bench"}}' \
  | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
curl -sf "$BASE/v1/agents/$ID" -H "Authorization: Bearer $TOKEN" >/dev/null

run() {
  local name="$1"; shift
  log "$name"
  wrk -t2 -c32 -d"${DURATION}s" --latency "$@" | tee "$LOCAL/bench/$name.txt" | grep -E "Requests/sec|50%|99%|Non-2xx|errors"
}
run get-cached -H "Authorization: Bearer $TOKEN" "$BASE/v1/agents/$ID"
run list-postgres -H "Authorization: Bearer $TOKEN" "$BASE/v1/agents?limit=1"
run create -s Benchmarks/create.lua "$BASE"
log "server RSS after the run: $(ps -o rss= -p $PID | awk '{printf "%.1f MiB", $1/1024}')"
