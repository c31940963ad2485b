"""LangChain (langchain-openai's ChatOpenAI, pinned in requirements.txt) against edgeport, with the stand-in
answering like a model (answers: "model", standin/README.md "Model answers"): plain and streamed text,
structured output into pydantic models (JSON and streamed, partial objects too), and a tool round trip
(JSON and streamed, the tool call's arguments arriving in chunks). Run by e2e/python.test.mjs with the
gateway URL, a gateway key and the stand-in URL of a gateway in model mode; exits non-zero on the first
failed check."""

import json
import sys
import urllib.request
from typing import Literal, Optional

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.output_parsers import JsonOutputParser
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError

gateway, key, standin = sys.argv[1], sys.argv[2], sys.argv[3]
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def standin_get(path):
    return json.loads(urllib.request.urlopen(standin + "/__standin" + path).read())


def standin_reset():
    urllib.request.urlopen(urllib.request.Request(standin + "/__standin/reset", data=b"{}", method="POST")).read()


def operations():
    """The stand-in's requests since the last reset: [(operation, modelAnswer.kind)]."""
    return [(r["operation"], (r.get("modelAnswer") or {}).get("kind")) for r in standin_get("/requests")]


llm = ChatOpenAI(
    base_url=gateway + "/v1",
    api_key=key,
    default_headers={"x-portkey-provider": "@demo"},
    model=CLAUDE,
    stream_usage=True,  # stream_options.include_usage (LangChain sends it by default only to api.openai.com)
    max_retries=0,
    timeout=30,
)

# ---------------------------------------------------------------- text: invoke and stream
standin_reset()
said = "Hello from LangChain, please repeat this"
msg = llm.invoke(said)
check(msg.content == f'[{CLAUDE}] You said: "{said}"', "invoke: the answer echoes the words and names the model")
check(msg.response_metadata.get("finish_reason") == "stop" and msg.usage_metadata["output_tokens"] > 0, "invoke: finish_reason stop, usage")
chunks = list(llm.stream(said))
texts = [c.content for c in chunks if c.content]
check(len(texts) >= 2, f"stream: the text arrives in several chunks ({len(texts)})")
full = chunks[0]
for c in chunks[1:]:
    full = full + c
check(isinstance(full, AIMessageChunk) and full.content == msg.content, "stream: the chunks add up to the invoke answer")
check(full.usage_metadata and full.usage_metadata["output_tokens"] == msg.usage_metadata["output_tokens"], "stream: usage on the streamed answer")
check(operations() == [("converse", "text"), ("converse-stream", "text")], "text: Converse then ConverseStream on the stand-in")


# ---------------------------------------------------------------- structured output (pydantic)
class Budget(BaseModel):
    amount: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class Day(BaseModel):
    day: int = Field(ge=1, le=14)
    activity: str


class Trip(BaseModel):
    """A trip plan."""

    city: str
    country: str
    kind: Literal["beach", "city", "mountain"]
    days: list[Day] = Field(min_length=1)
    budget: Budget
    notes: Optional[str]


ask = "Plan a mountain trip to Zurich for 3 days"
standin_reset()
structured = llm.with_structured_output(Trip)  # the default method: json_schema (response_format)
trip = structured.invoke(ask)
check(isinstance(trip, Trip), f"with_structured_output: a Trip instance ({trip!r})")
check(trip.city == "Zurich" and trip.country == "Switzerland" and trip.kind == "mountain", "with_structured_output: values drawn from the words (city, country, the Literal named)")
check(all(isinstance(d, Day) for d in trip.days) and isinstance(trip.budget, Budget), "with_structured_output: nested models and a list of them")
check(Trip.model_validate_json(trip.model_dump_json()) == trip, "with_structured_output: the instance round-trips through pydantic validation")
body = standin_get("/requests")[-1]["body"]
fmt = body["outputConfig"]["textFormat"]
check(fmt["type"] == "json_schema" and fmt["structure"]["jsonSchema"]["name"] == "Trip", "with_structured_output: Converse outputConfig.textFormat named Trip")
schema = json.loads(fmt["structure"]["jsonSchema"]["schema"])
check(set(schema["required"]) == set(Trip.model_fields), "with_structured_output: the schema Bedrock got requires every field")

streamed = list(structured.stream(ask))
check(len(streamed) >= 1 and all(isinstance(t, Trip) for t in streamed), f"with_structured_output.stream: Trip objects ({len(streamed)})")
check(streamed[-1] == trip, "with_structured_output.stream: the final object equals the invoked one")
check(operations()[-1] == ("converse-stream", "json"), "with_structured_output.stream: ConverseStream with a JSON answer")

# Partial objects while the JSON streams in: response_format bound, parsed as it grows.
partials = list((llm.bind(response_format=Trip) | JsonOutputParser()).stream(ask))
check(len(partials) >= 4, f"partial JSON: {len(partials)} growing objects")
check(all(set(a) <= set(b) for a, b in zip(partials, partials[1:])), "partial JSON: each object has the keys of the one before")
try:
    Trip.model_validate(partials[0])
    check(False, "partial JSON: the first partial object is incomplete")
except ValidationError:
    check(True, "partial JSON: the first partial object is incomplete (fails validation)")
check(Trip.model_validate(partials[-1]) == trip, "partial JSON: the last object validates into the same Trip")

# The other method LangChain offers (a forced tool call) validates too.
via_tool = llm.with_structured_output(Trip, method="function_calling").invoke(ask)
check(isinstance(via_tool, Trip) and via_tool.city == "Zurich", "with_structured_output(method=function_calling): a Trip from a forced tool call")
check(standin_get("/requests")[-1].get("modelAnswer", {}).get("kind") == "tool", "function_calling: the stand-in answered with a tool call")


# ---------------------------------------------------------------- tools: bind_tools and a round trip
@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", days: int = 1) -> str:
    """Get the current weather for a city."""
    return f"18 degrees {unit} and sunny in {city}"


weather_llm = llm.bind_tools([get_weather])
question = HumanMessage("What's the weather in Paris?")

standin_reset()
ai = weather_llm.invoke([question])
check(len(ai.tool_calls) == 1 and ai.tool_calls[0]["name"] == "get_weather", "bind_tools: one get_weather tool call")
args = ai.tool_calls[0]["args"]
check(args["city"] == "Paris", f"bind_tools: args name Paris ({args})")
get_weather.args_schema.model_validate(args)  # raises when the arguments break the tool's schema
check(set(args) <= {"city", "unit", "days"} and args.get("unit", "celsius") in ("celsius", "fahrenheit"), "bind_tools: the arguments satisfy the tool's schema")
check(ai.response_metadata.get("finish_reason") == "tool_calls", "bind_tools: finish_reason tool_calls")
result = get_weather.invoke(ai.tool_calls[0])  # a ToolMessage carrying the call's id
check(isinstance(result, ToolMessage) and result.tool_call_id == ai.tool_calls[0]["id"], "the tool ran: a ToolMessage for the call")
answer = weather_llm.invoke([question, ai, result])
check(not answer.tool_calls and f'From get_weather: "{result.content}"' in answer.content, f"round trip: the next answer uses the tool result ({answer.content})")
check(CLAUDE in answer.content and "Paris" in answer.content, "round trip: the answer names the model and the question")
converse_body = standin_get("/requests")[-1]["body"]
kinds = [list(b)[0] for m in converse_body["messages"] for b in m["content"]]
check(kinds == ["text", "toolUse", "toolResult"], f"round trip: Bedrock got text, toolUse, toolResult ({kinds})")

# The same round trip streamed: AIMessageChunks accumulated, the arguments in several chunks.
chunks = list(weather_llm.stream([question]))
arg_pieces = [tc["args"] for c in chunks for tc in c.tool_call_chunks if tc.get("args")]
check(len(arg_pieces) >= 2, f"stream: the tool call's arguments arrive in {len(arg_pieces)} chunks")
acc = chunks[0]
for c in chunks[1:]:
    acc = acc + c
check(len(acc.tool_calls) == 1 and acc.tool_calls[0]["name"] == "get_weather", "stream: the accumulated chunks hold one get_weather call")
check(acc.tool_calls[0]["args"] == args, "stream: the accumulated arguments equal the JSON answer's")
check(acc.tool_calls[0]["id"].startswith("tooluse_"), "stream: the call has Bedrock's toolUseId")
result2 = get_weather.invoke(acc.tool_calls[0])
texts = []
final = None
for c in weather_llm.stream([question, acc, result2]):
    if c.content:
        texts.append(c.content)
    final = c if final is None else final + c
check(len(texts) >= 2 and final.content == answer.content, "stream: the answer after the result streams in chunks and equals the JSON one")
check(not final.tool_calls, "stream: no second tool call after the result")
check([o for o, _ in operations()][-2:] == ["converse-stream", "converse-stream"], "stream: both turns over ConverseStream")

print("all LangChain checks passed")
