//! The gateway's part of the ledger record: each attempt as it is kept on
//! the execution's span, the model switch when a fallback served, and the
//! replay of an idempotent retry from what was recorded.

use serde_json::{Value as Json, json};

use super::errors::GatewayError;
use super::request::Target;
use crate::executions::providers::Failure;
use crate::ports::{Db, DbError};
use crate::store::executions::{self as store, ExecutionRecord};

/// One provider call of a gateway request.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub target: Target,
    pub latency_ms: i64,
    /// `None` when the provider answered.
    pub failure: Option<Failure>,
}

impl Attempt {
    pub fn json(&self) -> Json {
        let (status, error, provider_status) = match &self.failure {
            None => ("ok", Json::Null, Json::Null),
            Some(f) => (f.kind.as_str(), json!(f.message), json!(f.provider_status)),
        };
        json!({
            "provider": self.target.provider.as_str(),
            "model": self.target.model,
            "status": status,
            "provider_status": provider_status,
            "latency_ms": self.latency_ms,
            "error": error,
        })
    }
}

/// A running record's model becomes the one its last attempt used, with the
/// count of attempts, before the run is finished (only when a fallback was
/// tried). `$1` id, `$2` lease owner.
const SWITCH_MODEL: &str = "UPDATE executions SET provider = $3, model_name = $4, model_id = $5, attempts = $6, \
    updated_at = $7 WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// # Errors
/// As [`Db::execute`]; `false` when the lease is no longer this caller's.
pub async fn switch_model<D: Db>(
    db: &D,
    id: &str,
    owner: &str,
    target: &Target,
    model_id: &str,
    attempts: i64,
    now_ms: i64,
) -> Result<bool, DbError> {
    let params = [
        id.into(),
        owner.into(),
        target.provider.as_str().into(),
        (&target.model).into(),
        model_id.into(),
        attempts.into(),
        now_ms.into(),
    ];
    Ok(db.execute(SWITCH_MODEL, &params).await? == 1)
}

/// What a streamed run had when its caller went away.
#[derive(Debug, Clone)]
pub struct Canceled {
    pub response_text: String,
    pub prompt_tokens: i64,
    pub response_tokens: i64,
    pub cost_nanos: i64,
    pub provider_latency_ms: Option<i64>,
    pub total_latency_ms: i64,
}

/// A running streamed run whose caller disconnected: `canceled`, with the
/// output the caller had received.
const CANCEL_RUNNING: &str = "UPDATE executions SET status = 'canceled', response_text = $3, prompt_tokens = $4, \
    response_tokens = $5, cost_nanos = $6, error_type = 'client_disconnected', \
    error_message = 'the caller disconnected before the stream ended', provider_latency_ms = $7, \
    total_latency_ms = $8, completed_at = $9, lease_owner = NULL, lease_expires_at = NULL, updated_at = $9 \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// # Errors
/// As [`Db::execute`]; `false` when the run was no longer this caller's.
pub async fn cancel<D: Db>(db: &D, id: &str, owner: &str, c: &Canceled, now_ms: i64) -> Result<bool, DbError> {
    let params = [
        id.into(),
        owner.into(),
        c.response_text.as_str().into(),
        c.prompt_tokens.into(),
        c.response_tokens.into(),
        c.cost_nanos.into(),
        c.provider_latency_ms.into(),
        c.total_latency_ms.into(),
        now_ms.into(),
    ];
    Ok(db.execute(CANCEL_RUNNING, &params).await? == 1)
}

/// What an idempotent retry gets: the recorded answer (status and body, as
/// the first request got them), or why there is none yet.
pub async fn replay<D: Db>(
    db: &D,
    existing: &ExecutionRecord,
    request_hash: &str,
) -> Result<(u16, Json), GatewayError> {
    if existing.request_hash.as_deref() != Some(request_hash) {
        return Err(GatewayError {
            status: http::StatusCode::CONFLICT,
            code: "idempotency_conflict".into(),
            message: "this Idempotency-Key was used with a different request".into(),
            param: None,
            headers: Vec::new(),
        });
    }
    if matches!(existing.status.as_str(), "queued" | "running") {
        return Err(GatewayError {
            status: http::StatusCode::CONFLICT,
            code: "idempotency_in_progress".into(),
            message: "a request with this Idempotency-Key is still running; retry shortly".into(),
            param: None,
            headers: vec![(http::header::RETRY_AFTER, "1".into())],
        });
    }
    let span = match (&existing.trace_id, &existing.span_id) {
        (Some(trace_id), Some(span_id)) => store::get_span(db, trace_id, span_id).await?,
        _ => None,
    };
    let answer = span.as_ref().map(|s| &s["attributes"]["gateway"]["answer"]);
    match answer.and_then(|a| Some((a["status"].as_u64()? as u16, a["body"].clone()))) {
        Some(found) => Ok(found),
        None => Err(GatewayError {
            status: http::StatusCode::CONFLICT,
            code: "idempotency_conflict".into(),
            message: format!(
                "this Idempotency-Key belongs to execution {}, which was not made through the gateway",
                existing.id
            ),
            param: None,
            headers: Vec::new(),
        }),
    }
}
