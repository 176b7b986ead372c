//! Running queued executions: one claimed run ([`process`], what the Redis
//! worker does per message) and the beat's share ([`drain`]: recover lost
//! runs, then claim and run what is due).

use std::time::{Duration, Instant};

use futures::future::{FutureExt, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
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
    let owner = format!("worker:{}", host.ids().new_id());
    match store::claim(host.db(), id, &owner, host.clock().now_ms(), LEASE_MARGIN_MS).await? {
        Some(claimed) => run_claimed(host, &owner, claimed).await,
        None => Ok(Processed::NotClaimed),
    }
}

/// Runs an execution `owner` claimed and records the result, unless the
/// lease was taken over meanwhile.
async fn run_claimed<H: Host>(host: &H, owner: &str, claimed: store::Claimed) -> Result<Processed, DbError> {
    let db = host.db();
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
    let model = match claimed.model {
        Some(model) => model,
        None => super::model_cache::model(host, &execution.provider, &execution.model_name).await?,
    };

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
    if !store::finish(db, &execution.id, owner, now, &finish, &timing, &span).await? {
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

/// Runs in flight at once during a pass; each has its own database connection.
const CONCURRENCY: usize = 32;

/// The beat's execution work: requeue or fail runs whose lease expired, then
/// run due queued executions until `budget` is spent, keeping up to
/// [`CONCURRENCY`] in flight: whenever half have finished, one statement
/// claims as many more. Safe beside workers and other beats: every run is
/// claimed atomically.
pub async fn drain<H: Host>(host: &H, budget: Duration) -> Result<DrainReport, DbError> {
    /// A claim and the runs are polled together: a run that holds a write
    /// lock must go on while a claim waits for that lock.
    enum Step {
        Claimed(usize, Result<Vec<store::Claimed>, DbError>),
        Ran(Result<Processed, DbError>),
    }
    let started = Instant::now();
    let mut report = DrainReport {
        leases: store::recover_expired_leases(host.db(), host.clock().now_ms()).await?,
        ..Default::default()
    };
    let owner = format!("beat:{}", host.ids().new_id());
    let mut steps: FuturesUnordered<LocalBoxFuture<'_, Step>> = FuturesUnordered::new();
    let (mut running, mut claiming, mut exhausted) = (0, false, false);
    loop {
        if !claiming && !exhausted && running <= CONCURRENCY / 2 && started.elapsed() < budget {
            let wanted = CONCURRENCY - running;
            let now = host.clock().now_ms();
            let claim = store::claim_due(host.db(), &owner, now, LEASE_MARGIN_MS, wanted as i64);
            steps.push(claim.map(move |claimed| Step::Claimed(wanted, claimed)).boxed_local());
            claiming = true;
        }
        let Some(step) = steps.next().await else { break };
        match step {
            Step::Claimed(wanted, claimed) => {
                let claimed = claimed?;
                (claiming, exhausted) = (false, claimed.len() < wanted);
                running += claimed.len();
                for run in claimed {
                    let (fork, owner) = (host.fork(), owner.as_str());
                    steps.push(async move { Step::Ran(run_claimed(&fork, owner, run).await) }.boxed_local());
                }
            }
            Step::Ran(result) => {
                running -= 1;
                let counter = match result? {
                    Processed::NotClaimed | Processed::LeaseLost => continue,
                    Processed::Succeeded => &mut report.succeeded,
                    Processed::Failed => &mut report.failed,
                    Processed::Retrying => &mut report.retrying,
                };
                *counter += 1;
                report.claimed += 1;
            }
        }
    }
    Ok(report)
}
