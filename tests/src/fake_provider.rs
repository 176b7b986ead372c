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
//! - `tools-<tag>`: with `tools` in the request, calls the first tool with
//!   `{"query": <last user message>}`; once the request carries a tool's
//!   result, answers `tool said: <result>`
//!
//! The last request body per model name is kept (`GET /requests?model=NAME`),
//! so tests can check what reached the provider.
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

/// The last request body received per model name.
fn last_bodies() -> &'static Mutex<HashMap<String, Value>> {
    static LAST: OnceLock<Mutex<HashMap<String, Value>>> = OnceLock::new();
    LAST.get_or_init(Default::default)
}

fn remember(model: &str, body: &Value) {
    last_bodies().lock().unwrap_or_else(|p| p.into_inner()).insert(model.to_owned(), body.clone());
}

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

    /// The last request body received for `model`.
    pub fn last_request(&self, model: &str) -> Option<Value> {
        last_bodies().lock().unwrap_or_else(|p| p.into_inner()).get(model).cloned()
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
        .route("/requests", get(last_request))
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

/// `GET /requests?model=NAME`: the last body received for that model (`null` if none).
async fn last_request(Query(query): Query<CallQuery>) -> Json<Value> {
    Json(last_bodies().lock().unwrap_or_else(|p| p.into_inner()).get(&query.model).cloned().unwrap_or(Value::Null))
}

/// What a `tools-*` model does with this request: call the first tool, or
/// (given a tool's result) say what it said. `None` when no tools are offered.
enum ToolTurn {
    Call { name: String },
    Result(String),
}

fn tool_turn(
    model: &str,
    tools: &Value,
    last: &Value,
    result_of: impl Fn(&Value) -> Option<String>,
) -> Option<ToolTurn> {
    if !model.starts_with("tools-") {
        return None;
    }
    if let Some(result) = result_of(last) {
        return Some(ToolTurn::Result(result));
    }
    let first = tools.as_array()?.first()?;
    let name = first["function"]["name"].as_str().or(first["name"].as_str())?.to_owned();
    Some(ToolTurn::Call { name })
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
    remember(&model, &body);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt: String = messages.iter().map(|m| content_text(&m["content"])).collect::<Vec<_>>().join(" ");
    let last_user =
        messages.iter().rev().find(|m| m["role"] == "user").map(|m| content_text(&m["content"])).unwrap_or_default();
    let last = messages.last().cloned().unwrap_or_default();
    let tool_result = |m: &Value| (m["role"] == "tool").then(|| content_text(&m["content"]));
    if let Some(turn) = tool_turn(&model, &body["tools"], &last, tool_result) {
        calls.record(&model);
        let (message, finish_reason, out) = match turn {
            ToolTurn::Call { name } => {
                let arguments = json!({ "query": last_user }).to_string();
                let call = json!({ "id": "call_fake_1", "type": "function", "function": { "name": name, "arguments": arguments } });
                (json!({ "role": "assistant", "content": null, "tool_calls": [call] }), "tool_calls", 3)
            }
            ToolTurn::Result(result) => {
                let text = format!("tool said: {result}");
                let n = words(&text);
                (json!({ "role": "assistant", "content": text }), "stop", n)
            }
        };
        return Json(json!({
            "id": "chatcmpl-fake-tools",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
            "usage": { "prompt_tokens": words(&prompt), "completion_tokens": out, "total_tokens": words(&prompt) + out },
        }))
        .into_response();
    }
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
    remember(&model, &body);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let system = content_text(&body["system"]);
    let prompt = std::iter::once(system)
        .chain(messages.iter().map(|m| content_text(&m["content"])))
        .collect::<Vec<_>>()
        .join(" ");
    let last_user =
        messages.iter().rev().find(|m| m["role"] == "user").map(|m| content_text(&m["content"])).unwrap_or_default();
    let last = messages.last().cloned().unwrap_or_default();
    let tool_result = |m: &Value| {
        let blocks = m["content"].as_array()?;
        let result = blocks.iter().find(|b| b["type"] == "tool_result")?;
        Some(content_text(&result["content"]))
    };
    if let Some(turn) = tool_turn(&model, &body["tools"], &last, tool_result) {
        calls.record(&model);
        let (content, stop_reason, out) = match turn {
            ToolTurn::Call { name } => (
                json!([{ "type": "tool_use", "id": "toolu_fake_1", "name": name, "input": { "query": last_user } }]),
                "tool_use",
                3,
            ),
            ToolTurn::Result(result) => {
                let text = format!("tool said: {result}");
                let n = words(&text);
                (json!([{ "type": "text", "text": text }]), "end_turn", n)
            }
        };
        return Json(json!({
            "id": "msg_fake_tools",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "usage": { "input_tokens": words(&prompt), "output_tokens": out },
        }))
        .into_response();
    }
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
