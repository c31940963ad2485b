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

node standin/server.mjs --port "$STANDIN_PORT" --answers model &
standin_pid=$!
trap 'kill $standin_pid 2>/dev/null || true' EXIT INT TERM

# The demo provider (sealed with a per-checkout CATALOG_KEY in .dev.vars) uses the stand-in's
# test credentials. With AWS credentials in the environment (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
# [+ AWS_SESSION_TOKEN], or AWS_BEARER_TOKEN_BEDROCK; AWS_REGION or AWS_DEFAULT_REGION) a real
# `@bedrock` is seeded too, and `@openai` with OPENAI_API_KEY (README: Two commands).
seed=$(node scripts/seed-dev.mjs "http://127.0.0.1:$STANDIN_PORT")
key=$(sed -n 's/^key=//p' <<<"$seed")
seeded=$(sed -n 's/^seeded=//p' <<<"$seed")

cat <<EOF2

edgeport is starting on http://127.0.0.1:$GATEWAY_PORT (Bedrock stand-in on http://127.0.0.1:$STANDIN_PORT).
Providers: ${seeded//,/, } (as @slug). Gateway key: $key
Try the demo (the stand-in answers in the shape you ask: your words back, tool calls, JSON for a schema):
  curl -s http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions \\
    -H 'content-type: application/json' -H "x-portkey-api-key: $key" -H 'x-portkey-provider: @demo' \\
    -d '{"model":"us.amazon.nova-micro-v1:0","messages":[{"role":"user","content":"What is the capital of France?"}]}'
EOF2
if [[ ",$seeded," == *",bedrock,"* ]]; then
  cat <<EOF2
Real Bedrock (your AWS account is billed): the same with -H 'x-portkey-provider: @bedrock'.
EOF2
fi
if [[ ",$seeded," == *",openai,"* ]]; then
  cat <<EOF2
Real OpenAI (billed): -H 'x-portkey-provider: @openai' and a model like gpt-4o-mini.
EOF2
fi
echo
npx --no-install wrangler dev --ip 127.0.0.1 --port "$GATEWAY_PORT" \
  --var "TRUSTED_CUSTOM_HOSTS:http://127.0.0.1:$STANDIN_PORT" --show-interactive-dev-session=false
