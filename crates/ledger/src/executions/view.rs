//! The JSON shape of an execution in responses.

use serde_json::{Value as Json, json};

use super::cost::nanos_to_usd;
use crate::lineage::time::format_ms;
use crate::store::executions::{ExecutionRecord, Inputs};

pub fn execution(e: &ExecutionRecord) -> Json {
    let rendered = match (e.prompt_kind.as_str(), &e.rendered_prompt) {
        ("chat", Some(text)) => serde_json::from_str(text).unwrap_or(Json::Null),
        (_, Some(text)) => json!(text),
        (_, None) => Json::Null,
    };
    let prompt = match (&e.prompt_name, e.version) {
        (Some(name), Some(version)) => json!({
            "id": e.prompt_id, "name": name, "version": version, "version_id": e.prompt_version_id,
        }),
        _ => Json::Null,
    };
    let error = e
        .error_type
        .as_ref()
        .map_or(Json::Null, |t| json!({ "type": t, "message": e.error_message, "provider_status": e.provider_status }));
    let total_tokens = match (e.prompt_tokens, e.response_tokens) {
        (Some(p), Some(r)) => Some(p + r),
        _ => None,
    };
    json!({
        "execution_id": e.id,
        "status": e.status,
        "mode": e.mode,
        "prompt": prompt,
        "model": { "provider": e.provider, "model_name": e.model_name },
        "rendered_prompt": rendered,
        "response_text": e.response_text,
        "usage": { "prompt_tokens": e.prompt_tokens, "response_tokens": e.response_tokens, "total_tokens": total_tokens },
        "latency_ms": { "provider": e.provider_latency_ms, "total": e.total_latency_ms },
        "cost": { "usd": e.cost_nanos.map(nanos_to_usd), "nanos": e.cost_nanos },
        "correlation_id": e.correlation_id,
        "idempotency_key": e.idempotency_key,
        "attempts": e.attempts,
        "max_attempts": e.max_attempts,
        "next_attempt_at": e.next_attempt_at.map(format_ms),
        "error": error,
        "trace_id": e.trace_id,
        "span_id": e.span_id,
        "created_at": format_ms(e.created_at),
        "started_at": e.started_at.map(format_ms),
        "completed_at": e.completed_at.map(format_ms),
    })
}

pub fn with_inputs(e: &ExecutionRecord, inputs: Option<&Inputs>) -> Json {
    let mut body = execution(e);
    body["inputs"] = inputs.map_or(Json::Null, |i| {
        json!({ "variables": i.variables, "model_config": i.model_config, "params": i.params, "template": i.template })
    });
    body
}
