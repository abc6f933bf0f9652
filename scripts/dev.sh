#!/usr/bin/env bash
# Sets up and runs the service: installs what is missing, starts PostgreSQL and Redis under .local/dev,
# migrates, prints an admin token and a curl example, then serves on AMS_HTTP_PORT (8080).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages
export AMS_DATABASE_URL="${AMS_DATABASE_URL:-$(start_postgres dev)}"
export AMS_REDIS_URL="${AMS_REDIS_URL:-$(start_redis dev)}"
if [ -z "${AMS_JWT_SECRET:-}" ]; then
  [ -f "$LOCAL/dev/jwt-secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$LOCAL/dev/jwt-secret"
  export AMS_JWT_SECRET="$(cat "$LOCAL/dev/jwt-secret")"
fi
export AMS_HTTP_PORT="${AMS_HTTP_PORT:-8080}"

log "building (release)"
swift build -c release --product agent-management
BIN="$(swift build -c release --show-bin-path)/agent-management"
"$BIN" migrate

TOKEN="$("$BIN" token --tenant demo --role admin --ttl 12h)"
cat <<MSG

Admin token for tenant 'demo' (12h):
  export TOKEN=$TOKEN

Try it:
  curl -s -X POST localhost:$AMS_HTTP_PORT/v1/agents -H "Authorization: Bearer \$TOKEN" \\
    -H 'Content-Type: application/json' \\
    -d '{"name":"Support bot","llm_config":{"model":"gpt-4o-mini","temperature":0.3},"tools":["search"]}'
  curl -s localhost:$AMS_HTTP_PORT/v1/agents -H "Authorization: Bearer \$TOKEN"

MSG
exec "$BIN" serve
