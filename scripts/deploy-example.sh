#!/usr/bin/env bash
# Deploys the bundled example app once (skipped when it is already deployed) and shows the tour.
set -euo pipefail
app="$1"; dir="$2"
xae=.venv/bin/xae
if ! $xae apps:info "$app" --json >/dev/null 2>&1; then
  $xae apps:create "$app"
fi
if $xae apps:info "$app" --json | .venv/bin/python -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["release"] else 1)'; then
  echo "==> $app is already deployed"
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
