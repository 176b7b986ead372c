//! Running queued executions: one claimed run ([`process`], what the Redis
//! worker does per message) and the beat's share ([`drain`]: recover lost
//! runs, then claim and run what is due).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::providers::{self, Call};
use super::run::{finish_of, messages_of};
use super::{LEASE_MARGIN_MS, backoff_ms};
use crate::ports::{DbError, Host};
use crate::registry::Rendered;
use crate::store::executions::{self as store, ExecutionSpan, LeaseRecovery, Timing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Processed {
    /// Someone else holds it, it was canceled, or it is not due yet.
    NotClaimed,
    Succeeded,
    Failed,
    Retrying,
    /// Our lease was taken over while the provider answered; nothing written.
    LeaseLost,
}

/// Claims execution `id` if it is queued and due, runs it, records the result.
///
/// # Errors
/// Database errors; the run then stays `running` until its lease expires
/// and the beat requeues it.
pub async fn process<H: Host>(host: &H, id: &str) -> Result<Processed, DbError> {
    let db = host.db();
    let owner = format!("worker:{}", host.ids().new_id());
    let Some(claimed) = store::claim(db, id, &owner, host.clock().now_ms(), LEASE_MARGIN_MS).await? else {
        return Ok(Processed::NotClaimed);
    };
    let started = Instant::now();
    let execution = claimed.execution;
    let params = claimed.params.as_object().cloned().unwrap_or_default();
    let rendered = execution.rendered_prompt.clone().unwrap_or_default();
    let rendered = if execution.prompt_kind == "chat" {
        Rendered::Chat(
            serde_json::from_str(&rendered).map_err(|e| DbError::Decode(format!("stored chat prompt: {e}")))?,
        )
    } else {
        Rendered::Text(rendered)
    };
    let messages = messages_of(&rendered);
    let provider = providers::Provider::parse(&execution.provider)
        .ok_or_else(|| DbError::Decode(format!("stored provider `{}`", execution.provider)))?;
    let model = super::model_cache::model(host, &execution.provider, &execution.model_name).await?;

    let outcome = match provider.check_configured(host.config()) {
        Err(e) => Err(providers::Failure {
            kind: providers::FailureKind::ClientError,
            message: e.message,
            provider_status: None,
            retry_after_s: None,
        }),
        Ok(()) => {
            let call = Call {
                provider,
                model_name: &execution.model_name,
                messages: &messages,
                params: &params,
                timeout: Duration::from_millis(execution.timeout_ms.unwrap_or(super::DEFAULT_TIMEOUT_MS) as u64),
            };
            providers::call(host.http(), host.config(), &call).await
        }
    };
    let provider_ms = started.elapsed().as_millis() as i64;
    let now = host.clock().now_ms();
    let random = host.ids().new_id().as_bytes()[15] as u16 * 257;
    let retry_after = outcome.as_ref().err().and_then(|f| f.retry_after_s);
    let next_attempt_at = now + backoff_ms(execution.attempts, retry_after, random);
    let finish = finish_of(&outcome, &model, Some((execution.max_attempts - execution.attempts, next_attempt_at)));
    let timing = Timing { provider_latency_ms: Some(provider_ms), total_latency_ms: now - execution.created_at };
    let span = ExecutionSpan {
        trace_id: execution.trace_id.clone().unwrap_or_else(|| host.ids().new_id().simple().to_string()),
        span_id: execution.span_id.clone().unwrap_or_else(|| host.ids().new_id().simple().to_string()[16..].to_owned()),
        parent_span_id: None,
        started_at_us: execution.started_at.unwrap_or(execution.created_at) * 1000,
        ended_at_us: now * 1000,
        model: format!("{}/{}", execution.provider, execution.model_name),
        attributes: json!({
            "prompt_name": execution.prompt_name, "version": execution.version, "mode": "async", "attempts": execution.attempts,
        }),
    };
    if !store::finish(db, id, &owner, now, &finish, &timing, &span).await? {
        return Ok(Processed::LeaseLost);
    }
    Ok(match finish {
        store::Finish::Succeeded { .. } => Processed::Succeeded,
        store::Finish::Failed { .. } => Processed::Failed,
        store::Finish::Retry { .. } => Processed::Retrying,
    })
}

/// What the Redis worker does with one message: the payload is an
/// execution id; duplicates and stale messages are harmless no-ops.
///
/// # Errors
/// Database errors (the beat recovers the run later).
pub async fn handle_message<H: Host>(host: &H, payload: &[u8]) -> Result<Processed, DbError> {
    match std::str::from_utf8(payload).map(str::trim) {
        Ok(id) if !id.is_empty() && id.len() <= 64 => process(host, id).await,
        _ => {
            eprintln!("worker: ignoring a message that is not an execution id ({} bytes)", payload.len());
            Ok(Processed::NotClaimed)
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct DrainReport {
    pub leases: LeaseRecovery,
    pub claimed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub retrying: u64,
}

/// Runs at once per pass; each gets its own database connection.
const CONCURRENCY: usize = 8;

/// The beat's execution work: requeue or fail runs whose lease expired, then
/// run due queued executions until `budget` is spent. Safe to run beside
/// workers and other beats: every run is claimed atomically.
pub async fn drain<H: Host>(host: &H, budget: Duration) -> Result<DrainReport, DbError> {
    let started = Instant::now();
    let mut report = DrainReport {
        leases: store::recover_expired_leases(host.db(), host.clock().now_ms()).await?,
        ..Default::default()
    };
    let forks: Vec<H> = (0..CONCURRENCY).map(|_| host.fork()).collect();
    while started.elapsed() < budget {
        let due = store::due(host.db(), host.clock().now_ms(), CONCURRENCY as i64).await?;
        if due.is_empty() {
            break;
        }
        let results = futures::future::join_all(due.iter().zip(&forks).map(|(id, fork)| process(fork, id))).await;
        for result in results {
            match result? {
                Processed::NotClaimed | Processed::LeaseLost => {}
                Processed::Succeeded => {
                    report.claimed += 1;
                    report.succeeded += 1;
                }
                Processed::Failed => {
                    report.claimed += 1;
                    report.failed += 1;
                }
                Processed::Retrying => {
                    report.claimed += 1;
                    report.retrying += 1;
                }
            }
        }
    }
    Ok(report)
}
