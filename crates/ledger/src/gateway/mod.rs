//! The drop-in gateway: `POST /v1/chat/completions` in OpenAI's shape and
//! `POST /v1/messages` in Anthropic's, so the vendors' SDKs work against
//! PromptLedger by changing their base URL (the PromptLedger key goes where
//! the vendor key went: `Authorization: Bearer` or `x-api-key`).
//!
//! Each call is an execution, recorded as `executions:run` records one and
//! committed before the answer: under a registered prompt named by the
//! caller (`PromptLedger-Prompt`, rendered into the messages) or the
//! tracking-mode prompt of its system messages; with `Idempotency-Key`
//! (a retry gets the first answer, never a second provider call),
//! `traceparent` and the cost from the price table. `model` may be a list,
//! and `fallbacks` adds to it: the models are tried in order while the
//! failure is a rate limit, a 5xx, a timeout or a connection failure, and
//! every attempt is kept on the execution's span.
//!
//! Requests for the caller's own vendor pass through as they are (tools,
//! `response_format`, `seed`, `n`, `logprobs`...), and the provider's answer
//! is returned byte for byte; other providers go through [`translate`].
//! `stream: true` relays the provider's events as they arrive, in the
//! caller's format ([`stream`]); hosts that can send a body while it is
//! produced call [`handle_streaming`], the others get it collected.

pub mod errors;
pub mod record;
pub mod request;
pub mod sse;
pub mod stream;
pub mod translate;

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::FutureExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value as Json, json};

use self::errors::GatewayError;
use self::record::Attempt;
use self::request::{Options, Target};
use self::translate::Summary;
use crate::api::request::ApiRequest;
use crate::api::response::Response;
use crate::auth::{self, Scope};
use crate::config::Config;
use crate::error::ApiError;
use crate::executions::providers::{Failure, FailureKind, Provider, storable};
use crate::executions::run::{RUNNING_RECORD_AFTER, parse_traceparent};
use crate::executions::{LEASE_MARGIN_MS, canonical_hash, cost, model_cache};
use crate::ports::{Host, Http, MAX_PROVIDER_RESPONSE_BYTES, Timeout};
use crate::registry::{PromptBody, ResolvedVersion};
use crate::store::executions::{self as store, ExecutionSpan, Finish, NewExecution, Timing};
use crate::store::models::ModelRecord;

/// The caller's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic messages.
    Anthropic,
}

impl Api {
    pub fn route(self) -> &'static str {
        match self {
            Api::OpenAi => "chat.completions",
            Api::Anthropic => "messages",
        }
    }
}

/// The Anthropic API version sent when the caller names none.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Response headers naming the execution and the model that served.
pub const EXECUTION_ID_HEADER: &str = "promptledger-execution-id";
pub const SERVED_MODEL_HEADER: &str = "promptledger-served-model";
pub const ATTEMPTS_HEADER: &str = "promptledger-attempts";
pub const REPLAY_HEADER: &str = "promptledger-idempotent-replay";

/// Serves one gateway request with its whole answer (a streamed answer is
/// collected); every failure is in the caller's vendor shape.
pub async fn serve<H: Host>(host: &H, req: &ApiRequest, api: Api) -> Response {
    serve_streaming(host, req, api).await.into_full().await
}

/// [`crate::handle`] for hosts that can send a body while it is produced:
/// a gateway request with `stream: true` comes back as a head and the
/// [`stream::Relay`] of its events; every other request as `handle` answers it.
pub async fn handle_streaming<'a, H: Host>(host: &'a H, req: http::Request<Vec<u8>>) -> Reply<'a, H> {
    let Some(api) = call_of(&req) else { return Reply::Full(crate::api::handle(host, req).await) };
    // The CORS headers `handle` adds to every answer.
    let cors = crate::api::cors::Policy::new(&host.config().cors_origins);
    let request_headers = cors.is_on().then(|| req.headers().clone());
    let mut reply = serve_streaming(host, &ApiRequest::from_http(req), api).await;
    if let Some(request_headers) = request_headers {
        match &mut reply {
            Reply::Full(response) => cors.decorate(&request_headers, response),
            Reply::Events(parts, _) => {
                let mut head = http::Response::new(Vec::new());
                *head.headers_mut() = std::mem::take(&mut parts.headers);
                cors.decorate(&request_headers, &mut head);
                parts.headers = std::mem::take(head.headers_mut());
            }
        }
    }
    reply
}

/// The API of a gateway call (a POST to one of its routes, within the size
/// limit): the requests whose answer may be an event stream.
pub fn call_of(req: &http::Request<Vec<u8>>) -> Option<Api> {
    let api = match req.uri().path().trim_end_matches('/') {
        "/v1/chat/completions" => Api::OpenAi,
        "/v1/messages" => Api::Anthropic,
        _ => return None,
    };
    (req.method() == http::Method::POST && req.body().len() <= crate::api::request::MAX_BODY_BYTES).then_some(api)
}

/// What a gateway request gets: a whole response, or the head of an event
/// stream and the [`stream::Relay`] that produces its body.
pub enum Reply<'a, H: Host> {
    Full(Response),
    Events(http::response::Parts, Box<stream::Relay<'a, H>>),
}

impl<H: Host> Reply<'_, H> {
    /// The response with its body read to the end.
    pub async fn into_full(self) -> Response {
        match self {
            Reply::Full(response) => response,
            Reply::Events(parts, mut relay) => {
                let mut body = Vec::new();
                while let Some(chunk) = relay.next().await {
                    body.extend_from_slice(&chunk);
                }
                http::Response::from_parts(parts, body)
            }
        }
    }
}

/// Serves one gateway request; `stream: true` is relayed as the provider's
/// events arrive.
pub async fn serve_streaming<'a, H: Host>(host: &'a H, req: &ApiRequest, api: Api) -> Reply<'a, H> {
    let outcome = match prepare(host, req, api).await {
        Ok(Prepared::Replay(response)) => Ok(Reply::Full(response)),
        Ok(Prepared::Call(call)) if call.delivery == Delivery::Json => {
            answer_whole(host, req, &call).await.map(Reply::Full)
        }
        Ok(Prepared::Call(call)) => stream::open(host, req, *call).await,
        Err(e) => Err(e),
    };
    outcome.unwrap_or_else(|e| {
        if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY && e.status != StatusCode::GATEWAY_TIMEOUT
        {
            eprintln!("{} {} -> {} {}", req.method, req.path, e.status.as_u16(), e.message);
        }
        Reply::Full(e.response(api))
    })
}

/// How one model is reached: the protocol spoken and the body sent.
struct Plan {
    target: Target,
    wire: Wire,
    body: Map<String, Json>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
    /// Answered in-process from an OpenAI-shaped body.
    Mock,
}

impl Plan {
    /// # Errors
    /// 400 for a parameter the target's provider has no equivalent for.
    fn new(api: Api, body: &Map<String, Json>, target: &Target) -> Result<Plan, GatewayError> {
        let (wire, mut body) = match (api, target.provider) {
            (Api::OpenAi, Provider::OpenAi) => (Wire::OpenAi, body.clone()),
            (Api::OpenAi, Provider::Mock) => (Wire::Mock, body.clone()),
            (Api::OpenAi, Provider::Anthropic) => (Wire::Anthropic, translate::openai_to_anthropic_request(body)?),
            (Api::Anthropic, Provider::Anthropic) => (Wire::Anthropic, body.clone()),
            (Api::Anthropic, Provider::OpenAi) => (Wire::OpenAi, translate::anthropic_to_openai_request(body)?),
            (Api::Anthropic, Provider::Mock) => (Wire::Mock, translate::anthropic_to_openai_request(body)?),
        };
        body.insert("model".into(), json!(target.model));
        Ok(Plan { target: target.clone(), wire, body })
    }

    /// The provider request; `stream` asks for an event stream (with usage,
    /// from OpenAI, which the ledger records).
    fn request(
        &self,
        config: &Config,
        caller: &ApiRequest,
        timeout: Duration,
        stream: bool,
    ) -> Result<http::Request<Vec<u8>>, String> {
        let bytes = if stream {
            let mut body = self.body.clone();
            body.insert("stream".into(), json!(true));
            if self.wire == Wire::OpenAi {
                body.insert("stream_options".into(), json!({ "include_usage": true }));
            }
            serde_json::to_vec(&body)
        } else {
            serde_json::to_vec(&self.body)
        }
        .map_err(|e| e.to_string())?;
        let builder = match self.wire {
            Wire::OpenAi => {
                let mut b = http::Request::post(format!("{}/chat/completions", config.openai_base_url));
                if !config.openai_api_key.is_empty() {
                    b = b.header(header::AUTHORIZATION, format!("Bearer {}", config.openai_api_key));
                }
                b
            }
            Wire::Anthropic => {
                let mut b = http::Request::post(format!("{}/messages", config.anthropic_base_url))
                    .header("x-api-key", &config.anthropic_api_key)
                    .header("anthropic-version", caller.header("anthropic-version").unwrap_or(ANTHROPIC_VERSION));
                if let Some(beta) = caller.header("anthropic-beta") {
                    b = b.header("anthropic-beta", beta);
                }
                b
            }
            Wire::Mock => return Err("the mock provider takes no request".into()),
        };
        let mut request =
            builder.header(header::CONTENT_TYPE, "application/json").body(bytes).map_err(|e| e.to_string())?;
        request.extensions_mut().insert(Timeout(timeout));
        Ok(request)
    }
}

/// A provider's answer in the caller's shape.
struct Answer {
    bytes: Vec<u8>,
    json: Json,
    summary: Summary,
}

fn failure(kind: FailureKind, message: impl Into<String>, provider_status: Option<u16>) -> Failure {
    Failure { kind, message: message.into(), provider_status, retry_after_s: None }
}

fn status_failure(response: &http::Response<Vec<u8>>) -> Failure {
    let status = response.status().as_u16();
    let kind = match status {
        429 => FailureKind::RateLimited,
        408 => FailureKind::Timeout,
        500..=599 => FailureKind::ServerError,
        _ => FailureKind::ClientError,
    };
    let detail = serde_json::from_slice::<Json>(response.body())
        .ok()
        .and_then(|b| b["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(response.body()).chars().take(300).collect());
    Failure {
        kind,
        message: format!("provider answered {status}: {}", detail.chars().take(500).collect::<String>()),
        provider_status: Some(status),
        retry_after_s: response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    }
}

/// One call to one model.
async fn attempt<H: Host>(
    host: &H,
    caller: &ApiRequest,
    api: Api,
    plan: &Plan,
    timeout: Duration,
    id: &str,
) -> Result<Answer, Failure> {
    let created_s = host.clock().now_ms() / 1000;
    let (provider_json, raw) = match plan.wire {
        Wire::Mock => (translate::mock_openai_response(&plan.body, &plan.target.model, id, created_s), None),
        Wire::OpenAi | Wire::Anthropic => {
            let request = plan
                .request(host.config(), caller, timeout, false)
                .map_err(|m| failure(FailureKind::ClientError, m, None))?;
            let response = host
                .http()
                .send_bounded(request, MAX_PROVIDER_RESPONSE_BYTES)
                .await
                .map_err(|e| failure(FailureKind::of_transport(&e), e.to_string(), None))?;
            if !response.status().is_success() {
                return Err(status_failure(&response));
            }
            let status = response.status().as_u16();
            let body = response.into_body();
            let json: Json = serde_json::from_slice(&body).map_err(|e| {
                failure(FailureKind::BadResponse, format!("provider returned invalid JSON: {e}"), Some(status))
            })?;
            (json, Some(body))
        }
    };
    let provider_api = if plan.wire == Wire::Anthropic { Api::Anthropic } else { Api::OpenAi };
    let (json, bytes) = match (provider_api == api, api) {
        (true, _) => (provider_json, raw),
        (false, Api::OpenAi) => (translate::anthropic_to_openai_response(&provider_json, created_s), None),
        (false, Api::Anthropic) => (translate::openai_to_anthropic_response(&provider_json), None),
    };
    let summary = match api {
        Api::OpenAi => translate::summary_openai(&json),
        Api::Anthropic => translate::summary_anthropic(&json),
    }
    .ok_or_else(|| failure(FailureKind::BadResponse, "provider response has no answer in it", None))?;
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => serde_json::to_vec(&json).map_err(|e| failure(FailureKind::BadResponse, e.to_string(), None))?,
    };
    Ok(Answer { bytes, json, summary })
}

/// The models in order until one answers or fails in a way another model
/// cannot help with. Returns the answer (with its plan's index) or the last
/// failure, and every attempt.
async fn attempts<H: Host>(
    host: &H,
    caller: &ApiRequest,
    api: Api,
    plans: &[Plan],
    timeout: Duration,
    id: &str,
) -> (Result<Answer, Failure>, Vec<Attempt>) {
    let mut tried = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let started = Instant::now();
        let outcome = attempt(host, caller, api, plan, timeout, id).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let failed = outcome.as_ref().err().cloned();
        let last = i + 1 == plans.len();
        let give_up = failed.as_ref().is_none_or(|f| !f.kind.retryable() || last);
        tried.push(Attempt { target: plan.target.clone(), latency_ms, failure: failed });
        if give_up {
            return (outcome, tried);
        }
    }
    (Err(failure(FailureKind::ClientError, "no model to call", None)), tried)
}

/// `value` with U+0000 replaced in every string, for JSON columns.
fn storable_json(value: &Json) -> Json {
    if !crate::api::request::has_nul(value) {
        return value.clone();
    }
    match value {
        Json::String(s) => json!(storable(s)),
        Json::Array(items) => Json::Array(items.iter().map(storable_json).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (storable(k), storable_json(v))).collect()),
        other => other.clone(),
    }
}

/// How the caller asked for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Json,
    /// Server-sent events; OpenAI callers may ask for a usage chunk.
    Events {
        include_usage: bool,
    },
}

impl Delivery {
    /// Takes `stream` and `stream_options` out of the body: providers are
    /// asked for whole answers.
    fn take(body: &mut Map<String, Json>) -> Result<Delivery, GatewayError> {
        let stream = match body.remove("stream") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => b,
            Some(_) => return Err(GatewayError::invalid("stream", "must be a boolean")),
        };
        let options = body.remove("stream_options").unwrap_or(Json::Null);
        let include_usage = options["include_usage"] == json!(true);
        Ok(if stream { Delivery::Events { include_usage } } else { Delivery::Json })
    }

    /// A successful answer's body and content type.
    fn render(self, api: Api, answer: &Json, bytes: Vec<u8>) -> (Vec<u8>, &'static str) {
        match (self, api) {
            (Delivery::Json, _) => (bytes, "application/json"),
            (Delivery::Events { include_usage }, Api::OpenAi) => {
                (sse::openai_events(answer, include_usage), sse::CONTENT_TYPE)
            }
            (Delivery::Events { .. }, Api::Anthropic) => (sse::anthropic_events(answer), sse::CONTENT_TYPE),
        }
    }
}

fn respond(
    status: StatusCode,
    bytes: Vec<u8>,
    content_type: &'static str,
    headers: &[(&'static str, String)],
) -> Response {
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == sse::CONTENT_TYPE {
        map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
    response
}

async fn replayed<H: Host>(
    host: &H,
    api: Api,
    delivery: Delivery,
    existing: &store::ExecutionRecord,
    request_hash: &str,
) -> Result<Response, GatewayError> {
    let (status, body) = record::replay(host.db(), existing, request_hash).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (bytes, content_type) =
        if status.is_success() { delivery.render(api, &body, bytes) } else { (bytes, "application/json") };
    let headers = [
        (EXECUTION_ID_HEADER, existing.id.clone()),
        (SERVED_MODEL_HEADER, format!("{}/{}", existing.provider, existing.model_name)),
        (ATTEMPTS_HEADER, existing.attempts.to_string()),
        (REPLAY_HEADER, "true".to_owned()),
    ];
    Ok(respond(status, bytes, content_type, &headers))
}

/// A call ready for its provider: everything checked, its record built.
struct Call {
    api: Api,
    delivery: Delivery,
    plans: Vec<Plan>,
    first_model: ModelRecord,
    version: ResolvedVersion,
    new: NewExecution,
    owner: String,
    timeout: Duration,
    started: Instant,
}

enum Prepared {
    Call(Box<Call>),
    /// An idempotent retry, answered from the ledger.
    Replay(Response),
}

/// Everything before the first provider call: auth, the body, the options,
/// the idempotency check, the prompt, the models and their requests.
async fn prepare<H: Host>(host: &H, req: &ApiRequest, api: Api) -> Result<Prepared, GatewayError> {
    if req.method != http::Method::POST {
        return Err(ApiError::method_not_allowed(&["POST"]).into());
    }
    let who = auth::authenticate(host, req).await?;
    crate::limits::admit_request(host, &who).await?;
    who.require(Scope::Write)?;
    let started = Instant::now();
    let now = host.clock().now_ms();
    let mut body = match req.json_value()? {
        Json::Object(map) => map,
        _ => return Err(GatewayError::invalid("body", "must be a JSON object")),
    };
    let options = Options::take(req, &mut body)?;
    let idempotency_key = req.header("idempotency-key").filter(|k| !k.is_empty()).map(str::to_owned);
    if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
        return Err(GatewayError::invalid("Idempotency-Key", "must be at most 255 characters"));
    }
    let (trace_id, parent_span_id) = match req.header("traceparent") {
        Some(header) => parse_traceparent(header).map(|(t, p)| (t, Some(p)))?,
        None => (host.ids().new_id().simple().to_string(), None),
    };

    // A retry with a known key answers from the ledger before any other work.
    let request_hash = canonical_hash(&json!({ "gateway": api.route(), "body": body, "options": options.hashed() }));
    let delivery = Delivery::take(&mut body)?;
    if let Some(key) = &idempotency_key
        && let Some(existing) = store::get_by_idempotency_key(host.db(), key).await?
    {
        return Ok(Prepared::Replay(replayed(host, api, delivery, &existing, &request_hash).await?));
    }

    let version: ResolvedVersion = match &options.prompt {
        Some(name) => request::render_registered(host, api, &mut body, name, &options).await?,
        None => request::tracked_prompt(host, api, &body, options.track_as.as_deref()).await?,
    };
    let targets = request::take_targets(&mut body, api, version.config["model"].as_str())?;
    for target in &targets {
        target.provider.check_configured(host.config())?;
    }
    // Every translation is checked before the first provider call.
    let plans = targets.iter().map(|t| Plan::new(api, &body, t)).collect::<Result<Vec<_>, _>>()?;
    let first = &targets[0];

    crate::limits::admit_spend(host, &who).await?;
    let first_model = model_cache::model(host, first.provider.as_str(), &first.model).await?;
    let id = host.ids().new_id().to_string();
    let owner = format!("sync:{id}");
    let span_id = host.ids().new_id().simple().to_string()[16..].to_owned();
    let mut params = body.clone();
    params.remove("messages");
    params.remove("system");
    let labels: Vec<String> = targets.iter().map(Target::label).collect();
    let new = NewExecution {
        id,
        prompt_id: Some(version.prompt_id.clone()),
        prompt_version_id: Some(version.version_id.clone()),
        prompt_name: Some(version.prompt_name.clone()),
        version: Some(version.version),
        model_id: first_model.id.clone(),
        provider: first.provider.as_str().to_owned(),
        model_name: first.model.clone(),
        mode: "sync",
        status: "running",
        prompt_kind: "chat",
        rendered_prompt: request::recorded_messages(api, &body).to_string(),
        correlation_id: options.correlation_id.clone(),
        idempotency_key,
        request_hash,
        attempts: 1,
        max_attempts: targets.len() as i64,
        lease_owner: Some(owner.clone()),
        lease_expires_at: Some(now + options.timeout_ms * targets.len() as i64 + LEASE_MARGIN_MS),
        next_attempt_at: None,
        timeout_ms: options.timeout_ms,
        trace_id,
        span_id,
        parent_span_id,
        created_at: now,
        api_key_id: who.key_id.clone(),
        variables: Json::Object(options.variables.clone()),
        model_config: json!({
            "provider": first.provider.as_str(), "model_name": first.model, "gateway": api.route(), "models": labels,
            "stream": delivery != Delivery::Json, "prompt_config": version.config,
        }),
        params: Json::Object(params),
        template: match &version.body {
            PromptBody::Text(t) => Some(t.clone()),
            PromptBody::Chat(m) => serde_json::to_string(m).ok(),
        },
    };
    let timeout = Duration::from_millis(options.timeout_ms as u64);
    Ok(Prepared::Call(Box::new(Call { api, delivery, plans, first_model, version, new, owner, timeout, started })))
}

/// Writes the `running` record. `Some(replay)` when another request holds
/// the idempotency key (it took it between our check and this insert).
async fn insert_running<H: Host>(host: &H, call: &Call) -> Result<Option<Response>, GatewayError> {
    if store::insert(host.db(), &call.new).await? {
        return Ok(None);
    }
    let key = call.new.idempotency_key.as_deref().unwrap_or_default();
    let existing = store::get_by_idempotency_key(host.db(), key)
        .await?
        .ok_or_else(|| GatewayError::from(ApiError::conflict("idempotency key is in use; retry")))?;
    Ok(Some(replayed(host, call.api, call.delivery, &existing, &call.new.request_hash).await?))
}

/// A whole answer (JSON, or events written from it once recorded).
async fn answer_whole<H: Host>(host: &H, req: &ApiRequest, call: &Call) -> Result<Response, GatewayError> {
    let calls = attempts(host, req, call.api, &call.plans, call.timeout, &call.new.id);
    let (outcome, tried, running_recorded) = if call.new.idempotency_key.is_none() {
        // As `executions:run`: a quick answer is recorded once, finished; a
        // slower one also gets its `running` record while the provider works.
        let mut calls = pin!(calls.fuse());
        let mut delay = pin!(host.sleep(RUNNING_RECORD_AFTER).fuse());
        futures::select! {
            (outcome, tried) = calls => (outcome, tried, false),
            () = delay => {
                let (inserted, (outcome, tried)) = futures::join!(store::insert(host.db(), &call.new), &mut calls);
                inserted?;
                (outcome, tried, true)
            }
        }
    } else {
        if let Some(replay) = insert_running(host, call).await? {
            return Ok(replay);
        }
        let (outcome, tried) = calls.await;
        (outcome, tried, true)
    };
    conclude(host, call, outcome.map(|a| (a.json, a.summary, Some(a.bytes))), &tried, running_recorded, json!({})).await
}

/// The model that served (or failed last) and its prices.
async fn served_model<H: Host>(
    host: &H,
    call: &Call,
    tried: &[Attempt],
) -> Result<(Target, ModelRecord), GatewayError> {
    let first = &call.plans[0].target;
    let last = tried.last().map_or(first, |a| &a.target).clone();
    let model = if &last == first {
        call.first_model.clone()
    } else {
        model_cache::model(host, last.provider.as_str(), &last.model).await?
    };
    Ok((last, model))
}

/// The execution's span, with the gateway's account of the call: the
/// attempts, the model that served and the answer a replay repeats.
fn span_of(
    call: &Call,
    last: &Target,
    served: bool,
    tried: &[Attempt],
    answer: (StatusCode, &Json),
    extra: Json,
    ended_ms: i64,
) -> ExecutionSpan {
    let mut gateway = json!({
        "api": call.api.route(),
        "served_by": served.then(|| last.label()),
        "attempts": tried.iter().map(Attempt::json).collect::<Vec<_>>(),
        // What an idempotent retry answers with.
        "answer": { "status": answer.0.as_u16(), "body": storable_json(answer.1) },
    });
    if let (Some(gateway), Json::Object(extra)) = (gateway.as_object_mut(), extra) {
        gateway.extend(extra);
    }
    ExecutionSpan {
        trace_id: call.new.trace_id.clone(),
        span_id: call.new.span_id.clone(),
        parent_span_id: call.new.parent_span_id.clone(),
        started_at_us: call.new.created_at * 1000,
        ended_at_us: ended_ms * 1000,
        model: last.label(),
        attributes: json!({
            "prompt_name": call.version.prompt_name,
            "version": call.version.version,
            "mode": "sync",
            "gateway": gateway,
        }),
    }
}

fn succeeded(summary: &Summary, model: &ModelRecord) -> Finish {
    Finish::Succeeded {
        response_text: storable(&summary.text),
        prompt_tokens: summary.prompt_tokens,
        response_tokens: summary.completion_tokens,
        cost_nanos: cost::cost_nanos(model, summary.prompt_tokens, summary.completion_tokens),
    }
}

fn failed(f: &Failure) -> Finish {
    Finish::Failed {
        error_type: f.kind.as_str().into(),
        error_message: f.message.clone(),
        provider_status: f.provider_status.map(i64::from),
    }
}

fn headers_of(id: &str, tried: usize, served: Option<String>) -> Vec<(&'static str, String)> {
    let mut headers = vec![(EXECUTION_ID_HEADER, id.to_owned()), (ATTEMPTS_HEADER, tried.to_string())];
    if let Some(label) = served {
        headers.push((SERVED_MODEL_HEADER, label));
    }
    headers
}

/// Records how the call ended, then answers: the caller's answer in its
/// shape (the provider's bytes when given), or the last failure.
async fn conclude<H: Host>(
    host: &H,
    call: &Call,
    outcome: Result<(Json, Summary, Option<Vec<u8>>), Failure>,
    tried: &[Attempt],
    running_recorded: bool,
    extra: Json,
) -> Result<Response, GatewayError> {
    let api = call.api;
    let (last, model) = served_model(host, call, tried).await?;
    let (finish, status, answer_json) = match &outcome {
        Ok((json, summary, _)) => (succeeded(summary, &model), StatusCode::OK, json.clone()),
        Err(f) => {
            let e = GatewayError::from_failure(f);
            (failed(f), e.status, e.body(api))
        }
    };
    let timing = Timing {
        provider_latency_ms: tried.last().map(|a| a.latency_ms),
        total_latency_ms: call.started.elapsed().as_millis() as i64,
    };
    let now_ms = host.clock().now_ms();
    let span = span_of(call, &last, outcome.is_ok(), tried, (status, &answer_json), extra, now_ms);
    let id = &call.new.id;
    let recorded = if running_recorded {
        if tried.len() > 1 {
            record::switch_model(host.db(), id, &call.owner, &last, &model.id, tried.len() as i64, now_ms).await?;
        }
        store::finish(host.db(), id, &call.owner, now_ms, &finish, &timing, &span).await?
    } else {
        let finished = NewExecution {
            provider: last.provider.as_str().to_owned(),
            model_name: last.model.clone(),
            model_id: model.id.clone(),
            attempts: tried.len() as i64,
            ..call.new.clone()
        };
        store::insert_finished(host.db(), &finished, &finish, &timing, &span, now_ms).await?
    };
    if !recorded {
        return Err(ApiError::internal("the execution record changed while it ran").into());
    }
    let headers = headers_of(id, tried.len(), outcome.is_ok().then(|| last.label()));
    match outcome {
        Ok((json, _, bytes)) => {
            let bytes = match bytes {
                Some(bytes) => bytes,
                None => serde_json::to_vec(&json).unwrap_or_default(),
            };
            let (bytes, content_type) = call.delivery.render(api, &json, bytes);
            Ok(respond(StatusCode::OK, bytes, content_type, &headers))
        }
        Err(f) => {
            let mut e = GatewayError::from_failure(&f);
            for (name, value) in headers {
                e = e.with_header(http::HeaderName::from_static(name), value);
            }
            Err(e)
        }
    }
}
