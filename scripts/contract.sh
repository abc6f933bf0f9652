#!/usr/bin/env bash
# The contract from outside: openapi-spec-validator checks openapi.yaml is valid OpenAPI 3.1,
# schemathesis drives every operation of it against the real process with rate limits on (valid
# and invalid data, every check; positive_data_acceptance off only for the operations listed in
# the configuration below, each with the rule the schema cannot say), then a headless Chromium
# renders /docs and every operation must be on the page. Usage: contract.sh PATH_TO_BINARY
# (AMS_TEST_DATABASE_URL, AMS_TEST_ADMIN_URL and AMS_TEST_REDIS_URL, as scripts/test.sh exports them).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
: "${AMS_TEST_ADMIN_URL:=postgres://postgres@127.0.0.1:$(cat "$LOCAL/test/port")/postgres}"
BIN="$1"
SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0

# The outputs are read whole: `grep -q` would stop reading early, and with pipefail the writer's
# broken pipe would count as a missing install (and reinstall every run).
if [[ "$("$LOCAL/venv/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]] \
  || [[ "$("$LOCAL/venv/bin/pip" show openapi-spec-validator 2>/dev/null)" != *$'\nVersion: '"$VALIDATOR_VERSION"$'\n'* ]]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into .local/venv"
  python3 -m venv --clear "$LOCAL/venv"
  "$LOCAL/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

# A database of its own: schemathesis replaces the tool catalog and changes tiers at random.
psql "$AMS_TEST_ADMIN_URL" -v ON_ERROR_STOP=1 -qtA \
  -c "DROP DATABASE IF EXISTS ams_contract WITH (FORCE)" -c "CREATE DATABASE ams_contract OWNER ams" >/dev/null
PORT="$(free_port)"
export AMS_DATABASE_URL="${AMS_TEST_DATABASE_URL%/*}/ams_contract" AMS_JWT_SECRET="contract-test-secret-0123456789abcdefghijklmn"
export AMS_HTTP_PORT="$PORT" AMS_DEFAULT_TIER=enterprise AMS_ACCESS_LOG=0
# Redis database 14: the Swift tests use 0–13. It starts empty, so no count of an earlier run is left.
export AMS_REDIS_URL="${AMS_TEST_REDIS_URL:?}/14"
redis-cli -u "$AMS_REDIS_URL" FLUSHDB >/dev/null
# Rate limits on, as deployed: every request is counted in Redis and answers with the headers the
# document declares. The main run's tenant is on the enterprise tier of a copy of config/tiers.yaml
# whose requests per minute and quotas are lifted (as Benchmarks/run.sh does): the run's thousands
# of requests from one tenant would otherwise be mostly 429s and reach nothing behind the limiter.
# The shipped limits are exercised too: a second run on a free tenant, mostly refused with 429.
mkdir -p "$LOCAL/contract"
sed -e '/enterprise:/,/max_webhooks/ s/max_agents: 100$/max_agents: 10000000/' \
    -e '/enterprise:/,/max_webhooks/ s/requests_per_minute: 1000$/requests_per_minute: 1000000000/' \
    -e '/enterprise:/,/max_webhooks/ s/max_webhooks: 50$/max_webhooks: 1000000/' \
    config/tiers.yaml > "$LOCAL/contract/tiers.yaml"
[ "$(grep -cE 'max_agents: 10000000$|requests_per_minute: 1000000000$|max_webhooks: 1000000$' "$LOCAL/contract/tiers.yaml")" = 3 ] \
  || die "could not lift the enterprise limits in a copy of config/tiers.yaml"
export AMS_TIERS_FILE="$LOCAL/contract/tiers.yaml"
LOGFILE="$LOCAL/contract-server.log"
"$BIN" serve > "$LOGFILE" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "localhost:$PORT/health" >/dev/null || { tail -n 40 "$LOGFILE" >&2; die "the service did not start"; }
BASE="http://127.0.0.1:$PORT"
TOKEN="$("$BIN" token --role service --ttl 1h)"

log "openapi.yaml: valid OpenAPI 3.1"
"$LOCAL/venv/bin/python" - <<'PY'
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.readers import read_from_filename
document, _ = read_from_filename("openapi.yaml")
validate(document, cls=OpenAPIV31SpecValidator)
print("openapi.yaml: valid OpenAPI 3.1")
PY

TENANT="contract-$RANDOM"
FREE_TENANT="contract-free-$RANDOM"
# Every check runs (schemathesis' default). positive_data_acceptance (data the schema allows is
# accepted) is off only where a rule the schema cannot state refuses some schema-valid requests:
# - createAgent, importAgent, applyAgents, createTemplate, createTemplateFromAgent, patchAgent,
#   patchTemplate, rollbackAgent, bulkUpdateAgents: the result is validated against the database:
#   every tool must be in the tool catalog (the generated ids mostly are not) with its
#   required_config keys, and the tenant's tier bounds models, tokens, prompts and counts; apply
#   also needs the names unique within the request (cross-field). 400 AMS-100 / AMS-109.
#   The same rules, with names already taken (409) and If-Match naming another version (412),
#   leave some of schemathesis' repeated fuzzing rounds on these operations with no request
#   accepted, which it reports as a "schema validation mismatch"; it is state, not a looser schema.
# - createWebhook, updateWebhook: a url whose host resolves to a loopback, private or reserved
#   address is refused (DNS; 400 AMS-100).
# - enqueueTask: the payload a task needs depends on its `type` (cross-field; 400 AMS-109).
# - replaceToolCatalog: ids unique across the array (cross-item; 400 AMS-109).
# Answers that depend on state are expected where they are documented: 412 AMS-306 when If-Match
# names another version than the agent's (patchAgent, deleteAgent, setAgentStatus, rollbackAgent;
# also the refusal of an If-Match the schema does not allow, which never matches), and 426 for
# GET /v1/ws without an upgrade: schemathesis cannot ask for one, so every answer there is 426
# (it runs in the second run, whose warnings are off: they would only say so).
# The tool catalog is replaced (PUT /internal/v1/tools) only in the second run, after the first,
# whose agents and templates then reference the shipped catalog (config/tools.yaml).
# U+0000 is refused in every string (400 AMS-109, documented once under "Request bodies"), so
# none is generated. Cursors are the service's own (`next_cursor`); the run passes one it issued.
POSITIVE_OFF='"createAgent", "importAgent", "applyAgents", "createTemplate", "createTemplateFromAgent", "patchAgent", "patchTemplate", "rollbackAgent", "bulkUpdateAgents", "createWebhook", "updateWebhook", "enqueueTask", "replaceToolCatalog"'
cat > "$LOCAL/contract/schemathesis.toml" <<TOML
[generation]
allow-x00 = false

# Only explicit links: links inferred from path parameters would lead PUT /internal/v1/tenants/{tenant_id}
# to the run's own tenant and change its tier.
[phases.stateful.inference]
algorithms = ["location-headers"]

[[operations]]
include-operation-id = [$POSITIVE_OFF]
checks.positive_data_acceptance.enabled = false

[[operations]]
include-operation-id = ["patchAgent", "deleteAgent", "setAgentStatus", "rollbackAgent"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]

[[operations]]
include-operation-id = "watchEvents"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "426", "429", "5xx"]

[[operations]]
include-operation-id = ["listAgents", "listAgentVersions", "getAgentHistory", "listTasks", "listWebhooks", "listWebhookDeliveries"]
parameters = { "query.cursor" = "djE6NDI" }

[[operations]]
include-operation-id = "listTemplates"
parameters = { "query.cursor" = "dDE6czA" }

# Tasks are queued, and agents read, in the run's tenant, so that the links find them.
[[operations]]
include-operation-id = ["enqueueTask", "batchGetAgents"]
parameters = { "body.tenant_id" = "$TENANT" }

[[operations]]
include-operation-id = ["getAgentConfig", "getAgentAvailability"]
parameters = { "path.tenant_id" = "$TENANT" }

# Tier changes go to a tenant of their own: the run's tenant keeps its lifted limits.
[[operations]]
include-operation-id = "setTenantTier"
parameters = { "path.tenant_id" = "contract-tiers" }
TOML
SCHEMATHESIS=(timeout --kill-after=10 600 "$LOCAL/venv/bin/schemathesis" --config-file "$LOCAL/contract/schemathesis.toml" run openapi.yaml
  --url "$BASE" --header "Authorization: Bearer $TOKEN" --mode all --seed 20261127 --request-timeout 10 --no-color)

log "schemathesis against $BASE (tenant $TENANT, limits lifted)"
status=0
"${SCHEMATHESIS[@]}" --header "X-Tenant-ID: $TENANT" --max-examples 30 --max-time 180 --exclude-operation-id replaceToolCatalog --exclude-operation-id watchEvents \
  --report junit --report-dir "$LOCAL/schemathesis" || status=$?

log "schemathesis against $BASE (tenant $FREE_TENANT, the free tier's shipped limits)"
# 60 requests a minute, 5 creates a day and 2 agents: most answers are 429 (or 403), each checked
# against the document (Retry-After: the seconds left in the window; X-RateLimit-*).
curl -sf -X PUT "$BASE/internal/v1/tenants/$FREE_TENANT" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"tier":"free"}' >/dev/null || die "could not put $FREE_TENANT on the free tier"
"${SCHEMATHESIS[@]}" --header "X-Tenant-ID: $FREE_TENANT" --phases fuzzing --max-examples 60 \
  --include-path-regex '^/v1/(agents|tenant|templates|ws)$' --include-operation-id replaceToolCatalog --warnings off \
  --report junit --report-dir "$LOCAL/schemathesis-free" || status=$?

log "/openapi.json and /openapi.yaml: the same document"
"$LOCAL/venv/bin/python" - "$BASE" <<'PY' || status=1
import json, sys, urllib.request, yaml
served_yaml = yaml.safe_load(urllib.request.urlopen(sys.argv[1] + "/openapi.yaml"))
served_json = json.load(urllib.request.urlopen(sys.argv[1] + "/openapi.json"))
on_disk = yaml.safe_load(open("openapi.yaml"))
if not (served_yaml == served_json == on_disk):
    sys.exit("FAIL the served documents differ from openapi.yaml")
print("openapi: the YAML, the JSON and openapi.yaml agree")
PY

log "rendering /docs in headless chromium"
CHROMIUM=(timeout --kill-after=5 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage)
"${CHROMIUM[@]}" --dump-dom "$BASE/docs" > "$LOCAL/docs-dom.html" 2>/dev/null || { echo "FAIL chromium could not render /docs (rc=$?)" >&2; status=1; }
"${CHROMIUM[@]}" --hide-scrollbars --window-size=1280,2400 --screenshot="$LOCAL/docs.png" "$BASE/docs" >/dev/null 2>&1 || true
missing="$(python3 - "$LOCAL/docs-dom.html" "$BASE/openapi.json" <<'PY'
import json, sys, urllib.request
dom = open(sys.argv[1]).read()
doc = json.load(urllib.request.urlopen(sys.argv[2]))
ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if isinstance(op, dict) and "operationId" in op]
print(" ".join(i for i in ids if f'id="op-{i}"' not in dom) if ids else "no-operations")
PY
)"
if [ -n "$missing" ]; then echo "FAIL /docs in chromium lacks: $missing" >&2; status=1; else echo "docs: every operation rendered (screenshot: .local/docs.png)"; fi

if [ "$status" -ne 0 ]; then echo "--- server log ---" >&2; tail -n 40 "$LOGFILE" >&2; fi
exit "$status"
