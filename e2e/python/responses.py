"""The OpenAI Responses API from Python, unchanged code against edgeport: the openai SDK's
client.responses.create, client.responses.stream (events, get_final_response()), a second turn with
previous_response_id, retrieve and delete. Run by e2e/python.test.mjs with the gateway URL, a gateway key
and the stand-in URL; the gateway has the catalog slug @demo (the stand-in's Bedrock side). The stand-in's
request log tells what Converse received. Exits non-zero on the first failed check."""

import json
import sys
import urllib.request

import openai

gateway, key, standin = sys.argv[1], sys.argv[2], sys.argv[3]
NOVA = "us.amazon.nova-micro-v1:0"
QUESTION = "What is the capital of France?"


def control(path, entry=None):
    req = urllib.request.Request(
        standin + path,
        data=None if entry is None else json.dumps(entry).encode(),
        headers={"content-type": "application/json"},
        method="GET" if entry is None else "POST",
    )
    return json.loads(urllib.request.urlopen(req).read() or b"null")


def converse_bodies():
    return [r["body"] for r in control("/__standin/requests") if r["operation"] in ("converse", "converse-stream")]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


client = openai.OpenAI(base_url=gateway + "/v1", api_key=key, default_headers={"x-portkey-provider": "@demo"}, max_retries=0)

# responses.create
control("/__standin/reset", {})
control("/__standin/script", {"match": {"operation": "converse"}, "text": "Paris."})
first = client.responses.create(model=NOVA, input=QUESTION, instructions="Answer in one word.")
check(first.id.startswith("resp_") and first.object == "response" and first.status == "completed", "responses.create: a completed resp_ response")
check(first.output_text == "Paris.", "responses.create: output_text")
check(first.output[0].type == "message" and first.output[0].content[0].text == "Paris.", "responses.create: one message item")
check(first.usage.total_tokens == first.usage.input_tokens + first.usage.output_tokens, "responses.create: usage")
check(first.usage.input_tokens_details.cached_tokens == 0 and first.usage.output_tokens_details.reasoning_tokens == 0, "responses.create: usage details")
[body] = converse_bodies()
check(body["system"] == [{"text": "Answer in one word."}] and body["messages"] == [{"role": "user", "content": [{"text": QUESTION}]}],
      "responses.create: Converse got instructions as system and the input as the user turn")

# responses.stream: iterate the events, then get_final_response()
control("/__standin/reset", {})
types, deltas = [], []
with client.responses.stream(model=NOVA, input=QUESTION) as stream:
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
    final = stream.get_final_response()
text = "".join(deltas)
check(text.startswith("The capital of France is Paris") and len(deltas) > 3, "responses.stream: text deltas")
check(final.output_text == text and final.status == "completed", "responses.stream: get_final_response() matches the deltas")
check(types[0] == "response.created" and types[-1] == "response.completed", "responses.stream: created ... completed")

# A second turn with previous_response_id: Bedrock gets the whole conversation.
control("/__standin/reset", {})
control("/__standin/script", {"match": {"operation": "converse"}, "text": "Berlin."})
second = client.responses.create(model=NOVA, input="And of Germany?", previous_response_id=first.id)
check(second.output_text == "Berlin." and second.id != first.id, "previous_response_id: the second turn's answer")
[body] = converse_bodies()
check([(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [("user", QUESTION), ("assistant", "Paris."), ("user", "And of Germany?")],
      "previous_response_id: Converse got the first turn's question and answer")

# Stored: retrieve, delete, then 404.
check(client.responses.retrieve(first.id).output_text == "Paris.", "responses.retrieve")
client.responses.delete(first.id)
try:
    client.responses.retrieve(first.id)
    check(False, "retrieve after delete raises")
except openai.NotFoundError:
    check(True, "responses.delete, then retrieve → NotFoundError")
print("all Python Responses API checks passed")
