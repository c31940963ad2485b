//! The `Limiter` Durable Object: one per limit subject (`key:<hash>`, `slug:<slug>`), so every
//! location counts in one place. It keeps one [`budget::State`] in SQLite-backed storage (one
//! row, JSON), applies each [`budget::Op`] posted to it with [`budget::State::apply`] (all the
//! logic is there, tested natively) and stores the result before it answers. A Durable Object
//! handles one event at a time, so the counts are exact.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use worker::js_sys::futures::JsFuture;
use worker::{
    durable_object, web_sys, DurableObject, Env, Request, Response, Result, SqlStorage, State,
};

use crate::budget;

/// The Durable Object namespace binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const LIMITER_BINDING: &str = "LIMITER";

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS limiter (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)";

/// `#[durable_object(fetch)]`: the constructor and `fetch` only (no alarm or websocket stubs).
#[durable_object(fetch)]
pub struct Limiter {
    sql: SqlStorage,
    /// The state, read from storage on the first op and kept while the object lives.
    state: RefCell<Option<budget::State>>,
}

#[derive(serde::Deserialize)]
struct Row {
    state: String,
}

impl DurableObject for Limiter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // SQL is synchronous: the table exists before the first event.
        if let Err(e) = sql.exec(SCHEMA, Vec::new()) {
            worker::console_error!("limiter: schema: {e}");
        }
        Limiter {
            sql,
            state: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Errors are answers (a rejected fetch would reach the gateway as an exception).
        let op: budget::Op = match serde_json::from_str(&req.text().await?) {
            Ok(op) => op,
            Err(e) => return Response::error(format!("not a limiter op: {e}"), 400),
        };
        let mut slot = self.state.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.load()?);
        }
        let Some(state) = slot.as_mut() else {
            return Response::error("limiter state missing", 500);
        };
        let reply = state.apply(&op);
        if !matches!(op, budget::Op::View { .. }) {
            let text = serde_json::to_string(&*state)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            self.sql.exec(
                "INSERT INTO limiter (id, state) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                vec![text.into()],
            )?;
        }
        Response::from_json(&reply)
    }
}

impl Limiter {
    fn load(&self) -> Result<budget::State> {
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT state FROM limiter WHERE id = 1", Vec::new())?
            .to_array()?;
        Ok(rows
            .first()
            .and_then(|r| serde_json::from_str(&r.state).ok())
            .unwrap_or_default())
    }
}

/// The gateway side of one op: the object named after `subject` (the same name reaches the
/// same object wherever the request runs), posted to like a service. Plain web-sys types, as
/// the upstream fetch (workers-rs' wrappers cost wasm).
pub async fn call(
    env: &Env,
    subject: &str,
    op: &budget::Op,
) -> std::result::Result<budget::Reply, String> {
    let inner = async {
        let stub = env.durable_object(LIMITER_BINDING)?.get_by_name(subject)?;
        let fetcher: worker::worker_sys::Fetcher = stub.into_rpc();
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        let body =
            serde_json::to_string(op).map_err(|e| worker::Error::RustError(e.to_string()))?;
        init.set_body(&wasm_bindgen::JsValue::from_str(&body));
        let answer: web_sys::Response =
            JsFuture::from(fetcher.fetch_with_str_and_init("https://limiter/op", &init)?)
                .await?
                .unchecked_into();
        let status = answer.status();
        let text = JsFuture::from(answer.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        if status != 200 {
            return Err(worker::Error::RustError(format!(
                "the limiter answered {status}: {text}"
            )));
        }
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
    };
    inner.await.map_err(|e: worker::Error| e.to_string())
}
