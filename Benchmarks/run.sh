#!/usr/bin/env bash
# Speed and memory of the hot paths against the yardsticks in ../shared/bench, measured in one run
# and interleaved (these machines are shared and noisy: only ratios taken side by side mean anything):
#   cached GET            ÷ a bare Hummingbird GET of fixed bytes          (target ≥ 0.7)
#   create, 400 tenants   ÷ pgbench of a create's rows in one transaction  (target ≥ 0.5)
#   cached GET            ÷ the same GET with every metric a no-op         (target ≥ 0.95)
#   cached GET …/config   ÷ a bare Hummingbird GET of fixed bytes          (target ≥ 0.7)
#   PATCH, 256 agents     ÷ pgbench of a create's rows in one transaction  (target ≥ 0.5)
# then a create into one tenant, and the RSS with 10,000 tenants × 10 agents cached (target ≤ 150 MB).
# Usage: Benchmarks/run.sh [seconds per run, default 8] [rounds, default 2]
#        BENCH_ONLY=memory Benchmarks/run.sh   (the memory figure alone)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
DURATION="${1:-8}"
ROUNDS="${2:-2}"
SHARED="$ROOT/../shared/bench"
[ -d "$SHARED" ] || die "the yardsticks are missing: $SHARED"

ensure_packages
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq postgresql-contrib >/dev/null; }
export AMS_DATABASE_URL="$(start_postgres bench)"
PGPORT="$(cat "$LOCAL/bench/port")"
PSQL=(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
export AMS_JWT_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export AMS_LOG_LEVEL=warning AMS_ACCESS_LOG=0
export AMS_DEFAULT_TIER=enterprise
export AMS_REDIS_URL="$(start_redis bench)"
# The speed of the service itself: a tenant's rate limit (1000 requests a minute) would refuse
# almost every request here.
export AMS_RATE_LIMITS=0
# The enterprise quota of 100 agents would stop the create runs; lift it for the benchmark.
sed '/enterprise:/,/max_tools_per_agent/ s/max_agents: 100/max_agents: 10000000/' config/tiers.yaml > "$LOCAL/bench/tiers.yaml"
export AMS_TIERS_FILE="$LOCAL/bench/tiers.yaml"

log "building (release): the service and the HTTP yardstick"
swift build -c release --product agent-management >/dev/null
BIN="$(swift build -c release --show-bin-path)/agent-management"
swift build -c release --package-path "$SHARED/ceiling" --scratch-path "$ROOT/.build-ceiling" >/dev/null
CEILING="$ROOT/.build-ceiling/release/Ceiling"

log "preparing the pgbench yardstick"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS yardstick" -c "CREATE DATABASE yardstick" >/dev/null
# The service starts from an empty database too: rows left by earlier runs (half a million agents
# after a few) outgrow shared_buffers, and the create runs would pay disk reads the yardstick does not.
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS ams WITH (FORCE)" -c "CREATE DATABASE ams OWNER ams" >/dev/null
"${PSQL[@]}" -d yardstick -f "$SHARED/pg-schema.sql" >/dev/null

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
wait_http() { for _ in $(seq 1 150); do curl -sf "$1" >/dev/null && return; sleep 0.2; done; die "$1 did not answer"; }

start_service() {
  export AMS_HTTP_PORT="$(free_port)"
  "$BIN" serve > "$LOCAL/bench/server.log" 2>&1 &
  SERVICE_PID=$!
  PIDS+=("$SERVICE_PID")
  BASE="http://127.0.0.1:$AMS_HTTP_PORT"
  wait_http "$BASE/health"
}
rss_mb() { ps -o rss= -p "$1" | awk '{printf "%.1f", $1/1024}'; }

CEILING_PORT="$(free_port)"
PORT="$CEILING_PORT" "$CEILING" > "$LOCAL/bench/ceiling.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$CEILING_PORT/fixed"

"$BIN" migrate >/dev/null
# The same service with every metric a no-op, to measure what /metrics costs a cached GET.
BARE_PORT="$(free_port)"
AMS_METRICS=0 AMS_HTTP_PORT="$BARE_PORT" "$BIN" serve > "$LOCAL/bench/server-nometrics.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_http "http://127.0.0.1:$BARE_PORT/health"
start_service
export SERVICE_TOKEN="$("$BIN" token --role service --ttl 2h)"
export TENANT_PREFIX="bench$RANDOM"
ID="$(curl -sf -X POST "$BASE/v1/agents" -H "Authorization: Bearer $SERVICE_TOKEN" -H "X-Tenant-ID: $TENANT_PREFIX-get" \
  -H 'Content-Type: application/json' \
  -d '{"name":"bench-get","system_prompt":"You answer questions about the product.","llm_config":{"model":"gpt-4o-mini","temperature":0.3},"tools":["search"],"tags":["support"],"metadata":{"team":"bench"}}' \
  | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
[ -n "$ID" ] || die "could not create the GET agent"
AUTH=(-H "Authorization: Bearer $SERVICE_TOKEN" -H "X-Tenant-ID: $TENANT_PREFIX-get")
curl -sf "${AUTH[@]}" "$BASE/v1/agents/$ID" >/dev/null
# An active agent for GET …/config, which platform services call with a service token alone.
ACTIVE="$(curl -sf -X POST "$BASE/v1/agents" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"name":"bench-config","status":"active","system_prompt":"You answer questions about the product.","llm_config":{"model":"gpt-4o-mini","temperature":0.3},"tools":["search"],"tags":["support"]}' \
  | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
[ -n "$ACTIVE" ] || die "could not create the active agent"
CONFIG_URL="$BASE/internal/v1/tenants/$TENANT_PREFIX-get/agents/$ACTIVE/config"
curl -sf -H "Authorization: Bearer $SERVICE_TOKEN" "$CONFIG_URL" >/dev/null
# 256 agents over 64 tenants for the PATCH runs: writers of one agent take turns, so spread them.
: > "$LOCAL/bench/patch-agents.txt"
for i in $(seq 1 256); do
  t="$TENANT_PREFIX-patch-$((i % 64))"
  pid="$(curl -sf -X POST "$BASE/v1/agents" -H "Authorization: Bearer $SERVICE_TOKEN" -H "X-Tenant-ID: $t" \
    -H 'Content-Type: application/json' -d "{\"name\":\"patch-$i\",\"system_prompt\":\"$(printf 'x%.0s' $(seq 1 600))\",\"llm_config\":{\"model\":\"gpt-4o-mini\"}}" \
    | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
  [ -n "$pid" ] || die "could not create PATCH agent $i"
  echo "$t $pid" >> "$LOCAL/bench/patch-agents.txt"
done
curl -sf "${AUTH[@]}" "http://127.0.0.1:$BARE_PORT/v1/agents/$ID" >/dev/null

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
tps() { awk '/^tps/ {print $3}' "$1"; }
wrk_run() { local out="$1"; shift; wrk -t1 -c32 -d"${DURATION}s" --latency "$@" > "$out"; grep -q "Non-2xx" "$out" && log "non-2xx answers in $out"; true; }

declare -a GET_RATIO CREATE_RATIO METRICS_RATIO CONFIG_RATIO PATCH_RATIO
[ "${BENCH_ONLY:-}" = memory ] && ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
  log "round $round: GET (yardstick, service)"
  wrk_run "$LOCAL/bench/ceiling-$round.txt" "http://127.0.0.1:$CEILING_PORT/fixed"
  # With and without metrics, in turns: whichever runs first has the warmer machine.
  if [ $((round % 2)) -eq 1 ]; then
    wrk_run "$LOCAL/bench/get-$round.txt" "${AUTH[@]}" "$BASE/v1/agents/$ID"
    wrk_run "$LOCAL/bench/get-nometrics-$round.txt" "${AUTH[@]}" "http://127.0.0.1:$BARE_PORT/v1/agents/$ID"
  else
    wrk_run "$LOCAL/bench/get-nometrics-$round.txt" "${AUTH[@]}" "http://127.0.0.1:$BARE_PORT/v1/agents/$ID"
    wrk_run "$LOCAL/bench/get-$round.txt" "${AUTH[@]}" "$BASE/v1/agents/$ID"
  fi
  log "round $round: create (yardstick, service over 400 tenants)"
  pgbench -n -h 127.0.0.1 -p "$PGPORT" -U postgres -f "$SHARED/pg-create-tx.sql" -c 32 -j 2 -T "$DURATION" yardstick \
    > "$LOCAL/bench/pgbench-$round.txt" 2>&1
  TENANTS=400 wrk_run "$LOCAL/bench/create-$round.txt" -s Benchmarks/create-tenants.lua "$BASE"
  log "round $round: GET …/config (yardstick, service), PATCH (service)"
  # Its own yardstick run right before it: a ceiling measured a minute earlier says little here.
  wrk_run "$LOCAL/bench/ceiling-config-$round.txt" "http://127.0.0.1:$CEILING_PORT/fixed"
  wrk_run "$LOCAL/bench/config-$round.txt" -H "Authorization: Bearer $SERVICE_TOKEN" "$CONFIG_URL"
  AGENTS_FILE="$LOCAL/bench/patch-agents.txt" wrk_run "$LOCAL/bench/patch-$round.txt" -s Benchmarks/patch-agents.lua "$BASE"
  g="$(rate "$LOCAL/bench/get-$round.txt")"; c="$(rate "$LOCAL/bench/ceiling-$round.txt")"
  p="$(tps "$LOCAL/bench/pgbench-$round.txt")"; s="$(rate "$LOCAL/bench/create-$round.txt")"
  n="$(rate "$LOCAL/bench/get-nometrics-$round.txt")"
  GET_RATIO+=("$(awk -v a="$g" -v b="$c" 'BEGIN {printf "%.2f", a/b}')")
  METRICS_RATIO+=("$(awk -v a="$g" -v b="$n" 'BEGIN {printf "%.3f", a/b}')")
  CREATE_RATIO+=("$(awk -v a="$s" -v b="$p" 'BEGIN {printf "%.2f", a/b}')")
  k="$(rate "$LOCAL/bench/config-$round.txt")"; w="$(rate "$LOCAL/bench/patch-$round.txt")"
  cc="$(rate "$LOCAL/bench/ceiling-config-$round.txt")"
  CONFIG_RATIO+=("$(awk -v a="$k" -v b="$cc" 'BEGIN {printf "%.2f", a/b}')")
  PATCH_RATIO+=("$(awk -v a="$w" -v b="$p" 'BEGIN {printf "%.2f", a/b}')")
  printf 'round %s: GET %s req/s vs bare %s → %s (without metrics %s → %s) | create %s req/s vs pgbench %s tps → %s | config %s vs bare %s → %s | PATCH %s → %s\n' \
    "$round" "$g" "$c" "${GET_RATIO[-1]}" "$n" "${METRICS_RATIO[-1]}" "$s" "$p" "${CREATE_RATIO[-1]}" "$k" "$cc" "${CONFIG_RATIO[-1]}" "$w" "${PATCH_RATIO[-1]}"
done

ONE="(skipped)"
if [ "$ROUNDS" -gt 0 ]; then
  log "create into one tenant (32 connections)"
  TENANTS=1 TENANT_PREFIX="$TENANT_PREFIX-one" wrk_run "$LOCAL/bench/create-one.txt" -s Benchmarks/create-tenants.lua "$BASE"
  ONE="$(rate "$LOCAL/bench/create-one.txt")"
fi

log "memory: 10,000 tenants × 10 agents, all cached, in a fresh process"
kill "$SERVICE_PID" "$BARE_PID"; wait "$SERVICE_PID" "$BARE_PID" 2>/dev/null || true
"${PSQL[@]}" -d ams <<'SQL' >/dev/null
INSERT INTO tenants (tenant_id, tier, agent_count)
SELECT 'mem-' || t, 'enterprise', 10 FROM generate_series(1, 10000) t
ON CONFLICT (tenant_id) DO NOTHING;
INSERT INTO agents (id, tenant_id, name, type, status, version, config, validation, created_at, updated_at, created_by, updated_by)
SELECT gen_random_uuid(), 'mem-' || t, 'agent ' || a, 'conversational', 'draft', 1,
  jsonb_build_object('name', 'agent ' || a, 'description', 'Answers questions about orders and returns', 'type', 'conversational',
    'status', 'draft', 'system_prompt', 'You are a helpful support agent for the store. Answer briefly and politely.',
    'llm_config', '{"model":"gpt-4o-mini","temperature":0.3,"max_tokens":512}'::jsonb,
    'memory_config', '{"memory_type":"conversation","window_size":10,"include_knowledge_context":false}'::jsonb,
    'tools', '[{"id":"search","config":{}}]'::jsonb, 'collections', '[]'::jsonb, 'tags', '["support"]'::jsonb,
    'metadata', '{"team":"support"}'::jsonb),
  '{"valid":true,"issues":[]}'::jsonb, now(), now(), 'bench', 'bench'
FROM generate_series(1, 10000) t, generate_series(1, 10) a
WHERE NOT EXISTS (SELECT 1 FROM agents WHERE tenant_id = 'mem-1');
SQL
"${PSQL[@]}" -d ams -F ' ' -c "SELECT tenant_id, id FROM agents WHERE tenant_id LIKE 'mem-%' AND deleted_at IS NULL" > "$LOCAL/bench/agents.txt"
start_service
IDLE="$(rss_mb "$SERVICE_PID")"
AGENTS_FILE="$LOCAL/bench/agents.txt" wrk -t1 -c64 -d60s -s Benchmarks/warm.lua "$BASE" > "$LOCAL/bench/warm.txt" || true
WARMED="$(awk '/requests in/ {print $1}' "$LOCAL/bench/warm.txt")"
CACHED="$(rss_mb "$SERVICE_PID")"

echo
echo "GET ratio per round:    ${GET_RATIO[*]} (target ≥ 0.7)"
echo "create ratio per round: ${CREATE_RATIO[*]} (target ≥ 0.5)"
echo "GET with ÷ without metrics: ${METRICS_RATIO[*]} (target ≥ 0.95)"
echo "GET …/config ratio per round: ${CONFIG_RATIO[*]} (target ≥ 0.7)"
echo "PATCH ratio per round:  ${PATCH_RATIO[*]} (target ≥ 0.5)"
echo "create into one tenant: $ONE req/s"
echo "memory: $IDLE MB idle, $CACHED MB with 100,000 agents cached ($WARMED GETs) (target ≤ 150 MB)"
