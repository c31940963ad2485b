#!/usr/bin/env bash
# The one run command: sets up what is missing, builds the Worker, starts the Bedrock stand-in on
# 127.0.0.1:8788, seeds local KV with a demo provider pointing at it, and runs `wrangler dev` on
# 127.0.0.1:8787. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
GATEWAY_PORT="${GATEWAY_PORT:-8787}"
STANDIN_PORT="${STANDIN_PORT:-8788}"
bash scripts/build.sh

node standin/server.mjs --port "$STANDIN_PORT" &
standin_pid=$!
trap 'kill $standin_pid 2>/dev/null || true' EXIT INT TERM

# The demo provider uses the stand-in's test credentials; a real provider looks the same with
# real keys and no custom_host (README: Adding a provider).
record=$(cat <<JSON
{"schema":1,"provider":"bedrock","aws_region":"us-east-1","auth":{"type":"access_key","access_key_id":"AKIDEDGEPORTTEST1","secret_access_key":"edgeport/test/secret/key/ONE+1234567890abc"},"custom_host":"http://127.0.0.1:$STANDIN_PORT"}
JSON
)
npx --no-install wrangler kv key put --local --binding CATALOG "provider:demo" "$record" >/dev/null

cat <<EOF2

edgeport is starting on http://127.0.0.1:$GATEWAY_PORT (Bedrock stand-in on http://127.0.0.1:$STANDIN_PORT).
Try:
  curl -s http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions \\
    -H 'content-type: application/json' -H 'x-portkey-provider: @demo' \\
    -d '{"model":"us.amazon.nova-micro-v1:0","messages":[{"role":"user","content":"What is the capital of France?"}]}'

EOF2
npx --no-install wrangler dev --ip 127.0.0.1 --port "$GATEWAY_PORT" \
  --var "TRUSTED_CUSTOM_HOSTS:127.0.0.1:$STANDIN_PORT" --show-interactive-dev-session=false
