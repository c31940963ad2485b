"""The OpenAI -> Bedrock fallback as Python users write it, against edgeport: the openai SDK with
portkey_ai.createHeaders(config=...) as default headers, and portkey_ai.Portkey(config=...). Run by
e2e/python.test.mjs with the gateway URL, a gateway key and the stand-in URL; the gateway has the catalog
slugs @openai-prod (the stand-in's OpenAI side) and @bedrock-prod (its Bedrock side). Faults are scripted
on the stand-in's OpenAI side (match.provider = "openai"); its request log tells which upstream answered.
Exits non-zero on the first failed check."""

import json
import sys
import urllib.request

import openai
from portkey_ai import Portkey, createHeaders

gateway, key, standin = sys.argv[1], sys.argv[2], sys.argv[3]
GPT = "gpt-4o-mini"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
QUESTION = "What is the capital of France?"
USER = [{"role": "user", "content": QUESTION}]
OPENAI_TEXT = "Hello from the OpenAI stand-in: " + QUESTION
BEDROCK_TEXT = "Hello! How can I assist you today?"
CONFIG = {
    "strategy": {"mode": "fallback"},
    "targets": [
        {"provider": "@openai-prod"},
        {"provider": "@bedrock-prod", "override_params": {"model": HAIKU}},
    ],
}


def control(path, entry=None):
    req = urllib.request.Request(
        standin + path,
        data=None if entry is None else json.dumps(entry).encode(),
        headers={"content-type": "application/json"},
        method="GET" if entry is None else "POST",
    )
    return json.loads(urllib.request.urlopen(req).read() or b"null")


def reset():
    control("/__standin/reset", {})


def openai_fault(**fault):
    control("/__standin/script", {"match": {"provider": "openai"}, **fault})


def operations():
    return [r["operation"] for r in control("/__standin/requests")]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def streamed_text(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ---------------------------------------------------------------- openai SDK + createHeaders(config=...)
client = openai.OpenAI(
    base_url=gateway + "/v1",
    api_key=key,
    default_headers=createHeaders(config=CONFIG),
    max_retries=0,
)

reset()
raw = client.chat.completions.with_raw_response.create(model=GPT, messages=USER)
out = raw.parse()
check(
    out.choices[0].message.content == OPENAI_TEXT
    and raw.headers.get("x-portkey-last-used-option-index") == "config.targets[0]"
    and operations() == ["openai-chat"],
    f"openai: no fault -> the OpenAI target answers ({raw.headers.get('x-portkey-last-used-option-index')}, {operations()})",
)

for status in (429, 500):
    reset()
    openai_fault(status=status)
    raw = client.chat.completions.with_raw_response.create(model=GPT, messages=USER)
    out = raw.parse()
    check(
        out.choices[0].message.content.startswith(BEDROCK_TEXT)
        and out.model == HAIKU
        and raw.headers.get("x-portkey-last-used-option-index") == "config.targets[1]"
        and raw.headers.get("x-portkey-provider") == "@bedrock-prod"
        and operations() == ["openai-chat", "converse"],
        f"openai: OpenAI {status} -> @bedrock-prod answers ({raw.headers.get('x-portkey-last-used-option-index')}, {operations()})",
    )

reset()
openai_fault(match={"provider": "openai", "stream": True}, stream={"dropBeforeContent": True})
raw = client.chat.completions.with_raw_response.create(model=GPT, messages=USER, stream=True)
chunks = list(raw.parse())
check(
    "Paris" in streamed_text(chunks)
    and raw.headers.get("x-portkey-last-used-option-index") == "config.targets[1]"
    and operations() == ["openai-chat", "converse-stream"],
    f"openai: OpenAI stream dropped before content -> @bedrock-prod streams ({operations()})",
)

reset()
chunks = list(client.chat.completions.create(model=GPT, messages=USER, stream=True))
check(
    streamed_text(chunks) == OPENAI_TEXT and operations() == ["openai-chat"],
    f"openai: no fault -> the OpenAI target streams ({operations()})",
)

# ---------------------------------------------------------------- portkey_ai.Portkey(config=...)
portkey = Portkey(base_url=gateway + "/v1", api_key=key, config=CONFIG)

reset()
openai_fault(status=503)
out = portkey.chat.completions.create(model=GPT, messages=USER)
headers = out.get_headers() or {}
check(
    out.choices[0].message.content.startswith(BEDROCK_TEXT)
    and headers.get("last-used-option-index") == "config.targets[1]"
    and operations() == ["openai-chat", "converse"],
    f"portkey-ai: OpenAI 503 -> @bedrock-prod answers ({headers.get('last-used-option-index')}, {operations()})",
)

reset()
openai_fault(match={"provider": "openai", "stream": True}, stream={"errorAfterChunks": {"after": 1, "status": 500}})
chunks = list(portkey.chat.completions.create(model=GPT, messages=USER, stream=True))
check(
    "Paris" in streamed_text(chunks) and operations() == ["openai-chat", "converse-stream"],
    f"portkey-ai: OpenAI error event before content -> @bedrock-prod streams ({operations()})",
)

reset()
out = portkey.chat.completions.create(model=GPT, messages=USER)
check(
    out.choices[0].message.content == OPENAI_TEXT
    and (out.get_headers() or {}).get("last-used-option-index") == "config.targets[0]"
    and operations() == ["openai-chat"],
    f"portkey-ai: no fault -> the OpenAI target answers ({operations()})",
)
print("all OpenAI fallback checks passed")
