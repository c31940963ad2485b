//! `POST /v1/responses` (OpenAI's Responses API) → Bedrock Converse / ConverseStream, or passed
//! through to an OpenAI target; `GET` and `DELETE /v1/responses/{id}` on the stored responses.
//!
//! On Bedrock: the conversation (a stored response's items for `previous_response_id`, then the
//! input, `item_reference`s replaced by the stored items they name) becomes a chat request
//! ([`convert`]), Bedrock's answer a `response` ([`crate::providers::bedrock::responses`]), and
//! the response is stored ([`store`]) unless `store: false`. Everything the chat route has
//! applies: catalog providers and keys, header credentials, configs, custom hosts, errors, logs.

pub mod convert;
pub mod store;

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use crate::api::openai::responses::{OutputItem, ResponseObject};
use crate::api::openai::ChatCompletionRequest;
use crate::api::portkey::PortkeyHeaders;
use crate::error::{ApiFlavor, ErrorCode, GatewayError, Result};
use crate::gateway::target::Caller;
use crate::gateway::{json_route, target};
use crate::gateway::{respond, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::limits::{MAX_REFERENCED_RESPONSES, MAX_STORED_CONVERSATION_BYTES};
use crate::platform::{Kv, Platform};
use crate::providers::bedrock::responses::{
    final_event, Finished, ResponsesAnswer, ResponsesContext,
};
use crate::providers::options::UpstreamOptions;
use crate::providers::{self, random_id, Answer, ChatCall, Upstream};
use store::Record;

pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = run(platform, settings, caller, req, headers, outcome).await;
    respond(ApiFlavor::OpenAi, result, outcome)
}

/// `GET /v1/responses/{id}` (or `DELETE` when `delete`).
pub async fn handle_stored<P: Platform>(
    platform: &P,
    caller: &Caller,
    headers: &PortkeyHeaders,
    id: &str,
    delete: bool,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = stored(platform, caller, headers, id, delete).await;
    respond(ApiFlavor::OpenAi, result, outcome)
}

/// The id of `/v1/responses/{id}` (one path segment, not empty).
pub fn stored_id(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/responses/")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn not_found(id: &str) -> GatewayError {
    // Only an id of the right shape is repeated (it came from the URL).
    let named = if store::valid_id(id) {
        format!("`{id}`")
    } else {
        "with this id".to_owned()
    };
    GatewayError::not_found(format!(
        "no stored response {named} for this caller (responses are kept {} days, for the gateway key or credentials that created them)",
        crate::limits::RESPONSE_STORE_TTL_SECONDS / 86_400
    ))
    .with_code(ErrorCode::ResponseNotFound)
}

fn store_failed(e: &str) -> GatewayError {
    GatewayError::new(
        503,
        crate::error::ErrorKind::Overloaded,
        format!("the response store could not be read: {e}"),
    )
}

async fn stored<P: Platform>(
    platform: &P,
    caller: &Caller,
    headers: &PortkeyHeaders,
    id: &str,
    delete: bool,
) -> Result<GatewayResponse> {
    let Some(scope) = store::scope(caller, headers) else {
        return Err(not_found(id));
    };
    let record = store::load(platform.kv(), &scope, id)
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| not_found(id))?;
    if delete {
        store::delete(platform.kv(), &scope, id)
            .await
            .map_err(|e| store_failed(&e))?;
        return Ok(GatewayResponse::json(
            200,
            &json!({"id": id, "object": "response", "deleted": true}),
        ));
    }
    Ok(GatewayResponse::json(200, &record.response))
}

/// The stored responses one request reads (its `previous_response_id` and the responses its
/// `item_reference`s name), each read once for all of a config's attempts.
struct Stored {
    scope: Option<String>,
    records: HashMap<String, Option<Record>>,
}

impl Stored {
    async fn get<K: Kv>(&mut self, kv: &K, id: &str) -> Result<Option<&Record>> {
        let Some(scope) = &self.scope else {
            return Ok(None);
        };
        if !self.records.contains_key(id) {
            if self.records.len() >= MAX_REFERENCED_RESPONSES {
                return Err(GatewayError::invalid_param(
                    "input",
                    format!("the request names more than {MAX_REFERENCED_RESPONSES} stored responses (previous_response_id and item_reference items); send the items themselves"),
                ));
            }
            let record = store::load(kv, scope, id)
                .await
                .map_err(|e| store_failed(&e))?;
            self.records.insert(id.to_owned(), record);
        }
        Ok(self.records.get(id).and_then(Option::as_ref))
    }

    /// The conversation `previous_response_id` continues.
    async fn history<K: Kv>(&mut self, kv: &K, id: &str) -> Result<Vec<Value>> {
        match self.get(kv, id).await? {
            Some(record) => Ok(record.items.clone()),
            None => Err(GatewayError::invalid_param(
                "previous_response_id",
                format!(
                    "previous response {} was not found for this caller (it may have expired, been deleted, or been created with store: false or another key)",
                    if store::valid_id(id) { format!("`{id}`") } else { "with this id".into() }
                ),
            )
            .with_code(ErrorCode::PreviousResponseNotFound)),
        }
    }

    /// `input` with every `item_reference` replaced by the stored item it names. With
    /// `required`, an unknown reference is an error; without, it is left as it is (an OpenAI
    /// target may know it).
    async fn resolve<K: Kv>(
        &mut self,
        kv: &K,
        input: &[Value],
        required: bool,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(input.len());
        for (i, item) in input.iter().enumerate() {
            let reference = item
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| *t == "item_reference")
                .and_then(|_| item.get("id"))
                .and_then(Value::as_str);
            let Some(item_id) = reference else {
                out.push(item.clone());
                continue;
            };
            let found = match store::response_of_item(item_id) {
                Some(response_id) => self.get(kv, &response_id).await?.and_then(|r| {
                    r.items
                        .iter()
                        .find(|s| s.get("id").and_then(Value::as_str) == Some(item_id))
                        .cloned()
                }),
                None => None,
            };
            match found {
                Some(stored) => out.push(stored),
                None if !required => out.push(item.clone()),
                None => {
                    return Err(GatewayError::invalid_param(
                        &format!("input[{i}]"),
                        format!("input[{i}]: item_reference names no stored item of this caller; send the item itself"),
                    ))
                }
            }
        }
        Ok(out)
    }
}

async fn run<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let mut stored = Stored {
        scope: store::scope(caller, headers),
        records: HashMap::new(),
    };
    // https images are downloaded once, not once per target.
    let mut downloaded = providers::bedrock::media::Downloaded::new();
    json_route::run(
        platform,
        caller,
        req,
        headers,
        outcome,
        async |input, outcome| {
            let call = Call {
                caller: input.caller,
                headers: &input.headers,
                cached: input.cache.is_some(),
                body_bytes: input.body_bytes,
            };
            try_target(
                platform,
                settings,
                &call,
                input.body,
                &mut stored,
                &mut downloaded,
                outcome,
            )
            .await
        },
    )
    .await
}

struct Call<'a> {
    caller: &'a Caller,
    headers: &'a PortkeyHeaders,
    /// The config asked for the cache (which does not apply here).
    cached: bool,
    /// The request body's size (the limits' token estimate).
    body_bytes: usize,
}

/// Fields a catalog record's defaults never set on this route.
const RESERVED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "previous_response_id",
    "store",
    "stream",
];

async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    call: &Call<'_>,
    mut body: Map<String, Value>,
    stored: &mut Stored,
    downloaded: &mut providers::bedrock::media::Downloaded,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let headers = call.headers;
    let strict = headers.strict;
    let model = convert::read(&body)?.model;
    // Every answer has its own id and may be stored: the simple cache does not apply.
    outcome.cache = call.cached.then_some(crate::routing::cache::DISABLED);
    let target = target::resolve(platform, settings, call.caller, headers, &model).await?;
    target.apply_defaults(&mut body, RESERVED);
    let mut request = convert::read(&body)?;
    outcome.resolved(&target);
    outcome.stream = request.stream;
    let max_out = crate::gateway::limits::max_output(&body);
    crate::gateway::limits::admit_attempt(platform, outcome, &target, call.body_bytes, max_out)
        .await?;
    let chat_call = ChatCall {
        model_id: &target.model_id,
        strict,
        anthropic_beta_header: headers.anthropic_beta_joined(),
        options: UpstreamOptions::from_headers(headers, settings)?,
    };
    let bedrock = match &target.upstream {
        Upstream::Bedrock(b) => b,
        Upstream::OpenAi(openai) => {
            let body = for_openai(platform, stored, body, &request).await?;
            return Ok(
                match providers::openai::responses::complete(platform, openai, &chat_call, body)
                    .await?
                {
                    Answer::Json(value) => {
                        outcome.usage = crate::usage::extract::from_answer(&value);
                        GatewayResponse::json(200, &value)
                    }
                    Answer::Stream(sse) => GatewayResponse::sse(sse),
                },
            );
        }
    };
    let history = match &request.previous_response_id {
        Some(id) => stored.history(platform.kv(), id).await?,
        None => Vec::new(),
    };
    request.input = stored.resolve(platform.kv(), &request.input, true).await?;
    let store = request.store && stored.scope.is_some();
    request.echo.store = store;
    if store {
        let size: usize = history
            .iter()
            .chain(&request.input)
            .map(|v| v.to_string().len())
            .sum();
        if size > MAX_STORED_CONVERSATION_BYTES {
            return Err(GatewayError::invalid_request(format!(
                "the conversation is larger than {MAX_STORED_CONVERSATION_BYTES} bytes, the most one stored response holds; send store: false (and the items yourself) to go on"
            ))
            .with_code(ErrorCode::ConversationTooLarge));
        }
    }
    let (chat_body, origins) = convert::to_chat(&body, &request, &history)?;
    let chat: ChatCompletionRequest = serde_json::from_value(Value::Object(chat_body))
        .map_err(|e| GatewayError::from_json_error("the request body", &e))?;
    let ctx = ResponsesContext {
        id: random_id("resp_"),
        created_at: platform.now_millis() / 1000,
        model: target.model_id.clone(),
        show_summary: !strict
            || request
                .echo
                .reasoning
                .get("summary")
                .is_some_and(|s| !s.is_null()),
        show_encrypted: !strict || request.include_encrypted,
        echo: request.echo.clone(),
    };
    let answer = providers::bedrock::responses::complete(
        platform, settings, bedrock, &chat_call, chat, downloaded, ctx,
    )
    .await
    .map_err(|e| convert::repath(e, &origins))?;
    let mut conversation = history;
    conversation.extend(request.input);
    let scope = stored.scope.clone().filter(|_| store);
    match answer {
        ResponsesAnswer::Json(finished) => {
            let Finished {
                response,
                items,
                tokens,
            } = *finished;
            outcome.usage = tokens;
            let response = keep(
                platform.kv_writer(),
                platform.log_sink(),
                scope,
                conversation,
                response,
                &items,
            )
            .await;
            let value = serde_json::to_value(&response)
                .map_err(|_| GatewayError::internal("could not encode the answer"))?;
            Ok(GatewayResponse::json(200, &value))
        }
        ResponsesAnswer::Stream(sse, end) => {
            let writer = platform.kv_writer();
            let log = platform.log_sink();
            // The last event is written once the response is stored, so a client that continues
            // the conversation the moment it sees `response.completed` finds it.
            let last = futures_util::stream::once(async move {
                let finished = end.borrow_mut().finished.take();
                let sequence = end.borrow().next_sequence;
                let Finished {
                    response,
                    items,
                    tokens,
                } = finished?;
                let response = keep(writer, log, scope, conversation, response, &items).await;
                let finished = Finished {
                    response,
                    items,
                    tokens,
                };
                Some(Bytes::from(final_event(&finished, sequence)))
            })
            .filter_map(|b| async move { b });
            Ok(GatewayResponse::sse(
                sse.wrap(|inner| Box::pin(inner.chain(last))),
            ))
        }
    }
}

/// Stores the finished response (when `scope` is set) and returns it as answered: `store` says
/// whether it was kept.
async fn keep(
    writer: crate::platform::KvWriter,
    log: crate::platform::LogSink,
    scope: Option<String>,
    mut conversation: Vec<Value>,
    mut response: ResponseObject,
    items: &[OutputItem],
) -> ResponseObject {
    let Some(scope) = scope else {
        response.echo.store = false;
        return response;
    };
    conversation.extend(items.iter().filter_map(|i| serde_json::to_value(i).ok()));
    let record = Record {
        response: serde_json::to_value(&response).unwrap_or(Value::Null),
        items: conversation,
    };
    let outcome = match store::encode(&record) {
        Some(text) => store::save(&writer, &scope, &response.id, text).await,
        None => Err(format!(
            "the conversation is larger than {MAX_STORED_CONVERSATION_BYTES} bytes"
        )),
    };
    if let Err(why) = outcome {
        log(&json!({"event": "response_store_failed", "why": why}).to_string());
        response.echo.store = false;
    }
    response
}

/// The body for an OpenAI target: a `previous_response_id` that edgeport stored (a Bedrock
/// turn earlier in the conversation) becomes the items themselves, and `item_reference`s to
/// edgeport's stored items are replaced by them (earlier reasoning is left out: OpenAI cannot
/// read Bedrock's). Everything else goes as it is.
async fn for_openai<P: Platform>(
    platform: &P,
    stored: &mut Stored,
    mut body: Map<String, Value>,
    request: &convert::ResponsesRequest,
) -> Result<Map<String, Value>> {
    let mut items = Vec::new();
    if let Some(id) = &request.previous_response_id {
        if let Some(record) = stored.get(platform.kv(), id).await? {
            items = record.items.clone();
            body.remove("previous_response_id");
        }
    }
    let resolved = stored.resolve(platform.kv(), &request.input, false).await?;
    let changed = !items.is_empty() || resolved != request.input;
    if changed {
        items.extend(resolved);
        items.retain(|i| i.get("type").and_then(Value::as_str) != Some("reasoning"));
        body.insert("input".into(), Value::Array(items));
    }
    Ok(body)
}
