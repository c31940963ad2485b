"""Embeddings and image generation from Python, against edgeport: the openai SDK (with
portkey_ai.createHeaders) and portkey_ai.Portkey, unchanged, on /v1/embeddings and
/v1/images/generations through the catalog slug @demo (the stand-in's Bedrock side). Run by
e2e/python.test.mjs with the gateway URL, a gateway key and the stand-in URL; exits non-zero on the first
failed check.

The expected vectors are the stand-in's deterministic ones (standin/media.mjs embeddingFor, re-implemented
here: (byte - 128) / 256 over SHA-256 blocks of (model, input)); images are read from their PNG tEXt chunks."""

import base64
import hashlib
import json
import math
import struct
import sys
import urllib.request
import zlib

import httpx
import openai
from portkey_ai import Portkey, createHeaders

gateway, key, standin = sys.argv[1], sys.argv[2], sys.argv[3]
TITAN = "amazon.titan-embed-text-v2:0"
TITAN_MM = "amazon.titan-embed-image-v1"
COHERE_EN = "cohere.embed-english-v3"
COHERE_V4 = "cohere.embed-v4:0"
NOVA_EMBED = "amazon.nova-2-multimodal-embeddings-v1:0"
NOVA_CANVAS = "amazon.nova-canvas-v1:0"
SD35 = "stability.sd3-5-large-v1:0"
CORE = "stability.stable-image-core-v1:1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
IMAGE_TOKENS = 1000


# ---------------------------------------------------------------- the stand-in's determinism


def embedding_for(model, inp, dims):
    seed = hashlib.sha256(f"{model}\0{inp}".encode()).digest()
    out = b""
    block = 0
    while len(out) < dims:
        out += hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        block += 1
    return [(b - 128) / 256 for b in out[:dims]]


def int8(floats):
    return [round(f * 256) for f in floats]


def tokens(text):
    return max(1, math.ceil(len(text.encode()) / 4))


def image_key(data):
    return "image:" + hashlib.sha256(data).hexdigest()


def make_png(width, height, rgb):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\0" * math.ceil(width / 8) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0))
        + chunk(b"PLTE", bytes(rgb))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_info(b64):
    """(width, height, {tEXt key: value}) of a base64 PNG, every CRC checked."""
    data = base64.b64decode(b64)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    off, text, size = 8, {}, None
    while off + 12 <= len(data):
        (length,) = struct.unpack(">I", data[off : off + 4])
        kind = data[off + 4 : off + 8]
        body = data[off + 8 : off + 8 + length]
        (crc,) = struct.unpack(">I", data[off + 8 + length : off + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind}"
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"tEXt":
            k, v = body.split(b"\0", 1)
            text[k.decode("latin-1")] = v.decode("latin-1")
        off += 12 + length
        if kind == b"IEND":
            break
    return size[0], size[1], text


RED = make_png(8, 8, [255, 0, 0])
RED_URL = "data:image/png;base64," + base64.b64encode(RED).decode()


# ---------------------------------------------------------------- the stand-in's control API


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


def script(**entry):
    control("/__standin/script", entry)


def invokes():
    return [r for r in control("/__standin/requests") if r["operation"] == "invoke"]


def bodies(recs):
    return sorted((r["body"] for r in recs), key=lambda b: json.dumps(b, sort_keys=True))


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


# ---------------------------------------------------------------- openai SDK + createHeaders

sent = []  # the JSON bodies the SDK sent


def keep_request(request):
    sent.append(json.loads(request.content or b"null"))


client = openai.OpenAI(
    base_url=gateway + "/v1",
    api_key=key,
    default_headers=createHeaders(provider="@demo"),
    max_retries=0,
    http_client=httpx.Client(event_hooks={"request": [keep_request]}),
)

# Titan Text v2, the SDK's default encoding (base64 on the wire, decoded by the SDK).
reset()
texts = ["alpha", "beta gamma delta"]
out = client.embeddings.create(model=TITAN, input=texts, dimensions=256)
recs = invokes()
check(sent[-1].get("encoding_format") == "base64", "openai: the SDK asks for base64 by default")
check(
    bodies(recs) == bodies([{"body": {"inputText": t, "dimensions": 256}} for t in texts])
    and all(r["model"] == TITAN and r["signature"]["ok"] for r in recs),
    f"openai: Titan one InvokeModel call per text ({bodies(recs)})",
)
check(
    [list(d.embedding) for d in out.data] == [embedding_for(TITAN, t, 256) for t in texts]
    and [d.index for d in out.data] == [0, 1]
    and out.model == TITAN
    and out.usage.prompt_tokens == out.usage.total_tokens == sum(tokens(t) for t in texts),
    "openai: Titan vectors (base64 decoded), indexes, model, usage",
)

# Cohere v3: Bedrock fields through extra_body, int8 as JSON integers.
reset()
docs = ["first doc", "second doc"]
raw = client.embeddings.with_raw_response.create(
    model=COHERE_EN,
    input=docs + [RED_URL],
    encoding_format="float",
    extra_body={"input_type": "search_query", "truncate": "END", "embedding_types": ["int8"]},
)
out = raw.parse()
recs = invokes()
common = {"truncate": "END", "embedding_types": ["int8"]}
check(
    bodies(recs)
    == bodies(
        [
            {"body": {"texts": docs, "input_type": "search_query", **common}},
            {"body": {"images": [RED_URL], "input_type": "image", **common}},
        ]
    ),
    "openai: Cohere v3 texts in one call, the image alone with input_type image",
)
want = [int8(embedding_for(COHERE_EN, k, 1024)) for k in docs + [image_key(RED)]]
# The wire has JSON integers; the SDK's model types `embedding` as List[float], so it hands back 3.0 for 3.
check(
    [d["embedding"] for d in json.loads(raw.text)["data"]] == want
    and all(type(v) is int for d in json.loads(raw.text)["data"] for v in d["embedding"])
    and [d.embedding for d in out.data] == want,
    "openai: Cohere int8 vectors are JSON integers, in input order",
)
check(out.usage.prompt_tokens == sum(tokens(t) for t in docs) + IMAGE_TOKENS, "openai: Cohere usage (1000 per image)")

# Nova multimodal embeddings: an image data URL and a text, embedding_purpose.
reset()
out = client.embeddings.create(
    model=NOVA_EMBED, input=["hello nova", RED_URL], dimensions=256, encoding_format="float", extra_body={"embedding_purpose": "CLUSTERING"}
)
recs = invokes()
params = {"embeddingPurpose": "CLUSTERING", "embeddingDimension": 256}
check(
    bodies(recs)
    == bodies(
        [
            {"body": {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {**params, "text": {"truncationMode": "END", "value": "hello nova"}}}},
            {
                "body": {
                    "taskType": "SINGLE_EMBEDDING",
                    "singleEmbeddingParams": {**params, "image": {"format": "png", "source": {"bytes": base64.b64encode(RED).decode()}}},
                }
            },
        ]
    ),
    "openai: Nova one call per input (text, image)",
)
check(
    [d.embedding for d in out.data] == [embedding_for(NOVA_EMBED, "hello nova", 256), embedding_for(NOVA_EMBED, image_key(RED), 256)],
    "openai: Nova vectors",
)

# Titan Multimodal: a {text, image} object.
reset()
out = client.embeddings.create(model=TITAN_MM, input=[{"text": "caption", "image": RED_URL}], dimensions=256, encoding_format="float")
check(
    [r["body"] for r in invokes()] == [{"inputText": "caption", "inputImage": base64.b64encode(RED).decode(), "embeddingConfig": {"outputEmbeddingLength": 256}}]
    and out.data[0].embedding == embedding_for(TITAN_MM, "caption\n" + image_key(RED), 256)
    and out.usage.prompt_tokens == tokens("caption") + IMAGE_TOKENS,
    "openai: Titan Multimodal text+image in one vector",
)

# Stability SD3.5: n=2 → two calls, 1792x1024 → 16:9, seed then seed + 1, images in order.
reset()
prompt = "a heron in the reeds"
out = client.images.generate(model=SD35, prompt=prompt, n=2, size="1792x1024", extra_body={"seed": 11})
check(
    bodies(invokes()) == bodies([{"body": {"prompt": prompt, "aspect_ratio": "16:9", "seed": s}} for s in (11, 12)]),
    "openai: SD3.5 two calls, aspect_ratio 16:9, seeds 11 and 12",
)
info = [png_info(d.b64_json) for d in out.data]
check(
    [(w, h, t["seed"], t["prompt"]) for w, h, t in info] == [(1344, 768, "11", prompt), (1344, 768, "12", prompt)],
    "openai: SD3.5 PNGs in seed order, 1344x768",
)

# Nova Canvas: n=2 in one call, quality hd → premium.
reset()
out = client.images.generate(model=NOVA_CANVAS, prompt="two moons", n=2, size="512x512", quality="hd")
check(
    [r["body"] for r in invokes()]
    == [
        {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "two moons"},
            "imageGenerationConfig": {"numberOfImages": 2, "width": 512, "height": 512, "quality": "premium"},
        }
    ],
    "openai: Nova Canvas one call, numberOfImages 2, quality premium",
)
info = [png_info(d.b64_json) for d in out.data]
check([(w, h, t["index"], t["quality"]) for w, h, t in info] == [(512, 512, "0", "premium"), (512, 512, "1", "premium")], "openai: Nova Canvas PNGs index 0, 1")

# Errors, through the SDK's classes.
reset()
try:
    client.images.generate(model=SD35, prompt="x", response_format="url")
    check(False, "openai: response_format url raises")
except openai.BadRequestError as e:
    check(e.status_code == 400 and "b64_json" in str(e) and e.body.get("param") == "response_format", "openai: response_format url → BadRequestError naming b64_json")
try:
    client.embeddings.create(model=TITAN, input=[[1, 2, 3]], encoding_format="float")
    check(False, "openai: token arrays raise")
except openai.BadRequestError as e:
    check(e.body.get("param") == "input" and "token arrays" in str(e), "openai: token arrays → BadRequestError naming input")
try:
    client.embeddings.create(model=HAIKU, input="x", encoding_format="float")
    check(False, "openai: a chat model raises")
except openai.BadRequestError as e:
    check(e.body.get("code") == "model_not_supported_on_route", "openai: chat model → model_not_supported_on_route")
check(invokes() == [], "openai: refused requests sent nothing to Bedrock")
script(match={"operation": "invoke", "model": COHERE_EN}, status=429, errorType="ThrottlingException", message="slow down")
try:
    client.embeddings.create(model=COHERE_EN, input="x")
    check(False, "openai: throttling raises")
except openai.RateLimitError as e:
    check("ThrottlingException" in str(e), "openai: ThrottlingException → RateLimitError")

# A fallback config (createHeaders(config=...)): Titan throttled → Cohere v4 answers the same body.
reset()
script(match={"operation": "invoke", "model": TITAN}, status=429, errorType="ThrottlingException")
config = {
    "strategy": {"mode": "fallback"},
    "targets": [
        {"provider": "@demo", "override_params": {"model": TITAN}},
        {"provider": "@demo", "override_params": {"model": COHERE_V4}},
    ],
}
fallback = openai.OpenAI(base_url=gateway + "/v1", api_key=key, default_headers=createHeaders(config=config), max_retries=0)
raw = fallback.embeddings.with_raw_response.create(model=TITAN, input="fall back", dimensions=256, extra_body={"input_type": "search_query"})
out = raw.parse()
recs = invokes()
check(
    raw.headers.get("x-portkey-last-used-option-index") == "config.targets[1]"
    and [(r["model"], r["status"]) for r in recs] == [(TITAN, 429), (COHERE_V4, 200)]
    and recs[1]["body"] == {"texts": ["fall back"], "input_type": "search_query", "output_dimension": 256}
    and list(out.data[0].embedding) == embedding_for(COHERE_V4, "fall back", 256),
    "openai + createHeaders(config): Titan throttled → Cohere v4 (config.targets[1])",
)

# ---------------------------------------------------------------- portkey-ai SDK

portkey = Portkey(base_url=gateway + "/v1", api_key=key, provider="@demo")
reset()
texts = ["portkey one", "portkey two"]
out = portkey.embeddings.create(model=COHERE_V4, input=texts, dimensions=256, input_type="clustering")
check(
    bodies(invokes()) == bodies([{"body": {"texts": texts, "input_type": "clustering", "output_dimension": 256}}]),
    "portkey-ai: embeddings.create → one Cohere v4 call (input_type as a keyword)",
)


def float32s(b64):
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# portkey_ai's embeddings.create goes through its vendored openai client, which asks for base64 by default,
# then builds the answer from the raw JSON without decoding: the vectors come back as the wire's base64
# strings (little-endian float32), as they would from OpenAI itself.
check(
    all(isinstance(d.embedding, str) for d in out.data)
    and [float32s(d.embedding) for d in out.data] == [embedding_for(COHERE_V4, t, 256) for t in texts]
    and out.usage.prompt_tokens == sum(tokens(t) for t in texts),
    "portkey-ai: embeddings vectors (base64, decoded here) and usage",
)
reset()
out = portkey.images.generate(model=CORE, prompt="a portkey stamp", size="1536x1024")
w, h, t = png_info(out.data[0].b64_json)
check(
    [r["body"] for r in invokes()] == [{"prompt": "a portkey stamp", "aspect_ratio": "3:2"}] and (w, h, t["prompt"]) == (1216, 832, "a portkey stamp"),
    "portkey-ai: images.generate → Stable Image Core 3:2",
)
print("all Python media checks passed")
