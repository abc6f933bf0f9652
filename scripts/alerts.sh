#!/usr/bin/env bash
# Checks the alert rules (promtool check rules), runs their unit tests (promtool test rules), and
# checks that the Grafana dashboard is JSON. promtool comes with Debian's prometheus package.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if ! command -v promtool >/dev/null; then
  log "installing prometheus (for promtool)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

log "alert rules"
promtool check rules deploy/prometheus/alerts.yaml
promtool test rules deploy/prometheus/alerts.test.yaml
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' deploy/grafana/agent-management.json
