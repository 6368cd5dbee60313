#!/usr/bin/env bash
# Deploys the bundled example app once (skipped when it is already deployed) and shows the tour.
set -euo pipefail
app="$1"; dir="$2"
xae=.venv/bin/xae
if ! $xae apps:info "$app" --json >/dev/null 2>&1; then
  $xae apps:create "$app"
fi
# Deployed and running: nothing to do. Deployed but not running (its image was removed from
# the engine behind xae's back, say): deployed again, so `make up` always ends with it serving.
serving='import json,sys
i = json.load(sys.stdin)
wanted = sum(f["quantity"] for f in i["formation"])
running = [x for x in i["instances"] if x["state"] == "running"]
sys.exit(0 if i["release"] and (running or not wanted) else 1)'
if $xae apps:info "$app" --json | .venv/bin/python -c "$serving"; then
  echo "==> $app is already deployed and running"
else
  $xae deploy "$dir" --app "$app"
fi
url=$($xae apps:info "$app" --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["url"])')
cat <<TXT

xae is up. The example app answers at: $url
  curl $url

Next, try:
  source .venv/bin/activate          # puts \`xae\` on your PATH
  xae status                         # health of every part of xae
  xae apps:create myapp && xae deploy path/to/your/app --app myapp
  xae ps:scale web=3 --app $app     # three instances behind the router
  xae config:set GREETING=Hi --app $app
  xae logs -f --app $app
  xae releases --app $app && xae rollback --app $app
TXT
