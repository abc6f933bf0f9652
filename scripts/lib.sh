# Shared by dev.sh and test.sh: install what is missing, run a project-local PostgreSQL and Redis.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "run as root or install sudo"; fi
}

# Debian packages the service and its tests need; installed only when missing.
ensure_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || die "the Swift 6 toolchain is required (swift not on PATH)"
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's ephemeral range: a port from that range can be taken by an outgoing connection
# (to Postgres, to Redis) between this check and the server's bind.
free_port() {
  local port low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)"
  [ "${low:-0}" -gt 21000 ] 2>/dev/null || low=32768
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % (low - 20000) ))
    port_in_use "$port" || { echo "$port"; return; }
  done
  die "no free port found"
}

# Runs a command as the postgres OS user (initdb refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres NAME: a cluster under .local/NAME on a free loopback port, with role and database
# "ams" (an ordinary owner, not a superuser, so Row-Level Security applies), and the service's own
# role "ams_app", which owns nothing (`migrate --app-role ams_app` grants it what the service needs;
# see app_role_url). Prints the owner's database URL.
start_postgres() {
  local name="$1" dir="$LOCAL/$1" bin port
  bin="$(pg_bin)"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    runuser -u postgres -- test -x "$dir" || die "the postgres user cannot reach $dir; clone the repo somewhere it can (not under /root)"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir/data"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    port="$(cat "$dir/port")"
  else
    # Keep the port of an earlier run when it is still free, so URLs stay valid across restarts.
    port="$(cat "$dir/port" 2>/dev/null || true)"
    if [ -z "$port" ] || port_in_use "$port"; then port="$(free_port)"; fi
    echo "$port" > "$dir/port"
    log "starting PostgreSQL on 127.0.0.1:$port"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=500 -c fsync=on" start >/dev/null
  fi
  local psql=(psql -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'ams'")" != "1" ]; then
    "${psql[@]}" -c "CREATE ROLE ams LOGIN PASSWORD 'ams' NOSUPERUSER NOBYPASSRLS" >/dev/null
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'ams_app'")" != "1" ]; then
    "${psql[@]}" -c "CREATE ROLE ams_app LOGIN PASSWORD 'ams_app' NOSUPERUSER NOBYPASSRLS" >/dev/null
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'ams'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE ams OWNER ams" >/dev/null
  fi
  echo "postgres://ams:ams@127.0.0.1:$port/ams"
}

# app_role_url OWNER_URL: the same database as start_postgres's service role, ams_app.
app_role_url() { printf '%s\n' "${1/:\/\/ams:ams@/://ams_app:ams_app@}"; }

stop_postgres() {
  local dir="$LOCAL/$1"
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
}

# start_redis NAME: a redis-server under .local/NAME/redis on a free loopback port, appending every
# write to its log (fsync each second). Prints its URL.
start_redis() {
  local dir="$LOCAL/$1/redis" port
  mkdir -p "$dir"
  port="$(cat "$dir/port" 2>/dev/null || true)"
  if [ -n "$port" ] && [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then
    echo "redis://127.0.0.1:$port"
    return
  fi
  if [ -z "$port" ] || port_in_use "$port"; then port="$(free_port)"; fi
  echo "$port" > "$dir/port"
  log "starting Redis on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --appendonly yes --save "" >/dev/null
  for _ in $(seq 1 50); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && break
    sleep 0.1
  done
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] || die "Redis did not start; see $dir/redis.log"
  echo "redis://127.0.0.1:$port"
}
