#!/usr/bin/env bash
# Task queue benchmarks (issue 12), on one replica of the release build:
#  1. agent_validate throughput: COUNT tasks over 8 tenants' agents, XADD to the last completion.
#  2. a quiet tenant's single tasks while another tenant's 100,000-task backlog drains: the wait
#     from XADD to completion (p50/p99 over the samples), and the service's RSS through the flood.
# The service runs with its defaults (rate limits counted, the access log at info).
# Usage: Benchmarks/tasks.sh [COUNT] [FLOOD]   (defaults 20000 and 100000)
#        BENCH_SCRATCH=DIR: the release build's scratch path (default .build)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
COUNT="${1:-20000}"
FLOOD="${2:-100000}"

ensure_packages
export AMS_DATABASE_URL="$(start_postgres bench)"
PGPORT="$(cat "$LOCAL/bench/port")"
PSQL=("$(pg_bin)/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
export AMS_REDIS_URL="$(start_redis bench)"
REDIS_PORT="$(cat "$LOCAL/bench/redis/port")"
export AMS_JWT_SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export AMS_DEFAULT_TIER=enterprise
SCRATCH="${BENCH_SCRATCH:-$ROOT/.build}"

log "building (release)"
swift build -c release --scratch-path "$SCRATCH" --product agent-management >/dev/null
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/agent-management"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS ams WITH (FORCE)" -c "CREATE DATABASE ams OWNER ams" >/dev/null
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
"$BIN" migrate >/dev/null

export AMS_HTTP_PORT="$(free_port)"
"$BIN" serve > "$LOCAL/bench/tasks-server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$AMS_HTTP_PORT"
for _ in $(seq 1 150); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.2; done
TOKEN="$("$BIN" token --role service --ttl 2h)"
PREFIX="tb$RANDOM"
: > "$LOCAL/bench/task-agents.txt"
for t in $(seq 1 8); do
  for a in $(seq 1 10); do
    id="$(curl -sf -X POST "$BASE/v1/agents" -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $PREFIX-$t" -H 'Content-Type: application/json' \
      -d "{\"name\":\"a$a\",\"system_prompt\":\"You help.\",\"llm_config\":{\"model\":\"gpt-4o-mini\"},\"tools\":[\"search\"]}" \
      | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
    [ -n "$id" ] || die "could not create an agent"
    echo "$PREFIX-$t $id" >> "$LOCAL/bench/task-agents.txt"
  done
done
completed() { "${PSQL[@]}" -d ams -c "SELECT count(*) FROM tasks WHERE status = 'completed' AND tenant_id LIKE '$1%'"; }
wait_for() { # prefix count
  until [ "$(completed "$1")" -ge "$2" ]; do sleep 0.1; done
}

log "1. agent_validate throughput: $COUNT tasks over 8 tenants"
start=$(date +%s.%N)
python3 Benchmarks/tasks.py "$REDIS_PORT" throughput "$LOCAL/bench/task-agents.txt" "$COUNT"
wait_for "$PREFIX-" "$COUNT"
end=$(date +%s.%N)
failed="$("${PSQL[@]}" -d ams -c "SELECT count(*) FROM tasks WHERE status <> 'completed'")"
awk -v n="$COUNT" -v s="$start" -v e="$end" -v f="$failed" 'BEGIN { printf "agent_validate: %d tasks in %.2f s = %.0f tasks/s (not completed: %d)\n", n, e - s, n / (e - s), f }'
# The consumer alone: from the first recorded completion to the last (the producer above shares
# the two cores while it writes).
"${PSQL[@]}" -d ams -c "SELECT format('consumer rate, first to last completion: %s tasks/s', round(count(*) / extract(epoch FROM max(updated_at) - min(updated_at)))) FROM tasks"

[ "$FLOOD" -gt 0 ] || exit 0
log "2. a quiet tenant while another floods ($FLOOD tasks)"
read -r FT FA < <(sed -n 1p "$LOCAL/bench/task-agents.txt")
read -r QT QA < <(sed -n 80p "$LOCAL/bench/task-agents.txt")
"${PSQL[@]}" -d ams -c "DELETE FROM tasks" >/dev/null
rss() { ps -o rss= -p "$PID" | awk '{printf "%.1f", $1/1024}'; }
echo "rss before the flood: $(rss) MB"
python3 Benchmarks/tasks.py "$REDIS_PORT" flood "$FT" "$FA" "$FLOOD"
python3 Benchmarks/tasks.py "$REDIS_PORT" trickle "$QT" "$QA" 200 25 &
TRICKLE=$!
samples=()
while [ "$(completed "$FT")" -lt "$FLOOD" ]; do samples+=("$(rss)"); sleep 1; done
wait "$TRICKLE"
wait_for "$QT" 200
# The trickle must have run while the flood was still draining, or it measured nothing.
"${PSQL[@]}" -d ams -c "SELECT format('the last quiet task was queued %s s before the flood drained', round(extract(epoch FROM
  (SELECT max(updated_at) FROM tasks WHERE tenant_id = '$FT') - (SELECT max((message ->> 'created_at')::timestamptz) FROM tasks WHERE tenant_id = '$QT'))::numeric, 1))"
printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END { printf "rss during the flood: min %.1f MB, max %.1f MB (%d samples)\n", a[1], a[NR], NR }'
echo "rss after: $(rss) MB"
"${PSQL[@]}" -d ams -c "
  SELECT format('quiet tenant, XADD to completion: p50 %s ms, p99 %s ms, max %s ms over %s tasks',
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY w)::numeric, 1),
    round(max(w)::numeric, 1), count(*))
  FROM (SELECT extract(epoch FROM updated_at - (message ->> 'created_at')::timestamptz) * 1000 AS w FROM tasks WHERE tenant_id = '$QT') s"
