"""Existing Python programs, unchanged, against edgeport: the openai, anthropic and portkey-ai
Python SDKs (pinned in requirements.txt). Run by e2e/python.test.mjs with the gateway URL, a
gateway key and the stand-in URL; exits non-zero on the first failed check."""

import json
import sys
import urllib.request

import anthropic
import openai
from portkey_ai import Portkey, createHeaders

gateway, key, standin = sys.argv[1], sys.argv[2], sys.argv[3]
CLAUDE = "@demo/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "us.amazon.nova-micro-v1:0"


def script(entry):
    req = urllib.request.Request(
        standin + "/__standin/script",
        data=json.dumps(entry).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req).read()


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


# OpenAI SDK with Portkey's createHeaders (its strict-compliance spelling included).
client = openai.OpenAI(
    base_url=gateway + "/v1",
    api_key=key,
    default_headers=createHeaders(provider="@demo", strict_openai_compliance=False),
    max_retries=0,
)
out = client.chat.completions.create(model=NOVA, messages=[{"role": "user", "content": "Hello!"}])
check(out.object == "chat.completion" and out.choices[0].message.content, "openai: chat completion")
chunks = list(client.chat.completions.create(model=NOVA, messages=[{"role": "user", "content": "Hi"}], stream=True))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
# Strict compliance is off (createHeaders above): the raw Bedrock stop reason comes back.
check("Paris" in text and finish == ["end_turn"], "openai: streamed completion")
script({"match": {"operation": "converse"}, "status": 429, "errorType": "ThrottlingException", "message": "slow down"})
try:
    client.chat.completions.create(model=NOVA, messages=[{"role": "user", "content": "x"}])
    check(False, "openai: throttling raises")
except openai.RateLimitError as e:
    check("ThrottlingException" in str(e), "openai: throttling → RateLimitError")
try:
    openai.OpenAI(base_url=gateway + "/v1", api_key="ek_wrong", default_headers={"x-portkey-provider": "@demo"}, max_retries=0)\
        .chat.completions.create(model=NOVA, messages=[{"role": "user", "content": "x"}])
    check(False, "openai: a wrong gateway key raises")
except openai.AuthenticationError:
    check(True, "openai: wrong gateway key → AuthenticationError")

# Anthropic SDK: base URL without /v1, the provider in the model name.
claude = anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0)
msg = claude.messages.create(model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "Hello, Claude"}])
check(msg.type == "message" and msg.content[0].text, "anthropic: message")
with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "Hello, Claude"}]) as s:
    final = s.get_final_message()
check(final.content[0].text == msg.content[0].text, "anthropic: streamed final message equals the plain one")
count = claude.messages.count_tokens(model=CLAUDE, messages=[{"role": "user", "content": "Hello"}])
check(count.input_tokens > 0, "anthropic: count_tokens")
try:
    claude.messages.create(model="@demo/us.amazon.nova-micro-v1:0", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    check(False, "anthropic: non-Claude raises")
except anthropic.BadRequestError as e:
    check("/v1/chat/completions" in str(e), "anthropic: non-Claude model → BadRequestError")

# portkey-ai SDK.
portkey = Portkey(base_url=gateway + "/v1", api_key=key, provider="@demo")
out = portkey.chat.completions.create(model=NOVA, messages=[{"role": "user", "content": "Hello!"}])
check(out.choices[0].message.content, "portkey-ai: chat completion")
print("all Python SDK checks passed")
