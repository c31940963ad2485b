//! The floor of bench/perf.mjs: the least a Rust Worker can do for a chat request. It reads the
//! JSON body and parses it (so the floor pays for one parse, as any gateway must), then forwards a
//! fixed Converse(-Stream) call to the upstream named in `x-upstream` and returns the upstream's
//! status and body bytes untouched (a stream is passed through, not buffered).
#[cfg(target_arch = "wasm32")]
use worker::*;

#[cfg(target_arch = "wasm32")]
#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let upstream = req.headers().get("x-upstream")?.unwrap_or_default();
    let body: serde_json::Value = req.json().await?;
    let stream = body.get("stream").and_then(|v| v.as_bool()).unwrap_or(false);
    let op = if stream { "converse-stream" } else { "converse" };
    let url = format!("{upstream}/model/m/{op}");
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(wasm_bindgen::JsValue::from_str(r#"{"messages":[]}"#)));
    let up = Fetch::Request(Request::new_with_init(&url, &init)?).send().await?;
    let status = up.status_code();
    let ct = up.headers().get("content-type")?.unwrap_or_default();
    let out = Headers::new();
    out.set("content-type", &ct)?;
    Ok(Response::from_body(up.body().clone())?.with_status(status).with_headers(out))
}
