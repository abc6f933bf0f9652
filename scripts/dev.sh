#!/usr/bin/env bash
# Sets up and runs the service: installs what is missing, starts PostgreSQL and Redis under .local/dev,
# migrates, prints an admin token and a curl example, then serves on AMS_HTTP_PORT (8080).
# With its own PostgreSQL it runs as production should (README, "Database roles"): the owner `ams`
# migrates and grants the service's role `ams_app`, and the service connects as `ams_app`.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages
if [ -z "${AMS_DATABASE_URL:-}" ]; then
  OWNER_URL="$(start_postgres dev)"
  MIGRATE=(env AMS_DATABASE_URL="$OWNER_URL" AMS_APP_ROLE=ams_app)
  export AMS_DATABASE_URL="$(app_role_url "$OWNER_URL")"
else
  MIGRATE=(env)
fi
export AMS_REDIS_URL="${AMS_REDIS_URL:-$(start_redis dev)}"
if [ -z "${AMS_JWT_SECRET:-}" ]; then
  [ -f "$LOCAL/dev/jwt-secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$LOCAL/dev/jwt-secret"
  export AMS_JWT_SECRET="$(cat "$LOCAL/dev/jwt-secret")"
fi
export AMS_HTTP_PORT="${AMS_HTTP_PORT:-8080}"

log "building (release)"
swift build -c release --product agent-management
BIN="$(swift build -c release --show-bin-path)/agent-management"
"${MIGRATE[@]}" "$BIN" migrate

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
