//! A fake LLM provider over real HTTP on 127.0.0.1, speaking the OpenAI chat
//! completions and Anthropic messages APIs. The model name picks the
//! behaviour, so one server serves every scenario at once:
//!
//! - any ordinary name: answers `echo: <last user message>`
//! - `fail-500`, `fail-400`: that status
//! - `rate-limit`: 429 with `Retry-After: 1`
//! - `bad-json`: 200 with a body that is not JSON
//! - `slow-<ms>`: answers after `ms` milliseconds
//! - `flaky-<n>-<tag>`: 500 for the first `n` calls with that exact name, then answers
//!
//! Every call is counted per model name, so tests can assert how many
//! provider calls a scenario caused (`GET /calls?model=NAME` from another
//! process).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Calls(Arc<Mutex<HashMap<String, u64>>>);

impl Calls {
    fn record(&self, model: &str) -> u64 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(model.to_owned()).or_default();
        *n += 1;
        *n
    }
}

pub struct FakeProvider {
    addr: SocketAddr,
    calls: Calls,
}

static SHARED: OnceLock<FakeProvider> = OnceLock::new();

impl FakeProvider {
    /// One server per test process, on its own thread and runtime so it
    /// keeps answering whatever the tests' runtimes do.
    pub fn shared() -> &'static FakeProvider {
        SHARED.get_or_init(|| FakeProvider::start("127.0.0.1:0".parse().expect("addr")))
    }

    pub fn start(addr: SocketAddr) -> FakeProvider {
        let calls = Calls::default();
        let router = router(calls.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake provider runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind fake provider");
                tx.send(listener.local_addr().expect("local addr")).expect("report address");
                axum::serve(listener, router).await.expect("fake provider serves");
            });
        });
        let addr = rx.recv().expect("fake provider started");
        FakeProvider { addr, calls }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls received so far for `model`.
    pub fn calls(&self, model: &str) -> u64 {
        self.calls.0.lock().unwrap_or_else(|p| p.into_inner()).get(model).copied().unwrap_or(0)
    }
}

fn router(calls: Calls) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .route("/calls", get(call_count))
        .with_state(calls)
}

#[derive(serde::Deserialize)]
struct CallQuery {
    model: String,
}

/// `GET /calls?model=NAME`: how client suites in other processes count calls.
async fn call_count(State(calls): State<Calls>, Query(query): Query<CallQuery>) -> Json<Value> {
    let n = calls.0.lock().unwrap_or_else(|p| p.into_inner()).get(&query.model).copied().unwrap_or(0);
    Json(json!({ "model": query.model, "calls": n }))
}

enum Outcome {
    Answer(String),
    Fail(Response),
}

async fn behave(calls: &Calls, model: &str, last_user: &str) -> Outcome {
    let n = calls.record(model);
    let fail = |status: StatusCode| {
        Outcome::Fail(
            (status, Json(json!({ "error": { "message": format!("fake {status}"), "type": "fake" } }))).into_response(),
        )
    };
    match model {
        "fail-500" => return fail(StatusCode::INTERNAL_SERVER_ERROR),
        "fail-400" => return fail(StatusCode::BAD_REQUEST),
        "rate-limit" => {
            let mut r =
                (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": { "message": "slow down" } }))).into_response();
            r.headers_mut().insert("retry-after", "1".parse().expect("header"));
            return Outcome::Fail(r);
        }
        "bad-json" => return Outcome::Fail((StatusCode::OK, "{not json").into_response()),
        _ => {}
    }
    if let Some(ms) = model.strip_prefix("slow-").and_then(|ms| ms.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(rest) = model.strip_prefix("flaky-") {
        let failures: u64 = rest.split('-').next().and_then(|n| n.parse().ok()).unwrap_or(1);
        if n <= failures {
            return fail(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    Outcome::Answer(format!("echo: {last_user}"))
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

async fn openai(State(calls): State<Calls>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer ")) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": { "message": "missing key" } }))).into_response();
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt: String = messages.iter().map(|m| content_text(&m["content"])).collect::<Vec<_>>().join(" ");
    let last_user =
        messages.iter().rev().find(|m| m["role"] == "user").map(|m| content_text(&m["content"])).unwrap_or_default();
    match behave(&calls, &model, &last_user).await {
        Outcome::Fail(r) => r,
        Outcome::Answer(text) => Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": words(&prompt), "completion_tokens": words(&text), "total_tokens": words(&prompt) + words(&text) },
        }))
        .into_response(),
    }
}

async fn anthropic(State(calls): State<Calls>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if headers.get("x-api-key").is_none() || headers.get("anthropic-version").is_none() {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "type": "error", "error": { "message": "missing key" } })))
            .into_response();
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let system = content_text(&body["system"]);
    let prompt = std::iter::once(system)
        .chain(messages.iter().map(|m| content_text(&m["content"])))
        .collect::<Vec<_>>()
        .join(" ");
    let last_user =
        messages.iter().rev().find(|m| m["role"] == "user").map(|m| content_text(&m["content"])).unwrap_or_default();
    match behave(&calls, &model, &last_user).await {
        Outcome::Fail(r) => r,
        Outcome::Answer(text) => Json(json!({
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{ "type": "text", "text": text }],
            "stop_reason": "end_turn",
            "usage": { "input_tokens": words(&prompt), "output_tokens": words(&text) },
        }))
        .into_response(),
    }
}
