//! Test support: recorded fixtures, and a fake *outside world* for the real gateway pipeline (an
//! in-memory KV and an upstream that answers scripted bytes and records what it was sent).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use base64::Engine;
use bytes::Bytes;
use edgeport::gateway::{self, Body, GatewayRequest, GatewayResponse, RequestHeaders, Settings};
use edgeport::platform::{Kv, Platform, UpstreamRequest, UpstreamResponse};
use futures_util::StreamExt;
use serde_json::Value;

/// `fixtures/recorded/<name>.json` (generated from the recorded cassettes).
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/recorded")
        .join(format!("{name}.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The raw response body of interaction `i` of a fixture.
pub fn fixture_body(name: &str, i: usize) -> Vec<u8> {
    let resp = &fixture(name)["interactions"][i]["response"];
    if let Some(b64) = resp["body_base64"].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
    }
    serde_json::to_vec(&resp["json"]).unwrap()
}

/// An in-memory KV. Expirations are not enforced, only recorded (`.1`: key → TTL asked for);
/// `.2` lists every key read, in order.
#[derive(Default)]
pub struct MemKv(
    pub RefCell<HashMap<String, String>>,
    pub RefCell<HashMap<String, Option<u64>>>,
    pub RefCell<Vec<String>>,
);

impl Kv for MemKv {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.2.borrow_mut().push(key.to_owned());
        Ok(self.0.borrow().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), String> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_owned());
        self.1.borrow_mut().insert(key.to_owned(), ttl);
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), String> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
}

/// The host's side of an answer body, as workerd gives it: read whole in one step
/// (`arrayBuffer()`), or as a stream of the scripted pieces. A stalled body never ends either way.
struct FakeHostBody {
    pieces: Vec<Result<Bytes, String>>,
    stalls: bool,
}

impl edgeport::platform::HostBody for FakeHostBody {
    fn read_all(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Bytes, String>>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for piece in self.pieces {
                out.extend_from_slice(&piece?);
            }
            if self.stalls {
                futures_util::future::pending::<()>().await;
            }
            Ok(Bytes::from(out))
        })
    }
    fn into_stream(self: Box<Self>) -> edgeport::platform::ByteStream {
        let pieces = futures_util::stream::iter(self.pieces);
        if self.stalls {
            Box::pin(pieces.chain(futures_util::stream::pending()))
        } else {
            Box::pin(pieces)
        }
    }
}

/// One scripted upstream answer: status, headers and body pieces.
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub pieces: Vec<Result<Bytes, String>>,
}

impl Canned {
    pub fn json(status: u16, body: &[u8]) -> Self {
        Canned {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("content-length".into(), body.len().to_string()),
            ],
            pieces: vec![Ok(Bytes::copy_from_slice(body))],
        }
    }
    pub fn aws_error(status: u16, error_type: &str, message: &str) -> Self {
        let mut c = Self::json(
            status,
            serde_json::json!({"message": message})
                .to_string()
                .as_bytes(),
        );
        c.headers.push((
            "x-amzn-errortype".into(),
            format!("{error_type}:http://internal.amazon.com/coral/com.amazon.coral.service/"),
        ));
        c
    }
    pub fn stream(body: &[u8]) -> Self {
        Canned {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/vnd.amazon.eventstream".into(),
            )],
            pieces: vec![Ok(Bytes::copy_from_slice(body))],
        }
    }
}

/// The catalog key the tests seal records with (base64 of bytes 0..32).
pub const TEST_CATALOG_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A gateway key granted every provider (seeded in every FakeWorld).
pub const TEST_GATEWAY_KEY: &str = "ek_test_all_providers_0123456789abcdef";

pub fn settings() -> Settings {
    Settings::from_vars(&edgeport::gateway::Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        ..Default::default()
    })
}

pub struct FakeWorld {
    pub kv: std::rc::Rc<MemKv>,
    pub isolate: edgeport::platform::IsolateMemory,
    pub now: std::rc::Rc<RefCell<u64>>,
    pub answers: RefCell<VecDeque<Canned>>,
    pub sent: RefCell<Vec<UpstreamRequest>>,
    pub logs: std::rc::Rc<RefCell<Vec<String>>>,
    /// When set, fetch fails as a network error would.
    pub unreachable: RefCell<bool>,
    /// When set, the next fetch stalls there (its answer never arrives / its body stops after
    /// the scripted pieces and never ends).
    pub stall_next: RefCell<Option<Stall>>,
    /// Analytics Engine data points written; `None`: the Worker has no `ANALYTICS` binding.
    pub analytics: std::rc::Rc<RefCell<Option<Vec<edgeport::platform::DataPoint>>>>,
    /// The limits' Durable Objects: one state per subject, run by the same core as the real
    /// object (`budget::State::apply`); `None`: the Worker has no `LIMITER` binding.
    pub limiter: std::rc::Rc<RefCell<Option<HashMap<String, edgeport::budget::State>>>>,
    /// Every op the limiter got, in order (subject, op).
    pub limiter_ops: std::rc::Rc<RefCell<Vec<(String, edgeport::budget::Op)>>>,
    /// Work left to run after the answer (`Platform::spawner`).
    pub spawned: std::rc::Rc<RefCell<Vec<Spawned>>>,
}

/// Work a test world runs after the answer.
pub type Spawned = Pin<Box<dyn Future<Output = ()>>>;

impl FakeWorld {
    /// Runs what was spawned (and what that spawned), as the runtime's waitUntil would.
    pub async fn drain_spawned(&self) {
        loop {
            let batch: Vec<_> = self.spawned.borrow_mut().drain(..).collect();
            if batch.is_empty() {
                return;
            }
            for f in batch {
                f.await;
            }
        }
    }

    /// Gives the world a `LIMITER` binding.
    pub fn with_limiter(self) -> Self {
        *self.limiter.borrow_mut() = Some(HashMap::new());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    Headers,
    Body,
}

impl Default for FakeWorld {
    fn default() -> Self {
        let w = FakeWorld {
            kv: Default::default(),
            isolate: Default::default(),
            now: std::rc::Rc::new(RefCell::new(1_767_225_600_000)), // 2026-01-01T00:00:00Z
            answers: Default::default(),
            sent: Default::default(),
            logs: Default::default(),
            unreachable: Default::default(),
            stall_next: Default::default(),
            analytics: Default::default(),
            limiter: Default::default(),
            limiter_ops: Default::default(),
            spawned: Default::default(),
        };
        w.put_key(
            TEST_GATEWAY_KEY,
            serde_json::json!({"name": "test-all", "providers": ["*"], "enabled": true}),
        );
        w
    }
}

impl FakeWorld {
    /// The isolate's assumed-role credential cache.
    pub fn credentials(&self) -> std::rc::Rc<edgeport::providers::bedrock::sts::CredentialCache> {
        self.isolate.get()
    }
    /// The isolate's cache of roles callers assume with their own header credentials.
    pub fn caller_roles(&self) -> std::rc::Rc<edgeport::providers::bedrock::sts::CallerRoleCache> {
        self.isolate.get()
    }
    /// The isolate's inference-profile cache.
    pub fn profiles(
        &self,
    ) -> std::rc::Rc<edgeport::providers::bedrock::inference_profile::ProfileCache> {
        self.isolate.get()
    }
    /// Stores a gateway key record (hash filled in) under the key's hash.
    pub fn put_key(&self, key: &str, mut record: Value) {
        let hash = edgeport::catalog::keys::key_hash(key);
        record["schema"] = 1.into();
        record["hash"] = hash.clone().into();
        self.kv.0.borrow_mut().insert(
            edgeport::catalog::keys::gateway_key_kv_key(&hash),
            record.to_string(),
        );
    }

    pub fn answer(&self, c: Canned) {
        self.answers.borrow_mut().push_back(c);
    }
    /// Stores a provider record. A record whose `auth` is an object is written as schema 3,
    /// sealed whole with TEST_CATALOG_KEY; others are stored as given.
    pub fn put_record(&self, slug: &str, record: Value) {
        let key = edgeport::catalog::sealing::SealingKey::from_base64(TEST_CATALOG_KEY).unwrap();
        self.put_record_sealed_with(&key, slug, record);
    }
    pub fn put_record_sealed_with(
        &self,
        key: &edgeport::catalog::sealing::SealingKey,
        slug: &str,
        mut record: Value,
    ) {
        if record["auth"].is_object() {
            let obj = record.as_object_mut().unwrap();
            obj.remove("schema");
            obj.entry("provider").or_insert("bedrock".into());
            let plain: edgeport::catalog::SealedProvider =
                serde_json::from_value(record.clone()).unwrap();
            record = serde_json::to_value(plain.seal(key, slug).unwrap()).unwrap();
        }
        self.kv
            .0
            .borrow_mut()
            .insert(format!("provider:{slug}"), record.to_string());
    }
    pub fn last_sent(&self) -> UpstreamRequest {
        self.sent
            .borrow()
            .last()
            .cloned()
            .expect("nothing was sent upstream")
    }
    pub fn last_body(&self) -> Value {
        serde_json::from_slice(&self.last_sent().body).unwrap()
    }
}

impl Platform for FakeWorld {
    type Kv = MemKv;
    fn kv(&self) -> &MemKv {
        &self.kv
    }
    fn isolate(&self) -> &edgeport::platform::IsolateMemory {
        &self.isolate
    }
    fn fetch(
        &self,
        req: UpstreamRequest,
    ) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, String>> + '_>> {
        self.sent.borrow_mut().push(req);
        let unreachable = *self.unreachable.borrow();
        let stall = self.stall_next.borrow_mut().take();
        let canned = if stall == Some(Stall::Headers) {
            None
        } else {
            self.answers.borrow_mut().pop_front()
        };
        Box::pin(async move {
            if unreachable {
                return Err("connection refused".to_owned());
            }
            if stall == Some(Stall::Headers) {
                futures_util::future::pending::<()>().await;
            }
            let c = canned.expect("the test scripted no upstream answer");
            Ok(UpstreamResponse {
                status: c.status,
                headers: c.headers,
                body: edgeport::platform::UpstreamBody::host(Box::new(FakeHostBody {
                    pieces: c.pieces,
                    stalls: stall == Some(Stall::Body),
                })),
            })
        })
    }
    /// Advances the fake clock and yields once, so a concurrent request can make progress.
    fn sleep(&self, ms: u64) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        *self.now.borrow_mut() += ms;
        Box::pin(YieldOnce(false))
    }
    fn now_millis(&self) -> u64 {
        *self.now.borrow()
    }
    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_owned());
    }
    fn clock(&self) -> edgeport::platform::Clock {
        let now = self.now.clone();
        std::rc::Rc::new(move || *now.borrow())
    }
    /// A timer that completes on its second poll and then advances the fake clock: a fetch or a
    /// body that is ready at once wins any race against it; one that stalls loses.
    fn timer(&self) -> edgeport::platform::Timer {
        let now = self.now.clone();
        std::rc::Rc::new(move |ms: u64| {
            let now = now.clone();
            Box::pin(async move {
                YieldOnce(false).await;
                *now.borrow_mut() += ms;
            })
        })
    }
    fn limiter(&self) -> Option<edgeport::platform::LimiterSink> {
        self.limiter.borrow().as_ref()?;
        let states = self.limiter.clone();
        let ops = self.limiter_ops.clone();
        Some(std::rc::Rc::new(
            move |subject: String, op: edgeport::budget::Op| {
                let states = states.clone();
                let ops = ops.clone();
                Box::pin(async move {
                    ops.borrow_mut().push((subject.clone(), op.clone()));
                    let mut states = states.borrow_mut();
                    let map = states.as_mut().ok_or("no LIMITER binding")?;
                    Ok(map.entry(subject).or_default().apply(&op))
                })
            },
        ))
    }
    fn spawner(&self) -> edgeport::platform::Spawner {
        let spawned = self.spawned.clone();
        std::rc::Rc::new(move |f| spawned.borrow_mut().push(f))
    }
    fn analytics(&self) -> Option<edgeport::platform::AnalyticsSink> {
        let points = self.analytics.clone();
        points.borrow().as_ref()?;
        Some(std::rc::Rc::new(
            move |p: &edgeport::platform::DataPoint| {
                if let Some(v) = points.borrow_mut().as_mut() {
                    v.push(p.clone());
                }
            },
        ))
    }
    fn kv_writer(&self) -> edgeport::platform::KvWriter {
        let kv = self.kv.clone();
        std::rc::Rc::new(move |key: String, value: String, ttl: Option<u64>| {
            let kv = kv.clone();
            Box::pin(async move { kv.put(&key, &value, ttl).await })
        })
    }
    fn log_sink(&self) -> edgeport::platform::LogSink {
        let logs = self.logs.clone();
        std::rc::Rc::new(move |line: &str| logs.borrow_mut().push(line.to_owned()))
    }
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

pub fn request(path: &str, headers: &[(&str, &str)], body: &Value) -> GatewayRequest {
    GatewayRequest {
        method: "POST".into(),
        path: path.into(),
        headers: RequestHeaders::new(headers.iter().map(|(k, v)| (*k, (*v).to_owned()))),
        body: Bytes::from(body.to_string()),
        oversized: false,
    }
}

/// A request without a body (`GET`, `DELETE`).
pub fn request_method(method: &str, path: &str, headers: &[(&str, &str)]) -> GatewayRequest {
    GatewayRequest {
        method: method.into(),
        path: path.into(),
        headers: RequestHeaders::new(headers.iter().map(|(k, v)| (*k, (*v).to_owned()))),
        body: Bytes::new(),
        oversized: false,
    }
}

pub const HEADER_CREDS: &[(&str, &str)] = &[
    ("x-portkey-api-key", TEST_GATEWAY_KEY),
    ("x-portkey-provider", "bedrock"),
    ("x-portkey-aws-access-key-id", "AKIDEDGEPORTTEST1"),
    (
        "x-portkey-aws-secret-access-key",
        "edgeport/test/secret/key/ONE+1234567890abc",
    ),
    ("x-portkey-aws-region", "us-east-1"),
];

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs the real gateway pipeline and collects the answer (streams read to the end).
pub fn run(world: &FakeWorld, settings: &Settings, req: GatewayRequest) -> Answer {
    futures_executor::block_on(async {
        let GatewayResponse {
            status,
            headers,
            body,
        } = gateway::handle(world, settings, req).await;
        let body = match body {
            Body::Full(b) => b.to_vec(),
            Body::Stream(mut s) => {
                let mut out = Vec::new();
                while let Some(piece) = s.next().await {
                    out.extend_from_slice(&piece);
                }
                out
            }
        };
        // What the gateway left to run after the answer (usage records), as waitUntil would.
        world.drain_spawned().await;
        Answer {
            status,
            headers,
            body,
        }
    })
}
