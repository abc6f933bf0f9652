#!/usr/bin/env bash
# Speed and memory of the hot paths against the yardsticks in ../shared/bench, measured in one run
# and interleaved (these machines are shared and noisy: only ratios taken side by side mean anything).
# The service runs as users run it: rate limits counted, the access log at info (only the tier's
# limits are lifted so that the runs are not refused). Targets, as medians of the rounds:
#   cached GET, the defaults            ÷ a bare Hummingbird GET of fixed bytes          (≥ 0.7)
#   cached GET, rate limits and log off ÷ a bare Hummingbird GET of fixed bytes          (≥ 0.85)
#   the same lean GET                   ÷ that GET with every metric a no-op              (≥ 0.95)
#   cached GET …/config, the defaults   ÷ a bare Hummingbird GET of fixed bytes          (≥ 0.7)
#   cached GET, tracing on (every trace, and 1 in 100, sampled) ÷ the defaults (reported: the
#     cost of tracing; spans exported over OTLP/HTTP to a sink that accepts and drops them)
#   create, 400 tenants                 ÷ pgbench of a create's rows in one transaction  (≥ 0.6)
#   create, one tenant                  ÷ the same pgbench                                (≥ 0.4)
#   PATCH, 256 agents                   ÷ the same pgbench                                (≥ 0.6)
# then the RSS with 10,000 tenants × 10 agents cached (≤ 120 MB).
# Usage: Benchmarks/run.sh [seconds per run, default 8] [rounds, default 3]
#        BENCH_ONLY=memory Benchmarks/run.sh   (the memory figure alone)
#        BENCH_SCRATCH=DIR: the release build's scratch path (default .build)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
DURATION="${1:-8}"
ROUNDS="${2:-3}"
SCRATCH="${BENCH_SCRATCH:-$ROOT/.build}"
SHARED="$ROOT/../shared/bench"
[ -d "$SHARED" ] || die "the yardsticks are missing: $SHARED"

ensure_packages
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq postgresql-contrib >/dev/null; }
export AMS_DATABASE_URL="$(start_postgres bench)"
PGPORT="$(cat "$LOCAL/bench/port")"
PSQL=(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
export AMS_JWT_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export AMS_DEFAULT_TIER=enterprise
export AMS_REDIS_URL="$(start_redis bench)"
# The enterprise quota of 100 agents and its 1000 requests a minute would stop the runs: lift them,
# and keep counting them (in Redis, as deployed).
sed -e '/enterprise:/,/max_webhooks/ s/max_agents: 100$/max_agents: 10000000/' \
    -e '/enterprise:/,/max_webhooks/ s/requests_per_minute: 1000$/requests_per_minute: 1000000000/' \
    config/tiers.yaml > "$LOCAL/bench/tiers.yaml"
grep -q 'requests_per_minute: 1000000000' "$LOCAL/bench/tiers.yaml" || die "could not lift the enterprise limits"
export AMS_TIERS_FILE="$LOCAL/bench/tiers.yaml"

log "building (release): the service and the HTTP yardstick"
swift build -c release --scratch-path "$SCRATCH" --product agent-management >/dev/null
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/agent-management"
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
# The same service with rate limits and the access log off (lean), and lean with every metric a
# no-op, to measure what each costs a cached GET.
LEAN_PORT="$(free_port)"
AMS_RATE_LIMITS=0 AMS_ACCESS_LOG=0 AMS_HTTP_PORT="$LEAN_PORT" "$BIN" serve > "$LOCAL/bench/server-lean.log" 2>&1 &
LEAN_PID=$!
BARE_PORT="$(free_port)"
AMS_RATE_LIMITS=0 AMS_ACCESS_LOG=0 AMS_METRICS=0 AMS_HTTP_PORT="$BARE_PORT" "$BIN" serve > "$LOCAL/bench/server-nometrics.log" 2>&1 &
BARE_PID=$!
PIDS+=("$LEAN_PID" "$BARE_PID")
# The defaults with tracing on, as the OTEL_* variables turn it on, exporting to a local sink: every
# trace sampled, and one in a hundred (the root spans of wrk's requests, which send no traceparent).
SINK_PORT="$(free_port)"
python3 Benchmarks/otlp-sink.py "$SINK_PORT" > "$LOCAL/bench/otlp-sink.log" 2>&1 &
PIDS+=($!)
traced() {
  OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
    OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG="$2" AMS_HTTP_PORT="$1" "$BIN" serve > "$3" 2>&1 &
}
TRACED_PORT="$(free_port)"
traced "$TRACED_PORT" 1.0 "$LOCAL/bench/server-traced.log"
TRACED_PID=$!
SAMPLED_PORT="$(free_port)"
traced "$SAMPLED_PORT" 0.01 "$LOCAL/bench/server-sampled.log"
SAMPLED_PID=$!
PIDS+=("$TRACED_PID" "$SAMPLED_PID")
wait_http "http://127.0.0.1:$LEAN_PORT/health"
wait_http "http://127.0.0.1:$BARE_PORT/health"
wait_http "http://127.0.0.1:$TRACED_PORT/health"
wait_http "http://127.0.0.1:$SAMPLED_PORT/health"
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
curl -sf "${AUTH[@]}" "http://127.0.0.1:$LEAN_PORT/v1/agents/$ID" >/dev/null
curl -sf "${AUTH[@]}" "http://127.0.0.1:$TRACED_PORT/v1/agents/$ID" >/dev/null
curl -sf "${AUTH[@]}" "http://127.0.0.1:$SAMPLED_PORT/v1/agents/$ID" >/dev/null

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
tps() { awk '/^tps/ {print $3}' "$1"; }
wrk_run() { local out="$1"; shift; wrk -t1 -c32 -d"${DURATION}s" --latency "$@" > "$out"; grep -q "Non-2xx" "$out" && log "non-2xx answers in $out"; true; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

declare -a GET_RATIO LEAN_RATIO METRICS_RATIO CONFIG_RATIO CREATE_RATIO ONE_RATIO PATCH_RATIO TRACED_RATIO SAMPLED_RATIO
[ "${BENCH_ONLY:-}" = memory ] && ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
  R="$LOCAL/bench/r$round"
  log "round $round: GET (yardstick, the defaults, lean, lean without metrics, traced, 1% traced)"
  wrk_run "$R-ceiling.txt" "http://127.0.0.1:$CEILING_PORT/fixed"
  # Whichever runs first has the warmer machine: the order turns each round.
  GETS=("get $BASE" "lean http://127.0.0.1:$LEAN_PORT" "nometrics http://127.0.0.1:$BARE_PORT"
    "traced http://127.0.0.1:$TRACED_PORT" "sampled http://127.0.0.1:$SAMPLED_PORT")
  for i in 0 1 2 3 4; do
    set -- ${GETS[$(( (i + round) % 5 ))]}
    wrk_run "$R-$1.txt" "${AUTH[@]}" "$2/v1/agents/$ID"
  done
  log "round $round: create (yardstick, service over 400 tenants, service into one tenant), PATCH"
  pgbench -n -h 127.0.0.1 -p "$PGPORT" -U postgres -f "$SHARED/pg-create-tx.sql" -c 32 -j 2 -T "$DURATION" yardstick \
    > "$R-pgbench.txt" 2>&1
  TENANTS=400 wrk_run "$R-create.txt" -s Benchmarks/create-tenants.lua "$BASE"
  TENANTS=1 TENANT_PREFIX="$TENANT_PREFIX-one" wrk_run "$R-create-one.txt" -s Benchmarks/create-tenants.lua "$BASE"
  AGENTS_FILE="$LOCAL/bench/patch-agents.txt" wrk_run "$R-patch.txt" -s Benchmarks/patch-agents.lua "$BASE"
  log "round $round: GET …/config (yardstick, service)"
  # Its own yardstick run right before it: a ceiling measured a minute earlier says little here.
  wrk_run "$R-ceiling-config.txt" "http://127.0.0.1:$CEILING_PORT/fixed"
  wrk_run "$R-config.txt" -H "Authorization: Bearer $SERVICE_TOKEN" "$CONFIG_URL"
  c="$(rate "$R-ceiling.txt")"; g="$(rate "$R-get.txt")"; l="$(rate "$R-lean.txt")"; n="$(rate "$R-nometrics.txt")"
  p="$(tps "$R-pgbench.txt")"; s="$(rate "$R-create.txt")"; o="$(rate "$R-create-one.txt")"; w="$(rate "$R-patch.txt")"
  cc="$(rate "$R-ceiling-config.txt")"; k="$(rate "$R-config.txt")"
  t="$(rate "$R-traced.txt")"; sm="$(rate "$R-sampled.txt")"
  TRACED_RATIO+=("$(awk -v a="$t" -v b="$g" 'BEGIN {printf "%.3f", a/b}')"); SAMPLED_RATIO+=("$(awk -v a="$sm" -v b="$g" 'BEGIN {printf "%.3f", a/b}')")
  GET_RATIO+=("$(ratio "$g" "$c")"); LEAN_RATIO+=("$(ratio "$l" "$c")"); METRICS_RATIO+=("$(awk -v a="$l" -v b="$n" 'BEGIN {printf "%.3f", a/b}')")
  CONFIG_RATIO+=("$(ratio "$k" "$cc")"); CREATE_RATIO+=("$(ratio "$s" "$p")"); ONE_RATIO+=("$(ratio "$o" "$p")"); PATCH_RATIO+=("$(ratio "$w" "$p")")
  printf 'round %s: bare GET %s req/s | GET defaults %s → %s, lean %s → %s, lean without metrics %s → %s | pgbench %s tps | create %s → %s, one tenant %s → %s, PATCH %s → %s | config %s vs bare %s → %s\n' \
    "$round" "$c" "$g" "${GET_RATIO[-1]}" "$l" "${LEAN_RATIO[-1]}" "$n" "${METRICS_RATIO[-1]}" "$p" \
    "$s" "${CREATE_RATIO[-1]}" "$o" "${ONE_RATIO[-1]}" "$w" "${PATCH_RATIO[-1]}" "$k" "$cc" "${CONFIG_RATIO[-1]}"
  printf '  p99: create %s, one tenant %s, PATCH %s\n' "$(p99 "$R-create.txt")" "$(p99 "$R-create-one.txt")" "$(p99 "$R-patch.txt")"
  printf '  tracing: GET traced (100%%) %s → %s, traced (1%%) %s → %s of the defaults; p99 %s, %s vs %s\n' \
    "$t" "${TRACED_RATIO[-1]}" "$sm" "${SAMPLED_RATIO[-1]}" "$(p99 "$R-traced.txt")" "$(p99 "$R-sampled.txt")" "$(p99 "$R-get.txt")"
done

log "memory: 10,000 tenants × 10 agents, all cached, in a fresh process"
kill "$SERVICE_PID" "$LEAN_PID" "$BARE_PID" "$TRACED_PID" "$SAMPLED_PID"
wait "$SERVICE_PID" "$LEAN_PID" "$BARE_PID" "$TRACED_PID" "$SAMPLED_PID" 2>/dev/null || true
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
# Two passes over every agent (warm.lua stops there; wrk itself would wait out its duration).
AGENTS_FILE="$LOCAL/bench/agents.txt" wrk -t1 -c64 -d600s -s Benchmarks/warm.lua "$BASE" > "$LOCAL/bench/warm.txt" &
WRK_PID=$!
reads() { curl -sf "$BASE/metrics" | awk '/^ams_agent_cache_(hits|misses)_total/ {n += $2} END {printf "%d", n}'; }
until [ "$(reads)" -ge 200000 ] || ! kill -0 "$WRK_PID" 2>/dev/null; do sleep 1; done
kill -INT "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" || true
WARMED="$(reads)"
CACHED="$(rss_mb "$SERVICE_PID")"

echo
summary() { printf '%-44s %s (median %s, target %s)\n' "$1" "$2" "$(echo "$2" | median)" "$3"; }
summary "cached GET, the defaults ÷ bare GET:" "${GET_RATIO[*]}" "≥ 0.7"
summary "cached GET, lean ÷ bare GET:" "${LEAN_RATIO[*]}" "≥ 0.85"
summary "lean GET ÷ lean GET without metrics:" "${METRICS_RATIO[*]}" "≥ 0.95"
summary "GET …/config ÷ bare GET:" "${CONFIG_RATIO[*]}" "≥ 0.7"
summary "cached GET, traced (100%) ÷ the defaults:" "${TRACED_RATIO[*]}" "reported"
summary "cached GET, traced (1%) ÷ the defaults:" "${SAMPLED_RATIO[*]}" "reported"
summary "create, 400 tenants ÷ pgbench:" "${CREATE_RATIO[*]}" "≥ 0.6"
summary "create, one tenant ÷ pgbench:" "${ONE_RATIO[*]}" "≥ 0.4"
summary "PATCH ÷ pgbench:" "${PATCH_RATIO[*]}" "≥ 0.6"
echo "memory: $IDLE MB idle, $CACHED MB with 100,000 agents cached ($WARMED reads) (target ≤ 120 MB)"
