#!/usr/bin/env bash
# The contract from outside: openapi-spec-validator checks openapi.yaml is valid OpenAPI 3.1,
# schemathesis drives every operation of it against the real
# process (valid and invalid data, every check but positive_data_acceptance, since tier rules
# refuse some schema-valid bodies), then a headless Chromium renders /docs and every operation must
# be on the page. Usage: contract.sh PATH_TO_BINARY (AMS_TEST_DATABASE_URL and AMS_TEST_ADMIN_URL,
# as scripts/test.sh exports them).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
: "${AMS_TEST_ADMIN_URL:=postgres://postgres@127.0.0.1:$(cat "$LOCAL/test/port")/postgres}"
BIN="$1"
SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0

if ! "$LOCAL/venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" \
  || ! "$LOCAL/venv/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $VALIDATOR_VERSION"; then
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
# Redis database 14: the Swift tests use 0–13.
export AMS_REDIS_URL="${AMS_TEST_REDIS_URL:?}/14"
# Rate limits would turn most of its thousands of requests from one tenant into 429s (RateLimitTests cover them).
export AMS_RATE_LIMITS=0
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

log "schemathesis against $BASE"
status=0
timeout --kill-after=10 600 "$LOCAL/venv/bin/schemathesis" run openapi.yaml --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" --header "X-Tenant-ID: contract-$RANDOM" \
  --mode all --checks all --exclude-checks positive_data_acceptance \
  --max-examples 30 --max-time 180 --seed 20261127 --request-timeout 10 --no-color \
  --report junit --report-dir "$LOCAL/schemathesis" || status=$?

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
