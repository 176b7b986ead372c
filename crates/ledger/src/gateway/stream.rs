//! `stream: true`: the provider's events relayed as they arrive, in the
//! caller's format.
//!
//! The run is written `running` before the provider is called. Fallbacks
//! apply until a provider accepts the stream; from then on its events are
//! passed on: byte for byte when the caller speaks the provider's API,
//! else translated event by event (OpenAI chunks ⇄ Anthropic events; the
//! mock's answer is cut into chunks). The final event (`data: [DONE]`,
//! `message_stop`) is held back until the run is recorded finished with
//! its output, tokens, cost and time to first token. A stream that breaks
//! off is recorded failed and ends with an error event; a caller that goes
//! away leaves the run `canceled` with the output so far ([`Relay::abort`]).

use std::collections::VecDeque;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value as Json, json};

use super::errors::GatewayError;
use super::record::{self, Attempt};
use super::translate::{self, Summary};
use super::{Api, Call, Plan, Reply, Wire};
use crate::api::request::ApiRequest;
use crate::executions::providers::{Failure, FailureKind, storable};
use crate::ports::{ChunkStream, Host, Http};
use crate::store::executions as store;
use crate::store::models::ModelRecord;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    /// The event as received, with its blank line.
    pub raw: Vec<u8>,
}

/// Splits a byte stream into events, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, separator)) = blank_line(&self.buffer) {
            let raw: Vec<u8> = self.buffer.drain(..end + separator).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
                let field = |name: &str| line.strip_prefix(name).map(|v| v.strip_prefix(' ').unwrap_or(v));
                if let Some(v) = field("event:") {
                    event = Some(v.to_owned());
                } else if let Some(v) = field("data:") {
                    data.push(v);
                }
            }
            if event.is_some() || !data.is_empty() {
                events.push(SseEvent { event, data: data.join("\n"), raw });
            }
        }
        events
    }
}

/// Where the first blank line ends an event: (its start, its length).
fn blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// What an event says, whichever API it came in. Tool indexes are the
/// provider's (OpenAI's tool index, Anthropic's content block index);
/// finish reasons are in OpenAI's words.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Start { id: Option<String>, model: Option<String> },
    Text(String),
    ToolStart { index: u64, id: String, name: String },
    ToolArgs { index: u64, json: String },
    Finish(String),
    Usage { prompt: Option<i64>, completion: Option<i64> },
    Error(String),
    Done,
}

pub fn openai_deltas(event: &SseEvent) -> Vec<Delta> {
    if event.data.trim() == "[DONE]" {
        return vec![Delta::Done];
    }
    let Ok(chunk) = serde_json::from_str::<Json>(&event.data) else { return Vec::new() };
    if let Some(error) = chunk.get("error") {
        return vec![Delta::Error(error["message"].as_str().unwrap_or("the provider's stream failed").to_owned())];
    }
    let mut out = vec![Delta::Start {
        id: chunk["id"].as_str().map(str::to_owned),
        model: chunk["model"].as_str().map(str::to_owned),
    }];
    let choice = chunk["choices"].as_array().and_then(|c| c.iter().find(|c| c["index"].as_u64().unwrap_or(0) == 0));
    if let Some(choice) = choice {
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            out.push(Delta::Text(text.to_owned()));
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0);
            if let Some(id) = call["id"].as_str() {
                let name = call["function"]["name"].as_str().unwrap_or_default().to_owned();
                out.push(Delta::ToolStart { index, id: id.to_owned(), name });
            }
            if let Some(args) = call["function"]["arguments"].as_str().filter(|a| !a.is_empty()) {
                out.push(Delta::ToolArgs { index, json: args.to_owned() });
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            out.push(Delta::Finish(reason.to_owned()));
        }
    }
    if chunk["usage"].is_object() {
        out.push(Delta::Usage {
            prompt: chunk["usage"]["prompt_tokens"].as_i64(),
            completion: chunk["usage"]["completion_tokens"].as_i64(),
        });
    }
    out
}

pub fn anthropic_deltas(event: &SseEvent) -> Vec<Delta> {
    let Ok(value) = serde_json::from_str::<Json>(&event.data) else { return Vec::new() };
    match value["type"].as_str().or(event.event.as_deref()) {
        Some("message_start") => {
            let message = &value["message"];
            vec![
                Delta::Start {
                    id: message["id"].as_str().map(str::to_owned),
                    model: message["model"].as_str().map(str::to_owned),
                },
                Delta::Usage {
                    prompt: message["usage"]["input_tokens"].as_i64(),
                    completion: message["usage"]["output_tokens"].as_i64(),
                },
            ]
        }
        Some("content_block_start") if value["content_block"]["type"] == "tool_use" => vec![Delta::ToolStart {
            index: value["index"].as_u64().unwrap_or(0),
            id: value["content_block"]["id"].as_str().unwrap_or_default().to_owned(),
            name: value["content_block"]["name"].as_str().unwrap_or_default().to_owned(),
        }],
        Some("content_block_delta") => match value["delta"]["type"].as_str() {
            Some("text_delta") => vec![Delta::Text(value["delta"]["text"].as_str().unwrap_or_default().to_owned())],
            Some("input_json_delta") => vec![Delta::ToolArgs {
                index: value["index"].as_u64().unwrap_or(0),
                json: value["delta"]["partial_json"].as_str().unwrap_or_default().to_owned(),
            }],
            _ => Vec::new(),
        },
        Some("message_delta") => {
            let mut out = Vec::new();
            if let Some(reason) = value["delta"]["stop_reason"].as_str() {
                out.push(Delta::Finish(finish_reason(reason).to_owned()));
            }
            out.push(Delta::Usage {
                prompt: value["usage"]["input_tokens"].as_i64(),
                completion: value["usage"]["output_tokens"].as_i64(),
            });
            out
        }
        Some("message_stop") => vec![Delta::Done],
        Some("error") => {
            vec![Delta::Error(value["error"]["message"].as_str().unwrap_or("the provider's stream failed").to_owned())]
        }
        _ => Vec::new(),
    }
}

fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

#[derive(Debug, Clone)]
struct ToolCall {
    index: u64,
    id: String,
    name: String,
    arguments: String,
}

/// The answer so far, gathered from the deltas.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    id: Option<String>,
    model: Option<String>,
    text: String,
    tools: Vec<ToolCall>,
    finish: Option<String>,
    prompt_tokens: i64,
    completion_tokens: i64,
}

impl Gathered {
    fn apply(&mut self, delta: &Delta) {
        match delta {
            Delta::Start { id, model } => {
                self.id = self.id.take().or(id.clone());
                self.model = self.model.take().or(model.clone());
            }
            Delta::Text(text) => self.text.push_str(text),
            Delta::ToolStart { index, id, name } => self.tools.push(ToolCall {
                index: *index,
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
            }),
            Delta::ToolArgs { index, json } => {
                if let Some(call) = self.tools.iter_mut().rev().find(|c| c.index == *index) {
                    call.arguments.push_str(json);
                }
            }
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            Delta::Usage { prompt, completion } => {
                self.prompt_tokens = prompt.unwrap_or(self.prompt_tokens);
                self.completion_tokens = completion.unwrap_or(self.completion_tokens);
            }
            Delta::Error(_) | Delta::Done => {}
        }
    }

    /// The whole answer as a chat completion.
    fn completion(&self, created_s: i64, fallback_model: &str) -> Json {
        let mut message = json!({ "role": "assistant", "content": if self.text.is_empty() && !self.tools.is_empty() { Json::Null } else { json!(self.text) } });
        if !self.tools.is_empty() {
            message["tool_calls"] = self
                .tools
                .iter()
                .map(|t| json!({ "id": t.id, "type": "function", "function": { "name": t.name, "arguments": t.arguments } }))
                .collect();
        }
        json!({
            "id": self.id, "object": "chat.completion", "created": created_s,
            "model": self.model.as_deref().unwrap_or(fallback_model),
            "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": self.finish.as_deref().unwrap_or("stop") }],
            "usage": { "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": self.prompt_tokens + self.completion_tokens },
        })
    }

    fn summary(&self) -> Summary {
        let text = if self.text.is_empty() && !self.tools.is_empty() {
            self.tools
                .iter()
                .map(|t| json!({ "id": t.id, "name": t.name, "arguments": t.arguments }))
                .collect::<Json>()
                .to_string()
        } else {
            self.text.clone()
        };
        Summary { text, prompt_tokens: self.prompt_tokens, completion_tokens: self.completion_tokens }
    }
}

fn data_event(out: &mut Vec<u8>, name: Option<&str>, value: &Json) {
    if let Some(name) = name {
        out.extend_from_slice(format!("event: {name}\n").as_bytes());
    }
    out.extend_from_slice(format!("data: {value}\n\n").as_bytes());
}

/// Writes deltas as the caller's events when the provider spoke the other
/// API (or was the mock).
#[derive(Debug)]
struct Writer {
    api: Api,
    include_usage: bool,
    created_s: i64,
    id: String,
    model: String,
    started: bool,
    /// Anthropic callers: the open content block (its index, and for tools
    /// the provider's tool index).
    open: Option<(usize, Option<u64>)>,
    blocks: usize,
    /// OpenAI callers: provider tool indexes in order of appearance.
    tools: Vec<u64>,
}

impl Writer {
    fn chunk(&self, choices: Json) -> Json {
        let mut c = json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created_s, "model": self.model, "choices": choices });
        if self.include_usage {
            c["usage"] = Json::Null;
        }
        c
    }

    fn openai_delta(&self, delta: Json, finish: Option<&str>) -> Json {
        self.chunk(json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]))
    }

    fn start(&mut self, out: &mut Vec<u8>, prompt_tokens: i64) {
        if self.started {
            return;
        }
        self.started = true;
        match self.api {
            Api::OpenAi => {
                data_event(out, None, &self.openai_delta(json!({ "role": "assistant", "content": "" }), None))
            }
            Api::Anthropic => data_event(
                out,
                Some("message_start"),
                &json!({ "type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                    "stop_reason": null, "stop_sequence": null, "usage": { "input_tokens": prompt_tokens, "output_tokens": 0 },
                }}),
            ),
        }
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            data_event(out, Some("content_block_stop"), &json!({ "type": "content_block_stop", "index": index }));
        }
    }

    fn open_block(&mut self, out: &mut Vec<u8>, block: Json, tool: Option<u64>) -> usize {
        self.close_block(out);
        let index = self.blocks;
        self.blocks += 1;
        data_event(
            out,
            Some("content_block_start"),
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        );
        self.open = Some((index, tool));
        index
    }

    fn write(&mut self, delta: &Delta, gathered: &Gathered, out: &mut Vec<u8>) {
        match delta {
            Delta::Start { id, model } => {
                if let Some(id) = id.as_ref().filter(|_| !self.started) {
                    self.id = match self.api {
                        Api::Anthropic if !id.starts_with("msg_") => format!("msg_{id}"),
                        _ => id.clone(),
                    };
                }
                if let Some(model) = model.as_ref().filter(|_| !self.started) {
                    self.model = model.clone();
                }
                self.start(out, gathered.prompt_tokens);
            }
            Delta::Text(text) => {
                self.start(out, gathered.prompt_tokens);
                match self.api {
                    Api::OpenAi => data_event(out, None, &self.openai_delta(json!({ "content": text }), None)),
                    Api::Anthropic => {
                        let index = match self.open {
                            Some((index, None)) => index,
                            _ => self.open_block(out, json!({ "type": "text", "text": "" }), None),
                        };
                        let delta = json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } });
                        data_event(out, Some("content_block_delta"), &delta);
                    }
                }
            }
            Delta::ToolStart { index, id, name } => {
                self.start(out, gathered.prompt_tokens);
                match self.api {
                    Api::OpenAi => {
                        self.tools.push(*index);
                        let n = self.tools.len() - 1;
                        let call = json!({ "index": n, "id": id, "type": "function", "function": { "name": name, "arguments": "" } });
                        data_event(out, None, &self.openai_delta(json!({ "tool_calls": [call] }), None));
                    }
                    Api::Anthropic => {
                        self.open_block(
                            out,
                            json!({ "type": "tool_use", "id": id, "name": name, "input": {} }),
                            Some(*index),
                        );
                    }
                }
            }
            Delta::ToolArgs { index, json: fragment } => match self.api {
                Api::OpenAi => {
                    if let Some(n) = self.tools.iter().rposition(|t| t == index) {
                        let call = json!({ "index": n, "function": { "arguments": fragment } });
                        data_event(out, None, &self.openai_delta(json!({ "tool_calls": [call] }), None));
                    }
                }
                Api::Anthropic => {
                    if let Some((block, Some(tool))) = self.open
                        && tool == *index
                    {
                        let delta = json!({ "type": "content_block_delta", "index": block, "delta": { "type": "input_json_delta", "partial_json": fragment } });
                        data_event(out, Some("content_block_delta"), &delta);
                    }
                }
            },
            // Written at the end, with the usage.
            Delta::Finish(_) | Delta::Usage { .. } | Delta::Done | Delta::Error(_) => {}
        }
    }

    /// The closing events, once the run is recorded.
    fn finish(&mut self, gathered: &Gathered, out: &mut Vec<u8>) {
        self.start(out, gathered.prompt_tokens);
        let reason = gathered.finish.as_deref().unwrap_or("stop");
        match self.api {
            Api::OpenAi => {
                data_event(out, None, &self.openai_delta(json!({}), Some(reason)));
                if self.include_usage {
                    let mut usage = self.chunk(json!([]));
                    usage["usage"] = json!({
                        "prompt_tokens": gathered.prompt_tokens, "completion_tokens": gathered.completion_tokens,
                        "total_tokens": gathered.prompt_tokens + gathered.completion_tokens,
                    });
                    data_event(out, None, &usage);
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            Api::Anthropic => {
                self.close_block(out);
                let delta = json!({
                    "type": "message_delta", "delta": { "stop_reason": stop_reason(reason), "stop_sequence": null },
                    "usage": { "output_tokens": gathered.completion_tokens },
                });
                data_event(out, Some("message_delta"), &delta);
                data_event(out, Some("message_stop"), &json!({ "type": "message_stop" }));
            }
        }
    }
}

/// An error event in the caller's format, ending a stream that broke off.
fn error_event(api: Api, error: &GatewayError) -> Vec<u8> {
    let mut out = Vec::new();
    match api {
        Api::OpenAi => data_event(&mut out, None, &error.body(api)),
        Api::Anthropic => data_event(&mut out, Some("error"), &error.body(api)),
    }
    out
}

enum Source {
    Provider {
        chunks: ChunkStream,
        parser: SseParser,
        wire: Wire,
    },
    /// The mock's answer, already cut into deltas.
    Deltas(VecDeque<Delta>),
}

/// The body of a streamed answer. Read it with [`Relay::next`] until
/// `None`; a caller that stops reading calls [`Relay::abort`].
pub struct Relay<'a, H: Host> {
    host: &'a H,
    call: Call,
    tried: Vec<Attempt>,
    model: ModelRecord,
    source: Source,
    /// Provider events pass through as they are.
    passthrough: bool,
    include_usage: bool,
    writer: Writer,
    gathered: Gathered,
    pending: VecDeque<Vec<u8>>,
    provider_started: Instant,
    first_byte_ms: Option<i64>,
    over: bool,
}

impl<H: Host> Relay<'_, H> {
    /// The next part of the body; `None` once the stream is over.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.over {
                return None;
            }
            // Usage is always asked of OpenAI (the ledger records it); a caller
            // who did not ask for it never sees the usage-only chunk.
            let drop_usage = self.call.api == Api::OpenAi && !self.include_usage;
            let step = match &mut self.source {
                Source::Deltas(deltas) => match deltas.pop_front() {
                    Some(delta) => Ok(vec![(delta, None)]),
                    None => Ok(vec![(Delta::Done, None)]),
                },
                Source::Provider { chunks, parser, wire } => match chunks.next().await {
                    Some(Ok(bytes)) => Ok(parser
                        .feed(&bytes)
                        .into_iter()
                        .flat_map(|event| {
                            let deltas = match wire {
                                Wire::Anthropic => anthropic_deltas(&event),
                                Wire::OpenAi | Wire::Mock => openai_deltas(&event),
                            };
                            let raw = (!(drop_usage && is_usage_only(&event))).then_some(event.raw);
                            // The raw event goes with its first delta (or alone).
                            let mut out: Vec<(Delta, Option<Vec<u8>>)> = Vec::new();
                            for (i, d) in deltas.into_iter().enumerate() {
                                out.push((d, if i == 0 { raw.clone() } else { None }));
                            }
                            if out.is_empty() {
                                out.push((Delta::Usage { prompt: None, completion: None }, raw));
                            }
                            out
                        })
                        .collect()),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Ok(vec![(Delta::Done, None)]),
                },
            };
            match step {
                Ok(deltas) => self.take(deltas).await,
                Err(message) => self.broke_off(format!("the provider's stream broke off: {message}")).await,
            }
        }
    }

    async fn take(&mut self, deltas: Vec<(Delta, Option<Vec<u8>>)>) {
        let mut out = Vec::new();
        for (delta, raw) in deltas {
            match &delta {
                Delta::Done => {
                    self.ended(out).await;
                    return;
                }
                Delta::Error(message) => {
                    self.pending.push_back(out);
                    self.broke_off(format!("the provider's stream failed: {message}")).await;
                    return;
                }
                _ => {}
            }
            self.gathered.apply(&delta);
            if self.passthrough {
                if let Some(raw) = raw {
                    out.extend_from_slice(&raw);
                }
            } else {
                self.writer.write(&delta, &self.gathered, &mut out);
            }
        }
        if !out.is_empty() {
            self.first_byte_ms.get_or_insert_with(|| self.call.started.elapsed().as_millis() as i64);
            self.pending.push_back(out);
        }
    }

    fn timing(&self) -> store::Timing {
        store::Timing {
            provider_latency_ms: Some(self.provider_started.elapsed().as_millis() as i64),
            total_latency_ms: self.call.started.elapsed().as_millis() as i64,
        }
    }

    fn attempts(&self, failure: Option<Failure>) -> Vec<Attempt> {
        let mut tried = self.tried.clone();
        if let Some(last) = tried.last_mut() {
            last.latency_ms = self.provider_started.elapsed().as_millis() as i64;
            last.failure = failure;
        }
        tried
    }

    /// The provider finished: record the run, then send the final events.
    async fn ended(&mut self, mut out: Vec<u8>) {
        self.over = true;
        let created_s = self.call.new.created_at / 1000;
        let completion = self.gathered.completion(created_s, &self.call.new.model_name);
        let answer = match self.call.api {
            Api::OpenAi => completion,
            Api::Anthropic => translate::openai_to_anthropic_response(&completion),
        };
        let tried = self.attempts(None);
        let last = tried.last().map_or(self.call.plans[0].target.clone(), |a| a.target.clone());
        let now_ms = self.host.clock().now_ms();
        let extra = json!({ "stream": true, "ttft_ms": self.first_byte_ms });
        let span = super::span_of(&self.call, &last, true, &tried, (http::StatusCode::OK, &answer), extra, now_ms);
        let finish = super::succeeded(&self.gathered.summary(), &self.model);
        let recorded =
            store::finish(self.host.db(), &self.call.new.id, &self.call.owner, now_ms, &finish, &self.timing(), &span)
                .await;
        match recorded {
            Ok(true) => {
                if self.passthrough {
                    match self.call.api {
                        Api::OpenAi => out.extend_from_slice(b"data: [DONE]\n\n"),
                        Api::Anthropic => {
                            data_event(&mut out, Some("message_stop"), &json!({ "type": "message_stop" }))
                        }
                    }
                } else {
                    self.writer.finish(&self.gathered, &mut out);
                }
            }
            Ok(false) => out.extend(error_event(
                self.call.api,
                &crate::error::ApiError::internal("the execution record changed while it ran").into(),
            )),
            Err(e) => {
                eprintln!("gateway stream {}: could not record the finished run: {e}", self.call.new.id);
                out.extend(error_event(self.call.api, &GatewayError::from(e)));
            }
        }
        self.pending.push_back(out);
    }

    /// The provider's stream failed midway: recorded failed (the partial
    /// output kept on the span), and an error event ends the body.
    async fn broke_off(&mut self, message: String) {
        self.over = true;
        let failure = Failure { kind: FailureKind::Connection, message, provider_status: None, retry_after_s: None };
        let error = GatewayError::from_failure(&failure);
        let tried = self.attempts(Some(failure.clone()));
        let last = tried.last().map_or(self.call.plans[0].target.clone(), |a| a.target.clone());
        let now_ms = self.host.clock().now_ms();
        let body = error.body(self.call.api);
        let extra =
            json!({ "stream": true, "ttft_ms": self.first_byte_ms, "partial_output": self.gathered.summary().text });
        let span = super::span_of(&self.call, &last, false, &tried, (error.status, &body), extra, now_ms);
        let finish = super::failed(&failure);
        if let Err(e) =
            store::finish(self.host.db(), &self.call.new.id, &self.call.owner, now_ms, &finish, &self.timing(), &span)
                .await
        {
            eprintln!("gateway stream {}: could not record the failed run: {e}", self.call.new.id);
        }
        self.pending.push_back(error_event(self.call.api, &error));
    }

    /// Hands every event to `send` until the stream ends. A `send` that
    /// fails (the client hung up) aborts the run, recorded `canceled`.
    pub async fn pump(mut self, mut send: impl AsyncFnMut(Vec<u8>) -> bool) {
        while let Some(chunk) = self.next().await {
            if !send(chunk).await {
                self.abort().await;
                return;
            }
        }
    }

    /// The caller went away before the end: the run is recorded `canceled`
    /// with the output it had received.
    pub async fn abort(self) {
        if self.over {
            return;
        }
        let summary = self.gathered.summary();
        let cost = crate::executions::cost::cost_nanos(&self.model, summary.prompt_tokens, summary.completion_tokens);
        let timing = self.timing();
        let canceled = record::Canceled {
            response_text: storable(&summary.text),
            prompt_tokens: summary.prompt_tokens,
            response_tokens: summary.completion_tokens,
            cost_nanos: cost,
            provider_latency_ms: timing.provider_latency_ms,
            total_latency_ms: timing.total_latency_ms,
        };
        let now_ms = self.host.clock().now_ms();
        if let Err(e) = record::cancel(self.host.db(), &self.call.new.id, &self.call.owner, &canceled, now_ms).await {
            eprintln!("gateway stream {}: could not record the cancellation: {e}", self.call.new.id);
        }
    }
}

/// An OpenAI chunk that carries only the usage (`choices: []`).
fn is_usage_only(event: &SseEvent) -> bool {
    serde_json::from_str::<Json>(&event.data)
        .is_ok_and(|c| c["usage"].is_object() && c["choices"].as_array().is_some_and(Vec::is_empty))
}

/// The mock's answer as deltas: its words one chunk each.
fn mock_deltas(plan: &Plan, id: &str) -> VecDeque<Delta> {
    let completion = translate::mock_openai_response(&plan.body, &plan.target.model, id, 0);
    let text = completion["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    let mut deltas = VecDeque::from([Delta::Start {
        id: completion["id"].as_str().map(str::to_owned),
        model: Some(plan.target.model.clone()),
    }]);
    let mut words = text.split_inclusive(' ');
    for word in words.by_ref() {
        deltas.push_back(Delta::Text(word.to_owned()));
    }
    deltas.push_back(Delta::Finish("stop".into()));
    deltas.push_back(Delta::Usage {
        prompt: completion["usage"]["prompt_tokens"].as_i64(),
        completion: completion["usage"]["completion_tokens"].as_i64(),
    });
    deltas
}

/// Collects a refused stream's body, for the failure it explains.
async fn refused(response: http::Response<ChunkStream>) -> Failure {
    let (parts, mut chunks) = response.into_parts();
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = chunks.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            break;
        }
    }
    super::status_failure(&http::Response::from_parts(parts, body))
}

/// Starts a streamed answer: the `running` record, then the models in
/// order until one accepts the stream.
///
/// # Errors
/// As the whole-answer path: the caller's errors, and the last provider
/// failure when no model accepted (recorded first).
pub(super) async fn open<'a, H: Host>(host: &'a H, req: &ApiRequest, call: Call) -> Result<Reply<'a, H>, GatewayError> {
    if let Some(replay) = super::insert_running(host, &call).await? {
        return Ok(Reply::Full(replay));
    }
    let mut tried: Vec<Attempt> = Vec::new();
    let mut accepted = None;
    for (i, plan) in call.plans.iter().enumerate() {
        let started = Instant::now();
        let outcome: Result<Source, Failure> = match plan.wire {
            Wire::Mock => Ok(Source::Deltas(mock_deltas(plan, &call.new.id))),
            Wire::OpenAi | Wire::Anthropic => match plan.request(host.config(), req, call.timeout, true) {
                Err(message) => Err(super::failure(FailureKind::ClientError, message, None)),
                Ok(request) => match host.http().send_streaming(request).await {
                    Ok(response) if response.status().is_success() => Ok(Source::Provider {
                        chunks: response.into_body(),
                        parser: SseParser::default(),
                        wire: plan.wire,
                    }),
                    Ok(response) => Err(refused(response).await),
                    Err(e) => Err(super::failure(FailureKind::of_transport(&e), e.to_string(), None)),
                },
            },
        };
        let failure = outcome.as_ref().err().cloned();
        let give_up = failure.as_ref().is_some_and(|f| !f.kind.retryable() || i + 1 == call.plans.len());
        tried.push(Attempt { target: plan.target.clone(), latency_ms: started.elapsed().as_millis() as i64, failure });
        match outcome {
            Ok(source) => {
                accepted = Some((plan, source, started));
                break;
            }
            Err(f) if give_up => {
                let response = super::conclude(host, &call, Err(f), &tried, true, json!({ "stream": true })).await;
                return response.map(Reply::Full);
            }
            Err(_) => {}
        }
    }
    let Some((plan, source, provider_started)) = accepted else {
        return Err(crate::error::ApiError::internal("no model to call").into());
    };
    let target = plan.target.clone();
    let (_, model) = super::served_model(host, &call, &tried).await?;
    if tried.len() > 1 {
        let now_ms = host.clock().now_ms();
        record::switch_model(host.db(), &call.new.id, &call.owner, &target, &model.id, tried.len() as i64, now_ms)
            .await?;
    }
    let include_usage = matches!(call.delivery, super::Delivery::Events { include_usage: true });
    let passthrough = matches!((call.api, plan.wire), (Api::OpenAi, Wire::OpenAi) | (Api::Anthropic, Wire::Anthropic));
    let writer = Writer {
        api: call.api,
        include_usage,
        created_s: call.new.created_at / 1000,
        id: format!("chatcmpl-{}", call.new.id),
        model: target.model.clone(),
        started: false,
        open: None,
        blocks: 0,
        tools: Vec::new(),
    };
    let headers = super::headers_of(&call.new.id, tried.len(), Some(target.label()));
    let head = super::respond(http::StatusCode::OK, Vec::new(), super::sse::CONTENT_TYPE, &headers).into_parts().0;
    Ok(Reply::Events(
        head,
        Box::new(Relay {
            host,
            call,
            tried,
            model,
            source,
            passthrough,
            include_usage,
            writer,
            gathered: Gathered::default(),
            pending: VecDeque::new(),
            provider_started,
            first_byte_ms: None,
            over: false,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_whatever_the_chunks() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"event: message_start\ndata: {\"a\"").is_empty());
        let events = parser.feed(b":1}\n\ndata: [DONE]\r\n\r\ndata: x");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].event.as_deref(), events[0].data.as_str()), (Some("message_start"), "{\"a\":1}"));
        assert_eq!(events[0].raw, b"event: message_start\ndata: {\"a\":1}\n\n");
        assert_eq!(events[1].data, "[DONE]");
        assert_eq!(parser.feed(b"\n\n")[0].data, "x");
    }

    fn event(data: Json) -> SseEvent {
        SseEvent { event: None, data: data.to_string(), raw: Vec::new() }
    }

    #[test]
    fn openai_chunks_and_anthropic_events_give_the_same_deltas() {
        let d = openai_deltas(&event(json!({ "id": "c", "model": "m", "choices": [{ "index": 0, "delta": {
            "tool_calls": [{ "index": 0, "id": "t1", "function": { "name": "f", "arguments": "{\"a\"" } }] }, "finish_reason": null }] })));
        assert_eq!(
            &d[1..],
            [
                Delta::ToolStart { index: 0, id: "t1".into(), name: "f".into() },
                Delta::ToolArgs { index: 0, json: "{\"a\"".into() }
            ]
        );
        let d = anthropic_deltas(&event(
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use" }, "usage": { "output_tokens": 7 } }),
        ));
        assert_eq!(d, [Delta::Finish("tool_calls".into()), Delta::Usage { prompt: None, completion: Some(7) }]);
        assert_eq!(openai_deltas(&event(json!({ "error": { "message": "boom" } }))), [Delta::Error("boom".into())]);
        assert_eq!(openai_deltas(&SseEvent { event: None, data: "[DONE]".into(), raw: Vec::new() }), [Delta::Done]);
    }

    #[test]
    fn anthropic_callers_get_blocks_from_openai_deltas() {
        let mut writer = Writer {
            api: Api::Anthropic,
            include_usage: false,
            created_s: 0,
            id: "x".into(),
            model: "m".into(),
            started: false,
            open: None,
            blocks: 0,
            tools: Vec::new(),
        };
        let mut gathered = Gathered::default();
        let mut out = Vec::new();
        for d in [
            Delta::Start { id: Some("c1".into()), model: Some("gpt".into()) },
            Delta::Text("Hel".into()),
            Delta::Text("lo".into()),
            Delta::ToolStart { index: 0, id: "t".into(), name: "f".into() },
            Delta::ToolArgs { index: 0, json: "{}".into() },
            Delta::Finish("tool_calls".into()),
            Delta::Usage { prompt: Some(2), completion: Some(3) },
        ] {
            gathered.apply(&d);
            writer.write(&d, &gathered, &mut out);
        }
        writer.finish(&gathered, &mut out);
        let text = String::from_utf8(out).unwrap();
        let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(text.contains("\"id\":\"msg_c1\"") && text.contains("\"stop_reason\":\"tool_use\""));
        assert_eq!(gathered.summary().text, "Hello");
        let completion = gathered.completion(0, "m");
        assert_eq!(completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(completion["usage"]["total_tokens"], 5);
    }
}
