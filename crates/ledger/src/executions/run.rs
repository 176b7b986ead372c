//! `POST /v1/executions:run`: validate, resolve and render the prompt, take
//! the idempotency key, then either queue the run or call the provider and
//! record the outcome before answering.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::FutureExt;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use super::providers::{self, Call, Completion, Failure, Provider};
use super::{DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_MS, LEASE_MARGIN_MS, MAX_TIMEOUT_MS, QUEUE_CHANNEL, cost, view};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ports::{Host, Queue};
use crate::registry::{self, PromptBody, Rendered, ResolvedVersion, VersionSelector};
use crate::store::executions::{self as store, ExecutionSpan, Finish, NewExecution, Timing};
use crate::store::models;

/// A sync run without an idempotency key whose provider answers within
/// this long is written once, finished; a slower one is also written as
/// `running` while the provider works, so in-flight runs can be seen (and
/// failed by the beat if this process dies).
pub const RUNNING_RECORD_AFTER: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Sync,
    Async,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ModelArg {
    Name(String),
    Full { provider: Option<String>, model_name: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub prompt_name: Option<String>,
    pub version: Option<i64>,
    #[serde(alias = "label")]
    pub environment: Option<String>,
    pub template: Option<String>,
    pub messages: Option<Vec<registry::ChatMessage>>,
    #[serde(default)]
    pub variables: Map<String, Json>,
    pub model: Option<ModelArg>,
    #[serde(default)]
    pub params: Map<String, Json>,
    #[serde(default)]
    pub mode: Mode,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub trace_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub timeout_ms: Option<i64>,
    pub max_attempts: Option<i64>,
}

/// The original smoke-test body: `{"prompt_text": ..., "model": "gpt-3.5-turbo"}`.
#[derive(Debug, Deserialize)]
pub struct LegacyExecute {
    pub prompt_text: String,
    pub model: Option<String>,
    #[serde(default)]
    pub variables: Map<String, Json>,
    #[serde(default)]
    pub params: Map<String, Json>,
}

impl From<LegacyExecute> for RunRequest {
    fn from(l: LegacyExecute) -> Self {
        RunRequest {
            prompt_name: None,
            version: None,
            environment: None,
            template: Some(l.prompt_text),
            messages: None,
            variables: l.variables,
            model: l.model.map(ModelArg::Name),
            params: l.params,
            mode: Mode::Sync,
            correlation_id: None,
            idempotency_key: None,
            trace_id: None,
            parent_span_id: None,
            timeout_ms: None,
            max_attempts: None,
        }
    }
}

/// Trace context from a W3C `traceparent` header, else the body, else new.
struct TraceContext {
    trace_id: String,
    parent_span_id: Option<String>,
}

/// The trace id and parent span id of a W3C `traceparent` header.
///
/// # Errors
/// 422 naming `traceparent` when the header is not of the W3C form.
pub fn parse_traceparent(header: &str) -> ApiResult<(String, String)> {
    let parts: Vec<&str> = header.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if parts.len() == 4 && hex(parts[1], 32) && hex(parts[2], 16) {
        return Ok((parts[1].to_ascii_lowercase(), parts[2].to_ascii_lowercase()));
    }
    Err(ApiError::invalid("traceparent", "must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>"))
}

fn trace_context<H: Host>(host: &H, traceparent: Option<&str>, req: &RunRequest) -> ApiResult<TraceContext> {
    if let Some(header) = traceparent {
        let (trace_id, parent_span_id) = parse_traceparent(header)?;
        return Ok(TraceContext { trace_id, parent_span_id: Some(parent_span_id) });
    }
    if let Some(trace_id) = &req.trace_id {
        check_len("trace_id", trace_id, 128)?;
        if let Some(parent) = &req.parent_span_id {
            check_len("parent_span_id", parent, 128)?;
        }
        return Ok(TraceContext { trace_id: trace_id.clone(), parent_span_id: req.parent_span_id.clone() });
    }
    Ok(TraceContext { trace_id: host.ids().new_id().simple().to_string(), parent_span_id: None })
}

fn check_len(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.is_empty() || value.len() > max {
        return Err(ApiError::invalid(field, format!("must be 1 to {max} characters")));
    }
    Ok(())
}

fn model_choice(req: &RunRequest, version: &ResolvedVersion) -> ApiResult<(Provider, String)> {
    let (provider, model_name) = match &req.model {
        Some(ModelArg::Name(name)) => (None, name.clone()),
        Some(ModelArg::Full { provider, model_name }) => (provider.clone(), model_name.clone()),
        None => {
            let name = version.config["model"].as_str().map(str::to_owned);
            let name = name
                .ok_or_else(|| ApiError::invalid("model", "is required: the prompt version stores no default model"))?;
            (version.config["provider"].as_str().map(str::to_owned), name)
        }
    };
    check_len("model.model_name", &model_name, 200)?;
    let provider = match provider {
        Some(p) => Provider::parse(&p).ok_or_else(|| {
            ApiError::invalid("model.provider", format!("unknown provider `{p}` (openai, anthropic, mock)"))
        })?,
        None => Provider::infer(&model_name).ok_or_else(|| {
            ApiError::invalid("model.provider", format!("cannot tell the provider of `{model_name}`; name it"))
        })?,
    };
    Ok((provider, model_name))
}

/// Stored params: the version's defaults overlaid by the request's.
fn merged_params(req: &RunRequest, version: &ResolvedVersion) -> Map<String, Json> {
    let mut params = version.config["params"].as_object().cloned().unwrap_or_default();
    params.extend(req.params.clone());
    params
}

pub fn messages_of(rendered: &Rendered) -> Vec<registry::ChatMessage> {
    match rendered {
        Rendered::Text(text) => vec![registry::ChatMessage { role: "user".into(), content: text.clone() }],
        Rendered::Chat(messages) => messages.clone(),
    }
}

/// Derived name for an inline template registered without one.
fn inline_name(body: &PromptBody) -> String {
    let content = match body {
        PromptBody::Text(t) => json!(t),
        PromptBody::Chat(m) => json!(m),
    };
    format!("inline-{}", &super::canonical_hash(&content)[..12])
}

pub async fn run<H: Host>(
    host: &H,
    who: &Principal,
    req: RunRequest,
    raw_body: &Json,
    header_key: Option<&str>,
    traceparent: Option<&str>,
) -> ApiResult<(StatusCode, Json)> {
    let started = Instant::now();
    let now = host.clock().now_ms();

    let idempotency_key = match (header_key, &req.idempotency_key) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::invalid("idempotency_key", "differs from the Idempotency-Key header"));
        }
        (Some(h), _) => Some(h.to_owned()),
        (None, b) => b.clone(),
    };
    if let Some(key) = &idempotency_key {
        check_len("idempotency_key", key, 255)?;
    }
    if let Some(c) = &req.correlation_id {
        check_len("correlation_id", c, 255)?;
    }
    let timeout_ms = req.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::invalid("timeout_ms", format!("must be between 1 and {MAX_TIMEOUT_MS}")));
    }
    let max_attempts = req.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=10).contains(&max_attempts) {
        return Err(ApiError::invalid("max_attempts", "must be between 1 and 10"));
    }
    providers::validate_params(&req.params)?;
    let trace = trace_context(host, traceparent, &req)?;

    // A retry with a known key answers from the ledger before doing any work.
    let request_hash = {
        let mut hashed = raw_body.clone();
        if let Some(obj) = hashed.as_object_mut() {
            obj.remove("idempotency_key");
        }
        super::canonical_hash(&hashed)
    };
    if let Some(key) = &idempotency_key
        && let Some(existing) = store::get_by_idempotency_key(host.db(), key).await?
    {
        return replay(&existing, &request_hash);
    }
    crate::limits::admit_spend(host, who).await?;

    let version = resolve(host, &req).await?;
    let (provider, model_name) = model_choice(&req, &version)?;
    provider.check_configured(host.config())?;
    let params = merged_params(&req, &version);
    providers::validate_params(&params)?;
    // Missing variables are a 422 here, before anything is written or sent.
    let rendered = registry::render(&version, &req.variables)?;
    let messages = messages_of(&rendered);
    let (prompt_kind, rendered_text) = match &rendered {
        Rendered::Text(t) => ("text", t.clone()),
        Rendered::Chat(m) => ("chat", serde_json::to_string(m).unwrap_or_default()),
    };

    let model = super::model_cache::model(host, provider.as_str(), &model_name).await?;
    let id = host.ids().new_id().to_string();
    let owner = format!("sync:{id}");
    let span_id = host.ids().new_id().simple().to_string()[16..].to_owned();
    let new = NewExecution {
        id: id.clone(),
        prompt_id: Some(version.prompt_id.clone()),
        prompt_version_id: Some(version.version_id.clone()),
        prompt_name: Some(version.prompt_name.clone()),
        version: Some(version.version),
        model_id: model.id.clone(),
        provider: provider.as_str().to_owned(),
        model_name: model_name.clone(),
        mode: if req.mode == Mode::Async { "async" } else { "sync" },
        status: if req.mode == Mode::Async { "queued" } else { "running" },
        prompt_kind,
        rendered_prompt: rendered_text,
        correlation_id: req.correlation_id.clone(),
        idempotency_key: idempotency_key.clone(),
        request_hash: request_hash.clone(),
        attempts: if req.mode == Mode::Async { 0 } else { 1 },
        max_attempts,
        lease_owner: (req.mode == Mode::Sync).then(|| owner.clone()),
        lease_expires_at: (req.mode == Mode::Sync).then_some(now + timeout_ms + LEASE_MARGIN_MS),
        next_attempt_at: (req.mode == Mode::Async).then_some(now),
        timeout_ms,
        trace_id: trace.trace_id.clone(),
        span_id: span_id.clone(),
        parent_span_id: trace.parent_span_id.clone(),
        created_at: now,
        api_key_id: who.key_id.clone(),
        variables: Json::Object(req.variables.clone()),
        model_config: json!({ "provider": provider.as_str(), "model_name": model_name, "prompt_config": version.config }),
        params: Json::Object(params.clone()),
        template: match &version.body {
            PromptBody::Text(t) => Some(t.clone()),
            PromptBody::Chat(m) => serde_json::to_string(m).ok(),
        },
    };
    let call = Call {
        provider,
        model_name: &model_name,
        messages: &messages,
        params: &params,
        timeout: Duration::from_millis(timeout_ms as u64),
    };
    let timed_call = async {
        let provider_started = Instant::now();
        let outcome = providers::call(host.http(), host.config(), &call).await;
        (outcome, provider_started.elapsed().as_millis() as i64)
    };
    let (outcome, provider_ms, running_recorded) = if req.mode == Mode::Sync && idempotency_key.is_none() {
        // Without a key nothing else can start this run. A provider that
        // answers within RUNNING_RECORD_AFTER gets the run recorded once,
        // finished; a slower one gets its `running` record written while it
        // works. Either way the record is committed before the response.
        let mut call = pin!(timed_call.fuse());
        let mut delay = pin!(host.sleep(RUNNING_RECORD_AFTER).fuse());
        futures::select! {
            called = call => (called.0, called.1, false),
            () = delay => {
                let (inserted, called) = futures::join!(store::insert(host.db(), &new), &mut call);
                inserted?;
                (called.0, called.1, true)
            }
        }
    } else {
        if !store::insert(host.db(), &new).await? {
            // Another request took this key between our check and our insert.
            let key = idempotency_key.as_deref().unwrap_or_default();
            let existing = store::get_by_idempotency_key(host.db(), key)
                .await?
                .ok_or_else(|| ApiError::conflict("idempotency key is in use; retry"))?;
            return replay(&existing, &request_hash);
        }
        if req.mode == Mode::Async {
            if let Some(queue) = host.queue() {
                // The row is committed: if this publish is lost, the beat claims the run.
                if let Err(e) = queue.publish(QUEUE_CHANNEL, id.as_bytes()).await {
                    eprintln!("execution {id}: queue publish failed, the beat will pick it up: {e}");
                }
            }
            // Built from what was just committed; no read back.
            return Ok((StatusCode::ACCEPTED, view::execution(&inserted_record(&new))));
        }
        let (outcome, provider_ms) = timed_call.await;
        (outcome, provider_ms, true)
    };
    let finish = finish_of(&outcome, &model, None);
    let timing =
        Timing { provider_latency_ms: Some(provider_ms), total_latency_ms: started.elapsed().as_millis() as i64 };
    let span = ExecutionSpan {
        trace_id: trace.trace_id,
        span_id,
        parent_span_id: trace.parent_span_id,
        started_at_us: now * 1000,
        ended_at_us: host.clock().now_ms() * 1000,
        model: format!("{}/{}", provider.as_str(), model_name),
        attributes: json!({ "prompt_name": version.prompt_name, "version": version.version, "mode": "sync" }),
    };
    let now_ms = host.clock().now_ms();
    let recorded = if running_recorded {
        store::finish(host.db(), &id, &owner, now_ms, &finish, &timing, &span).await?
    } else {
        store::insert_finished(host.db(), &new, &finish, &timing, &span, now_ms).await?
    };
    if !recorded {
        return Err(ApiError::internal("the execution record changed while it ran"));
    }
    // The response is built from what was just committed; no read back.
    let record = recorded_view(&new, &finish, &timing, host.clock().now_ms());
    let body = view::execution(&record);
    match outcome {
        Ok(_) => Ok((StatusCode::OK, body)),
        Err(failure) => Err(provider_error(&failure, body)),
    }
}

/// What to record for an attempt's outcome. `retry` is `(attempts left,
/// next attempt time)` for queued runs, which may be retried; `None` for sync.
pub fn finish_of(
    outcome: &Result<Completion, Failure>,
    model: &models::ModelRecord,
    retry: Option<(i64, i64)>,
) -> Finish {
    match outcome {
        Ok(c) => Finish::Succeeded {
            response_text: c.text.clone(),
            prompt_tokens: c.prompt_tokens,
            response_tokens: c.response_tokens,
            cost_nanos: cost::cost_nanos(model, c.prompt_tokens, c.response_tokens),
        },
        Err(f) => match retry {
            Some((attempts_left, next_attempt_at)) if f.kind.retryable() && attempts_left > 0 => Finish::Retry {
                error_type: f.kind.as_str().into(),
                error_message: f.message.clone(),
                provider_status: f.provider_status.map(i64::from),
                next_attempt_at,
            },
            _ => Finish::Failed {
                error_type: f.kind.as_str().into(),
                error_message: f.message.clone(),
                provider_status: f.provider_status.map(i64::from),
            },
        },
    }
}

/// The record [`store::insert`] wrote for `new`.
fn inserted_record(new: &NewExecution) -> store::ExecutionRecord {
    store::ExecutionRecord {
        id: new.id.clone(),
        prompt_id: new.prompt_id.clone(),
        prompt_version_id: new.prompt_version_id.clone(),
        prompt_name: new.prompt_name.clone(),
        version: new.version,
        provider: new.provider.clone(),
        model_name: new.model_name.clone(),
        mode: new.mode.to_owned(),
        status: new.status.to_owned(),
        prompt_kind: new.prompt_kind.to_owned(),
        rendered_prompt: Some(new.rendered_prompt.clone()),
        response_text: None,
        prompt_tokens: None,
        response_tokens: None,
        provider_latency_ms: None,
        total_latency_ms: None,
        cost_nanos: None,
        correlation_id: new.correlation_id.clone(),
        idempotency_key: new.idempotency_key.clone(),
        request_hash: Some(new.request_hash.clone()),
        attempts: new.attempts,
        max_attempts: new.max_attempts,
        lease_owner: new.lease_owner.clone(),
        next_attempt_at: new.next_attempt_at,
        timeout_ms: Some(new.timeout_ms),
        error_type: None,
        error_message: None,
        provider_status: None,
        trace_id: Some(new.trace_id.clone()),
        span_id: Some(new.span_id.clone()),
        created_at: new.created_at,
        started_at: (new.status == "running").then_some(new.created_at),
        completed_at: None,
    }
}

/// The record `finish` wrote for the sync execution `new`.
fn recorded_view(new: &NewExecution, finish: &Finish, timing: &Timing, now_ms: i64) -> store::ExecutionRecord {
    let mut record = store::ExecutionRecord {
        provider_latency_ms: timing.provider_latency_ms,
        total_latency_ms: Some(timing.total_latency_ms),
        lease_owner: None,
        next_attempt_at: None,
        completed_at: Some(now_ms),
        ..inserted_record(new)
    };
    match finish {
        Finish::Succeeded { response_text, prompt_tokens, response_tokens, cost_nanos } => {
            record.status = "succeeded".into();
            record.response_text = Some(response_text.clone());
            record.prompt_tokens = Some(*prompt_tokens);
            record.response_tokens = Some(*response_tokens);
            record.cost_nanos = Some(*cost_nanos);
        }
        Finish::Failed { error_type, error_message, provider_status }
        | Finish::Retry { error_type, error_message, provider_status, .. } => {
            record.status = "failed".into();
            record.error_type = Some(error_type.clone());
            record.error_message = Some(error_message.clone());
            record.provider_status = *provider_status;
        }
    }
    record
}

fn provider_error(failure: &Failure, execution: Json) -> ApiError {
    let (status, code) = match failure.kind {
        providers::FailureKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "provider_timeout"),
        _ => (StatusCode::BAD_GATEWAY, "provider_error"),
    };
    ApiError::new(status, code, failure.message.clone()).with_details(json!({ "execution": execution }))
}

fn replay(existing: &store::ExecutionRecord, request_hash: &str) -> ApiResult<(StatusCode, Json)> {
    if existing.request_hash.as_deref() != Some(request_hash) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            "this idempotency key was used with a different request",
        )
        .with_details(json!({ "execution_id": existing.id })));
    }
    let mut body = view::execution(existing);
    body["idempotent_replay"] = json!(true);
    Ok((StatusCode::OK, body))
}

async fn resolve<H: Host>(host: &H, req: &RunRequest) -> ApiResult<ResolvedVersion> {
    let inline = match (&req.template, &req.messages) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("template", "give either template or messages, not both")),
        (Some(t), None) => Some(PromptBody::Text(t.clone())),
        (None, Some(m)) => Some(PromptBody::Chat(m.clone())),
        (None, None) => None,
    };
    match (inline, &req.prompt_name) {
        (Some(body), name) => {
            if req.version.is_some() || req.environment.is_some() {
                return Err(ApiError::invalid("version", "cannot select a version of an inline template"));
            }
            let name = name.clone().unwrap_or_else(|| inline_name(&body));
            registry::register_inline(host, &name, body, json!({})).await
        }
        (None, Some(name)) => {
            let selector = match (req.version, &req.environment) {
                (Some(n), _) => VersionSelector::Number(n),
                (None, Some(label)) => VersionSelector::Label(label.clone()),
                (None, None) => VersionSelector::Active,
            };
            registry::resolve(host, name, &selector).await
        }
        (None, None) => Err(ApiError::invalid("prompt_name", "give prompt_name, or an inline template or messages")),
    }
}
