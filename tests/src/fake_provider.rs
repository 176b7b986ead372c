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
//! - `huge-<mb>-<tag>`: 200 with a JSON answer of that many MiB, sent in 64 KiB chunks
//! - `reset-<tag>`: 200 with the start of a body, then the connection breaks
//! - `tools-<tag>`: with `tools` in the request, calls the first tool with
//!   `{"query": <last user message>}`; once the request carries a tool's
//!   result, answers `tool said: <result>`
//!
//! - with `"stream": true`, the same answers as server-sent events in the
//!   API's own format, a word per chunk, 2 ms apart (`drip-<ms>-<tag>`: that
//!   many ms); `stream-fail-<tag>` breaks the connection after two events
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
    if let Some(mb) = model.strip_prefix("huge-").and_then(|rest| rest.split('-').next()?.parse::<usize>().ok()) {
        return Outcome::Fail(huge_answer(mb));
    }
    if model.starts_with("reset-") {
        let start = futures::stream::iter([
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(
                b"{\"choices\": [{\"message\": {\"content\": \"par",
            )),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset mid-body")),
        ]);
        return Outcome::Fail((StatusCode::OK, axum::body::Body::from_stream(start)).into_response());
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

/// A well-formed answer of `mb` MiB, streamed so the fake never holds it.
fn huge_answer(mb: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let head = axum::body::Bytes::from_static(b"{\"choices\": [{\"message\": {\"content\": \"");
    let filler = axum::body::Bytes::from(vec![b'x'; CHUNK]);
    let tail = axum::body::Bytes::from_static(b"\"}}], \"usage\": {\"prompt_tokens\": 1, \"completion_tokens\": 1}}");
    let chunks = std::iter::once(head).chain(std::iter::repeat_n(filler, mb * 1024 * 1024 / CHUNK)).chain([tail]);
    let body = futures::stream::iter(chunks.map(Ok::<_, std::io::Error>));
    (StatusCode::OK, [("content-type", "application/json")], axum::body::Body::from_stream(body)).into_response()
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
        return reply(
            &body,
            json!({
                "id": "chatcmpl-fake-tools",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
                "usage": { "prompt_tokens": words(&prompt), "completion_tokens": out, "total_tokens": words(&prompt) + out },
            }),
        );
    }
    match behave(&calls, &model, &last_user).await {
        Outcome::Fail(r) => r,
        Outcome::Answer(text) => reply(
            &body,
            json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": words(&prompt), "completion_tokens": words(&text), "total_tokens": words(&prompt) + words(&text) },
            }),
        ),
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
        return reply(
            &body,
            json!({
                "id": "msg_fake_tools",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop_reason,
                "usage": { "input_tokens": words(&prompt), "output_tokens": out },
            }),
        );
    }
    match behave(&calls, &model, &last_user).await {
        Outcome::Fail(r) => r,
        Outcome::Answer(text) => reply(
            &body,
            json!({
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{ "type": "text", "text": text }],
                "stop_reason": "end_turn",
                "usage": { "input_tokens": words(&prompt), "output_tokens": words(&text) },
            }),
        ),
    }
}

/// The answer as JSON, or as the API's event stream when the request asked to stream.
fn reply(request: &Value, answer: Value) -> Response {
    if request["stream"] != json!(true) {
        return Json(answer).into_response();
    }
    let model = answer["model"].as_str().unwrap_or_default().to_owned();
    let events = if answer.get("choices").is_some() {
        openai_events(&answer, request["stream_options"]["include_usage"] == json!(true))
    } else {
        anthropic_events(&answer)
    };
    let delay = model
        .strip_prefix("drip-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_millis(2), Duration::from_millis);
    let fail_after = model.starts_with("stream-fail").then_some(2);
    let body = futures::stream::unfold((events.into_iter(), 0usize), move |(mut events, sent)| async move {
        if fail_after == Some(sent) {
            // After a pause, so what was sent reaches the client first.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Some((Err(std::io::Error::other("fake stream failure")), (events, sent + 1)));
        }
        let event = events.next()?;
        if sent > 0 {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(event)), (events, sent + 1)))
    });
    let mut response = axum::body::Body::from_stream(body).into_response();
    response.headers_mut().insert("content-type", "text/event-stream".parse().expect("header"));
    response
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// A chat completion as chunks: the role, a word per chunk, each tool call
/// with its arguments in two parts, the finish, the usage when asked, `[DONE]`.
fn openai_events(answer: &Value, include_usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        sse(
            None,
            &json!({ "id": answer["id"], "object": "chat.completion.chunk", "created": 0, "model": answer["model"],
                     "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] }),
        )
    };
    let message = &answer["choices"][0]["message"];
    let mut events = vec![chunk(json!({ "role": "assistant", "content": "" }), Value::Null)];
    for word in message["content"].as_str().unwrap_or_default().split_inclusive(' ') {
        events.push(chunk(json!({ "content": word }), Value::Null));
    }
    for (i, call) in message["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        let (head, tail) = arguments.split_at(arguments.len() / 2);
        events.push(chunk(
            json!({ "tool_calls": [{ "index": i, "id": call["id"], "type": "function", "function": { "name": call["function"]["name"], "arguments": head } }] }),
            Value::Null,
        ));
        events.push(chunk(json!({ "tool_calls": [{ "index": i, "function": { "arguments": tail } }] }), Value::Null));
    }
    events.push(chunk(json!({}), answer["choices"][0]["finish_reason"].clone()));
    if include_usage {
        events.push(sse(
            None,
            &json!({ "id": answer["id"], "object": "chat.completion.chunk", "created": 0, "model": answer["model"],
                     "choices": [], "usage": answer["usage"] }),
        ));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// A message as Anthropic's events: a word per text delta, tool input in two parts.
fn anthropic_events(answer: &Value) -> Vec<String> {
    let mut start = answer.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(0);
    let mut events = vec![sse(Some("message_start"), &json!({ "type": "message_start", "message": start }))];
    for (index, block) in answer["content"].as_array().into_iter().flatten().enumerate() {
        let (opening, deltas): (Value, Vec<Value>) = if block["type"] == "tool_use" {
            let input = block["input"].to_string();
            let (head, tail) = input.split_at(input.len() / 2);
            (
                json!({ "type": "tool_use", "id": block["id"], "name": block["name"], "input": {} }),
                vec![
                    json!({ "type": "input_json_delta", "partial_json": head }),
                    json!({ "type": "input_json_delta", "partial_json": tail }),
                ],
            )
        } else {
            let text = block["text"].as_str().unwrap_or_default();
            (
                json!({ "type": "text", "text": "" }),
                text.split_inclusive(' ').map(|w| json!({ "type": "text_delta", "text": w })).collect(),
            )
        };
        events.push(sse(
            Some("content_block_start"),
            &json!({ "type": "content_block_start", "index": index, "content_block": opening }),
        ));
        for delta in deltas {
            events.push(sse(
                Some("content_block_delta"),
                &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            ));
        }
        events.push(sse(Some("content_block_stop"), &json!({ "type": "content_block_stop", "index": index })));
    }
    events.push(sse(
        Some("message_delta"),
        &json!({ "type": "message_delta", "delta": { "stop_reason": answer["stop_reason"], "stop_sequence": null },
                 "usage": { "output_tokens": answer["usage"]["output_tokens"] } }),
    ));
    events.push(sse(Some("message_stop"), &json!({ "type": "message_stop" })));
    events
}
