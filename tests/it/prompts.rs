//! `POST /v1/prompts/{id}/completions`: stored templates rendered with `variables`, then the
//! chat-completions pipeline against the fake outside world.

use crate::common::*;
use crate::streams;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-portkey-api-key", TEST_GATEWAY_KEY);

fn demo_record() -> Value {
    json!({"schema": 2, "provider": "bedrock", "aws_region": "us-west-2",
        "auth": {"type": "access_key", "access_key_id": "AKIDCATALOG", "secret_access_key": "catalog/secret/never-shown"}})
}

fn put_prompt(world: &FakeWorld, id: &str, record: &Value) {
    world
        .kv
        .0
        .borrow_mut()
        .insert(format!("prompt:{id}"), record.to_string());
}

/// The brief's example template, through the `@prod` catalog provider.
fn persona_prompt() -> Value {
    json!({"schema": 1, "template": {
        "messages": [
            {"role": "system", "content": "You are {{persona}}."},
            {"role": "user", "content": "{{question}}"}],
        "model": "us.amazon.nova-micro-v1:0",
        "provider": "@prod",
        "params": {"max_tokens": 64, "temperature": 0.2}}})
}

fn world_with(id: &str, record: &Value) -> FakeWorld {
    let world = FakeWorld::default();
    world.put_record("prod", demo_record());
    put_prompt(&world, id, record);
    world
}

fn ok_answer(world: &FakeWorld) {
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

fn call(world: &FakeWorld, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
    run(world, &settings(), request(path, headers, body))
}

#[test]
fn renders_the_template_and_sends_the_exact_converse_body() {
    let world = world_with("persona", &persona_prompt());
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({"variables": {"persona": "a pirate", "question": "Where is the treasure?"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_sent();
    assert_eq!(
        sent.url,
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.amazon.nova-micro-v1%3A0/converse"
    );
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [{"text": "Where is the treasure?"}]}],
               "system": [{"text": "You are a pirate."}],
               "inferenceConfig": {"maxTokens": 64, "temperature": 0.2}})
    );
    let body = a.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "us.amazon.nova-micro-v1:0");
    assert!(body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Hello!"));
    assert_eq!(a.header("x-portkey-provider"), Some("@prod"));
    // Also without /v1, and with the key as a Bearer token.
    ok_answer(&world);
    let a = call(
        &world,
        "/prompts/persona/completions",
        &[("authorization", &format!("Bearer {TEST_GATEWAY_KEY}"))],
        &json!({"variables": {"persona": "a pirate", "question": "?"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
}

#[test]
fn every_variable_type_spaces_repeats_and_text_parts() {
    let record = json!({"schema": 1, "template": {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "{{ who }} / {{who}} / {{{who}}}"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "n={{n}} f={{f}} b={{ b }}"},
                {"type": "text", "text": "o={{o}} a={{a}} e={{e}} literal {{ not a var }} {{"}]}],
        "model": "m"}});
    let world = world_with("types", &record);
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/types/completions",
        HEADER_CREDS,
        &json!({"variables": {"who": "Ada", "n": 42, "f": 1.5, "b": false,
            "o": {"k": [1, "x"]}, "a": [1, 2], "e": "", "unused": "fine"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body(),
        json!({"system": [{"text": "Ada / Ada / Ada"}],
               "messages": [{"role": "user", "content": [
                   {"text": "n=42 f=1.5 b=false"},
                   {"text": "o={\"k\":[1,\"x\"]} a=[1,2] e= literal {{ not a var }} {{"}]}]})
    );
}

#[test]
fn a_value_is_not_rescanned() {
    let record = json!({"schema": 1, "template": {
        "messages": [{"role": "user", "content": "{{a}}"}], "model": "m"}});
    let world = world_with("p", &record);
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/p/completions",
        HEADER_CREDS,
        &json!({"variables": {"a": "{{b}}"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body()["messages"][0]["content"][0]["text"],
        "{{b}}"
    );
}

#[test]
fn missing_variable_is_a_400_naming_it() {
    let world = world_with("persona", &persona_prompt());
    for variables in [
        json!({"persona": "a pirate"}),
        json!({"persona": "a pirate", "question": null}),
    ] {
        let a = call(
            &world,
            "/v1/prompts/persona/completions",
            &[KEY],
            &json!({"variables": variables}),
        );
        assert_eq!(a.status, 400, "{}", a.text());
        let e = &a.json()["error"];
        assert_eq!(e["param"], "variables.question");
        assert_eq!(e["code"], "missing_variable");
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["message"].as_str().unwrap().contains("`question`"));
    }
    // No variables at all: both are named, the first is the param.
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({}),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["param"], "variables.persona");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`persona`, `question`"));
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({"variables": "x"}),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["param"], "variables");
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn body_fields_override_the_template() {
    let world = world_with("persona", &persona_prompt());
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({"variables": {"persona": "p", "question": "q"},
            "max_tokens": 7, "top_p": 0.5, "model": "anthropic.claude-v2:1",
            "messages": [{"role": "assistant", "content": "{{persona}} stays literal"}]}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(world
        .last_sent()
        .url
        .ends_with("/model/anthropic.claude-v2%3A1/converse"));
    assert_eq!(
        world.last_body(),
        json!({"system": [{"text": "You are p."}],
               "messages": [{"role": "user", "content": [{"text": "q"}]},
                            {"role": "assistant", "content": [{"text": "{{persona}} stays literal"}]}],
               "inferenceConfig": {"maxTokens": 7, "temperature": 0.2, "topP": 0.5}})
    );
    // The caller's x-portkey-provider wins over the template's; @slug/model wins over both.
    world.put_record("other", {
        let mut r = demo_record();
        r["aws_region"] = json!("eu-west-1");
        r
    });
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY, ("x-portkey-provider", "@other")],
        &json!({"variables": {"persona": "p", "question": "q"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(world.last_sent().url.contains(".eu-west-1."));
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({"variables": {"persona": "p", "question": "q"}, "model": "@other/m2"}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("x-portkey-provider"), Some("@other"));
}

#[test]
fn configs_apply_to_the_rendered_request() {
    let world = world_with("persona", &persona_prompt());
    world.answer(Canned::aws_error(
        503,
        "ServiceUnavailableException",
        "busy",
    ));
    ok_answer(&world);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[
            KEY,
            (
                "x-portkey-config",
                r#"{"strategy":{"mode":"fallback"},"targets":[{"provider":"@prod"},{"provider":"@prod","override_params":{"max_tokens":9}}]}"#,
            ),
        ],
        &json!({"variables": {"persona": "p", "question": "q"}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
    assert_eq!(world.last_body()["inferenceConfig"]["maxTokens"], 9);
}

#[test]
fn streams_through_a_prompt() {
    let world = world_with("persona", &persona_prompt());
    world.answer(Canned::stream(&streams::recorded(
        "pydantic-ai/test_bedrock_model_stream",
    )));
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[KEY],
        &json!({"variables": {"persona": "p", "question": "q"}, "stream": true}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(world.last_sent().url.ends_with("/converse-stream"));
    assert_eq!(world.last_body()["system"], json!([{"text": "You are p."}]));
    let text = a.text();
    assert!(
        text.contains("\"object\":\"chat.completion.chunk\""),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[test]
fn unknown_prompt_is_404_and_a_broken_record_500() {
    let world = world_with("persona", &persona_prompt());
    for path in [
        "/v1/prompts/nope/completions",
        "/v1/prompts/bad.id/completions",
    ] {
        let a = call(&world, path, &[KEY], &json!({"variables": {}}));
        assert_eq!(a.status, 404, "{}", a.text());
        let e = &a.json()["error"];
        assert_eq!(e["code"], "prompt_not_found");
        assert_eq!(e["type"], "invalid_request_error");
    }
    for (id, raw) in [
        ("notjson", "{".to_owned()),
        ("schema9", json!({"schema": 9, "template": persona_prompt()["template"]}).to_string()),
        ("noschema", json!({"template": persona_prompt()["template"]}).to_string()),
        ("typo", json!({"schema": 1, "template": {"messages": [{"role": "user", "content": "x"}], "model": "m", "parms": {}}}).to_string()),
        ("section", json!({"schema": 1, "template": {"messages": [{"role": "user", "content": "{{#items}}x{{/items}}"}], "model": "m"}}).to_string()),
        ("badprovider", json!({"schema": 1, "template": {"messages": [{"role": "user", "content": "x"}], "model": "m", "provider": "openai"}}).to_string()),
    ] {
        world.kv.0.borrow_mut().insert(format!("prompt:{id}"), raw);
        let a = call(
            &world,
            &format!("/v1/prompts/{id}/completions"),
            &[KEY],
            &json!({"variables": {}}),
        );
        assert_eq!(a.status, 500, "{id}: {}", a.text());
        assert_eq!(a.json()["error"]["code"], "prompt_record_invalid", "{id}");
        let logs = world.logs.borrow();
        let line: Value = logs
            .iter()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "prompt_record_invalid")
            .unwrap();
        assert!(line["path"].as_str().unwrap().contains(id));
        assert!(line["why"].as_str().unwrap().contains(&format!("`{id}`")));
    }
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn a_gateway_key_is_required_before_the_prompt_is_read() {
    let world = world_with("persona", &persona_prompt());
    let body = json!({"variables": {"persona": "p", "question": "q"}});
    let a = call(&world, "/v1/prompts/persona/completions", &[], &body);
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "missing_gateway_key");
    // Unknown ids do not leak either.
    let a = call(&world, "/v1/prompts/nope/completions", &[], &body);
    assert_eq!(a.status, 401);
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[("x-portkey-api-key", "ek_wrong")],
        &body,
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "invalid_gateway_key");
    // A key that does not grant the template's provider → 403 from the chat flow.
    world.put_key(
        "ek_only_other",
        json!({"name": "only-other", "providers": ["other"], "enabled": true}),
    );
    let a = call(
        &world,
        "/v1/prompts/persona/completions",
        &[("x-portkey-api-key", "ek_only_other")],
        &body,
    );
    assert_eq!(a.status, 403, "{}", a.text());
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn wrong_method_is_405() {
    let world = world_with("persona", &persona_prompt());
    let mut req = request("/v1/prompts/persona/completions", &[KEY], &json!({}));
    req.method = "GET".into();
    let a = run(&world, &settings(), req);
    assert_eq!(a.status, 405);
}
