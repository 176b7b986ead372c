//! `executions` and `execution_inputs`: the ledger record and the queue.
//! Status changes are conditional UPDATEs, so two workers, a retry or a
//! duplicate delivery can never both own a run.

use serde_json::Value as Json;

use super::api_keys;
use super::models::ModelRecord;
use super::spans;
use super::traces::{self, TraceDelta};
use crate::lineage::span::SpanRecord;
use crate::lineage::time::format_us;
use crate::ports::{Db, DbError, Dialect, Row, Value};

#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: String,
    pub prompt_id: Option<String>,
    pub prompt_version_id: Option<String>,
    pub prompt_name: Option<String>,
    pub version: Option<i64>,
    pub model_id: String,
    pub provider: String,
    pub model_name: String,
    pub mode: &'static str,
    pub status: &'static str,
    pub prompt_kind: &'static str,
    pub rendered_prompt: String,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub timeout_ms: i64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub created_at: i64,
    /// The key that started the run (`None` for the bootstrap key).
    pub api_key_id: Option<String>,
    pub variables: Json,
    pub model_config: Json,
    pub params: Json,
    pub template: Option<String>,
}

/// Every column an execution is inserted with: those of [`NewExecution`],
/// then those of its [`Outcome`] when it is recorded finished.
const INSERT_EXECUTION: &str = "INSERT INTO executions (id, prompt_id, prompt_version_id, prompt_name, version, \
    model_id, provider, model_name, mode, status, prompt_kind, rendered_prompt, correlation_id, idempotency_key, \
    request_hash, attempts, max_attempts, lease_owner, lease_expires_at, next_attempt_at, timeout_ms, trace_id, span_id, \
    created_at, started_at, updated_at, response_text, prompt_tokens, response_tokens, cost_nanos, error_type, \
    error_message, provider_status, provider_latency_ms, total_latency_ms, completed_at, api_key_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
    $24, $25, $24, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36) \
    ON CONFLICT (idempotency_key) DO NOTHING";

/// Values for [`INSERT_EXECUTION`] ($1 to $36) and for the inputs row.
fn insert_values(e: &NewExecution, outcome: Option<&Outcome>) -> (Vec<Value>, Vec<Value>) {
    let mut execution: Vec<Value> = vec![
        (&e.id).into(),
        e.prompt_id.clone().into(),
        e.prompt_version_id.clone().into(),
        e.prompt_name.clone().into(),
        e.version.into(),
        (&e.model_id).into(),
        (&e.provider).into(),
        (&e.model_name).into(),
        e.mode.into(),
        outcome.map_or(e.status, |o| o.status).into(),
        e.prompt_kind.into(),
        (&e.rendered_prompt).into(),
        e.correlation_id.clone().into(),
        e.idempotency_key.clone().into(),
        (&e.request_hash).into(),
        e.attempts.into(),
        e.max_attempts.into(),
        outcome.map_or_else(|| e.lease_owner.clone(), |_| None).into(),
        outcome.map_or(e.lease_expires_at, |_| None).into(),
        e.next_attempt_at.into(),
        e.timeout_ms.into(),
        (&e.trace_id).into(),
        (&e.span_id).into(),
        e.created_at.into(),
        (e.status != "queued").then_some(e.created_at).into(),
    ];
    match outcome {
        Some(o) => execution.extend([
            o.response_text.clone(),
            o.prompt_tokens.clone(),
            o.response_tokens.clone(),
            o.cost_nanos.clone(),
            o.error_type.clone(),
            o.error_message.clone(),
            o.provider_status.clone(),
            o.provider_latency_ms.into(),
            o.total_latency_ms.into(),
            o.completed_at.into(),
        ]),
        None => execution.extend(std::iter::repeat_n(Value::Null, 10)),
    }
    execution.push(e.api_key_id.clone().into());
    let inputs = vec![(&e.variables).into(), (&e.model_config).into(), (&e.params).into(), e.template.clone().into()];
    (execution, inputs)
}

/// The inputs row of the execution a CTE `u` inserted, from `$37` to `$40`.
const INSERT_INPUTS_FROM_U: &str = "INSERT INTO execution_inputs (execution_id, variables, model_config, params, template) \
    SELECT id, $37::jsonb, $38::jsonb, $39::jsonb, $40::text FROM u";

const INSERT_INPUTS: &str = "INSERT INTO execution_inputs (execution_id, variables, model_config, params, template) \
    VALUES ($1, $2, $3, $4, $5)";

/// Inserts the execution with its inputs. Returns `false`, writing nothing,
/// when another execution already holds the idempotency key.
///
/// On PostgreSQL both rows go in one statement (one round trip on the hot
/// path); SQLite, local and without writable CTEs, uses a transaction.
pub async fn insert<D: Db>(db: &D, e: &NewExecution) -> Result<bool, DbError> {
    let (execution, inputs) = insert_values(e, None);
    match db.dialect() {
        Dialect::Postgres => {
            let sql = format!("WITH u AS ({INSERT_EXECUTION} RETURNING id) {INSERT_INPUTS_FROM_U}");
            let params: Vec<Value> = execution.into_iter().chain(inputs).collect();
            Ok(db.execute(&sql, &params).await? == 1)
        }
        Dialect::Sqlite => {
            crate::store::transaction(db, async || insert_rows_sqlite(db, &e.id, &execution, &inputs).await).await
        }
    }
}

/// SQLite, inside a transaction: the execution row, then its inputs.
/// `false`, writing nothing, when the idempotency key is taken.
async fn insert_rows_sqlite<D: Db>(db: &D, id: &str, execution: &[Value], inputs: &[Value]) -> Result<bool, DbError> {
    if db.execute(INSERT_EXECUTION, execution).await? == 0 {
        return Ok(false);
    }
    let params: Vec<Value> = std::iter::once(id.into()).chain(inputs.iter().cloned()).collect();
    db.execute(INSERT_INPUTS, &params).await?;
    Ok(true)
}

/// Inserts a run that is already over, with its inputs, its span and its
/// trace's summary: a sync run whose provider answered before its
/// `running` record was due. One statement on PostgreSQL. Returns `false`,
/// writing nothing, when another execution holds the idempotency key.
pub async fn insert_finished<D: Db>(
    db: &D,
    e: &NewExecution,
    finish: &Finish,
    timing: &Timing,
    span: &ExecutionSpan,
    now_ms: i64,
) -> Result<bool, DbError> {
    let outcome = Outcome::of(finish, timing, now_ms);
    let (execution, inputs) = insert_values(e, Some(&outcome));
    let (rows, deltas) = span.params(&e.id, &outcome)?;
    match db.dialect() {
        Dialect::Postgres => {
            // $29 is the cost and $44 the month it counts in.
            let sql = format!(
                "WITH u AS ({INSERT_EXECUTION} RETURNING id, api_key_id), i AS ({INSERT_INPUTS_FROM_U}), {}, {} \
                 SELECT CAST(COUNT(*) AS BIGINT) AS written FROM u",
                span_ctes(41, 42, 43),
                api_keys::add_spend_cte(44, 29),
            );
            let params: Vec<Value> =
                execution.into_iter().chain(inputs).chain([rows, deltas, now_ms.into(), month_of(now_ms)]).collect();
            wrote_one(&db.query(&sql, &params).await?)
        }
        Dialect::Sqlite => {
            crate::store::transaction(db, async || {
                if !insert_rows_sqlite(db, &e.id, &execution, &inputs).await? {
                    return Ok(false);
                }
                write_span_sqlite(db, rows.clone(), deltas.clone(), now_ms).await?;
                add_spend_sqlite(db, &e.id, now_ms, outcome.cost_nanos.clone()).await?;
                Ok(true)
            })
            .await
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecutionRecord {
    pub id: String,
    pub prompt_id: Option<String>,
    pub prompt_version_id: Option<String>,
    pub prompt_name: Option<String>,
    pub version: Option<i64>,
    pub provider: String,
    pub model_name: String,
    pub mode: String,
    pub status: String,
    pub prompt_kind: String,
    pub rendered_prompt: Option<String>,
    pub response_text: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub response_tokens: Option<i64>,
    pub provider_latency_ms: Option<i64>,
    pub total_latency_ms: Option<i64>,
    pub cost_nanos: Option<i64>,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub timeout_ms: Option<i64>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub provider_status: Option<i64>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

const COLUMNS: &str = "id, prompt_id, prompt_version_id, prompt_name, version, provider, model_name, mode, status, \
    prompt_kind, rendered_prompt, response_text, prompt_tokens, response_tokens, provider_latency_ms, total_latency_ms, \
    cost_nanos, correlation_id, idempotency_key, request_hash, attempts, max_attempts, lease_owner, next_attempt_at, \
    timeout_ms, error_type, error_message, provider_status, trace_id, span_id, created_at, started_at, completed_at";

impl ExecutionRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(ExecutionRecord {
            id: r.str("id")?,
            prompt_id: r.opt_str("prompt_id")?,
            prompt_version_id: r.opt_str("prompt_version_id")?,
            prompt_name: r.opt_str("prompt_name")?,
            version: r.opt_i64("version")?,
            provider: r.str("provider")?,
            model_name: r.str("model_name")?,
            mode: r.str("mode")?,
            status: r.str("status")?,
            prompt_kind: r.str("prompt_kind")?,
            rendered_prompt: r.opt_str("rendered_prompt")?,
            response_text: r.opt_str("response_text")?,
            prompt_tokens: r.opt_i64("prompt_tokens")?,
            response_tokens: r.opt_i64("response_tokens")?,
            provider_latency_ms: r.opt_i64("provider_latency_ms")?,
            total_latency_ms: r.opt_i64("total_latency_ms")?,
            cost_nanos: r.opt_i64("cost_nanos")?,
            correlation_id: r.opt_str("correlation_id")?,
            idempotency_key: r.opt_str("idempotency_key")?,
            request_hash: r.opt_str("request_hash")?,
            attempts: r.i64("attempts")?,
            max_attempts: r.i64("max_attempts")?,
            lease_owner: r.opt_str("lease_owner")?,
            next_attempt_at: r.opt_i64("next_attempt_at")?,
            timeout_ms: r.opt_i64("timeout_ms")?,
            error_type: r.opt_str("error_type")?,
            error_message: r.opt_str("error_message")?,
            provider_status: r.opt_i64("provider_status")?,
            trace_id: r.opt_str("trace_id")?,
            span_id: r.opt_str("span_id")?,
            created_at: r.i64("created_at")?,
            started_at: r.opt_i64("started_at")?,
            completed_at: r.opt_i64("completed_at")?,
        })
    }
}

pub async fn get<D: Db>(db: &D, id: &str) -> Result<Option<ExecutionRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM executions WHERE id = $1");
    db.query(&sql, &[id.into()]).await?.first().map(ExecutionRecord::from_row).transpose()
}

pub async fn get_by_idempotency_key<D: Db>(db: &D, key: &str) -> Result<Option<ExecutionRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM executions WHERE idempotency_key = $1");
    db.query(&sql, &[key.into()]).await?.first().map(ExecutionRecord::from_row).transpose()
}

#[derive(Debug, Clone)]
pub struct Inputs {
    pub variables: Json,
    pub model_config: Json,
    pub params: Json,
    pub template: Option<String>,
}

pub async fn get_inputs<D: Db>(db: &D, id: &str) -> Result<Option<Inputs>, DbError> {
    let rows = db
        .query(
            "SELECT variables, model_config, params, template FROM execution_inputs WHERE execution_id = $1",
            &[id.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(Inputs {
                variables: r.json("variables")?,
                model_config: r.json("model_config")?,
                params: r.json("params")?,
                template: r.opt_str("template")?,
            })
        })
        .transpose()
}

/// A run this caller took: the record as claimed, with its stored params.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub execution: ExecutionRecord,
    pub params: Json,
    /// The model row with its current prices (`None` if it was deleted).
    pub model: Option<ModelRecord>,
}

/// What a claim sets: `queued` → `running` with a lease (`$2` owner, `$3`
/// now, `$4` margin past the run's timeout) and one more attempt.
const CLAIM_SET: &str = "UPDATE executions SET status = 'running', attempts = attempts + 1, lease_owner = $2, \
    lease_expires_at = $3 + COALESCE(timeout_ms, 60000) + $4, started_at = COALESCE(started_at, $3), updated_at = $3";

/// A claim hands back the record with its params, from the same statement.
/// A claim hands back the record with its params and its model's prices,
/// from the same statement.
fn claim_returning() -> String {
    let model =
        |column: &str| format!("(SELECT m.{column} FROM models m WHERE m.id = executions.model_id) AS model_{column}");
    format!(
        "RETURNING {COLUMNS}, model_id, \
         (SELECT i.params FROM execution_inputs i WHERE i.execution_id = executions.id) AS params, {}, {}, {}",
        model("input_usd_per_mtok"),
        model("output_usd_per_mtok"),
        model("updated_at"),
    )
}

fn claimed_rows(rows: Vec<Row>) -> Result<Vec<Claimed>, DbError> {
    rows.iter()
        .map(|r| {
            let execution = ExecutionRecord::from_row(r)?;
            let model = match (r.opt_str("model_id")?, r.opt_f64("model_input_usd_per_mtok")?) {
                (Some(id), Some(input_usd_per_mtok)) => Some(ModelRecord {
                    id,
                    provider: execution.provider.clone(),
                    model_name: execution.model_name.clone(),
                    input_usd_per_mtok,
                    output_usd_per_mtok: r.f64("model_output_usd_per_mtok")?,
                    updated_at: r.i64("model_updated_at")?,
                }),
                _ => None,
            };
            Ok(Claimed { execution, params: r.json("params")?, model })
        })
        .collect()
}

/// Takes a queued, due execution. Exactly one caller wins and gets the
/// record back; everyone else gets `None`.
pub async fn claim<D: Db>(
    db: &D,
    id: &str,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let sql = format!(
        "{CLAIM_SET} WHERE id = $1 AND status = 'queued' AND COALESCE(next_attempt_at, 0) <= $3 {}",
        claim_returning()
    );
    let rows = db.query(&sql, &[id.into(), owner.into(), now_ms.into(), lease_ms.into()]).await?;
    Ok(claimed_rows(rows)?.pop())
}

/// Takes up to `limit` queued, due executions, oldest first, in one
/// statement. On PostgreSQL rows another claimer holds are skipped rather
/// than waited for; SQLite has one writer at a time.
pub async fn claim_due<D: Db>(
    db: &D,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    let skip_locked = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "{CLAIM_SET} WHERE id IN (SELECT id FROM executions WHERE status = 'queued' \
            AND COALESCE(next_attempt_at, 0) <= $3 ORDER BY next_attempt_at, created_at LIMIT $1{skip_locked}) \
         AND status = 'queued' {}",
        claim_returning()
    );
    claimed_rows(db.query(&sql, &[limit.into(), owner.into(), now_ms.into(), lease_ms.into()]).await?)
}

/// How a run ended (or paused).
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded {
        response_text: String,
        prompt_tokens: i64,
        response_tokens: i64,
        cost_nanos: i64,
    },
    Failed {
        error_type: String,
        error_message: String,
        provider_status: Option<i64>,
    },
    /// Back to the queue until `next_attempt_at`; the error is kept for the record.
    Retry {
        error_type: String,
        error_message: String,
        provider_status: Option<i64>,
        next_attempt_at: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub provider_latency_ms: Option<i64>,
    pub total_latency_ms: i64,
}

/// The execution's own span, written when the run ends.
#[derive(Debug, Clone)]
pub struct ExecutionSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub started_at_us: i64,
    pub ended_at_us: i64,
    /// `provider/model_name`.
    pub model: String,
    pub attributes: Json,
}

impl ExecutionSpan {
    /// The span row (as [`spans::rows_param`]) and trace delta (as
    /// [`traces::deltas_param`]) of the run `execution_id` that ended so.
    fn params(&self, execution_id: &str, outcome: &Outcome) -> Result<(Value, Value), DbError> {
        let status = if outcome.status == "succeeded" { "ok" } else { "error" };
        let tokens = |v: &Value| if let Value::Int(n) = v { Some(*n) } else { None };
        let record = SpanRecord {
            trace_id: self.trace_id.clone(),
            span_id: self.span_id.clone(),
            parent_span_id: self.parent_span_id.clone(),
            name: "promptledger.execution".into(),
            span_type: Some("llm".into()),
            service_name: Some("promptledger".into()),
            status: status.into(),
            started_at_us: self.started_at_us,
            ended_at_us: Some(self.ended_at_us),
            execution_id: Some(execution_id.into()),
            model: Some(self.model.clone()),
            prompt_tokens: tokens(&outcome.prompt_tokens),
            completion_tokens: tokens(&outcome.response_tokens),
            input: None,
            output: None,
            attributes: self.attributes.clone(),
            events: Json::Array(Vec::new()),
        };
        Ok((spans::rows_param(&[&record])?, traces::deltas_param(&[self.trace_delta(status)])?))
    }

    /// What this span says about its trace. Without a parent it is the
    /// trace's root; with one, it names the trace only until the root arrives.
    fn trace_delta(&self, status: &str) -> TraceDelta {
        let root = self.parent_span_id.is_none();
        TraceDelta {
            trace_id: self.trace_id.clone(),
            service_name: Some("promptledger".into()),
            name: Some("promptledger.execution".into()),
            status: Some(status.into()),
            has_error: status == "error",
            started_at_us: Some(self.started_at_us),
            ended_at_us: Some(self.ended_at_us),
            root_started_at_us: root.then_some(self.started_at_us),
            root_span_id: root.then(|| self.span_id.clone()),
        }
    }
}

const UPDATE_FINISHED: &str = "UPDATE executions SET status = $3, response_text = $4, prompt_tokens = $5, \
    response_tokens = $6, cost_nanos = $7, error_type = $8, error_message = $9, provider_status = $10, \
    next_attempt_at = $11, provider_latency_ms = $12, total_latency_ms = $13, completed_at = $14, lease_owner = NULL, \
    lease_expires_at = NULL, updated_at = $15 \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// What an attempt's end writes into its execution's row.
struct Outcome {
    status: &'static str,
    response_text: Value,
    prompt_tokens: Value,
    response_tokens: Value,
    cost_nanos: Value,
    error_type: Value,
    error_message: Value,
    provider_status: Value,
    next_attempt_at: Value,
    provider_latency_ms: Option<i64>,
    total_latency_ms: i64,
    /// Unset while the run goes back to the queue.
    completed_at: Option<i64>,
}

impl Outcome {
    fn of(finish: &Finish, timing: &Timing, now_ms: i64) -> Outcome {
        let error = |error_type: &str, error_message: &str, provider_status: &Option<i64>| {
            (Value::from(error_type), Value::from(error_message), Value::from(*provider_status))
        };
        let (status, response_text, prompt_tokens, response_tokens, cost_nanos, error, next_attempt_at) = match finish {
            Finish::Succeeded { response_text, prompt_tokens, response_tokens, cost_nanos } => (
                "succeeded",
                Value::from(response_text.as_str()),
                Value::from(*prompt_tokens),
                Value::from(*response_tokens),
                Value::from(*cost_nanos),
                (Value::Null, Value::Null, Value::Null),
                Value::Null,
            ),
            Finish::Failed { error_type, error_message, provider_status } => (
                "failed",
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                error(error_type, error_message, provider_status),
                Value::Null,
            ),
            Finish::Retry { error_type, error_message, provider_status, next_attempt_at } => (
                "queued",
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                error(error_type, error_message, provider_status),
                Value::from(*next_attempt_at),
            ),
        };
        let (error_type, error_message, provider_status) = error;
        Outcome {
            status,
            response_text,
            prompt_tokens,
            response_tokens,
            cost_nanos,
            error_type,
            error_message,
            provider_status,
            next_attempt_at,
            provider_latency_ms: timing.provider_latency_ms,
            total_latency_ms: timing.total_latency_ms,
            completed_at: (status != "queued").then_some(now_ms),
        }
    }

    /// The run is over (not going back to the queue).
    fn is_terminal(&self) -> bool {
        self.status != "queued"
    }
}

/// Whether a statement ending in `SELECT ... COUNT(*) AS written FROM u`
/// wrote its execution row.
fn wrote_one(rows: &[Row]) -> Result<bool, DbError> {
    Ok(rows.first().map(|r| r.i64("written")).transpose()?.unwrap_or(0) == 1)
}

/// The CTEs that write the execution's span and fold it into its trace,
/// from the span rows in `$rows` (written only when a CTE `u` wrote the
/// execution), the trace deltas in `$deltas` and the time in `$now`.
fn span_ctes(rows: usize, deltas: usize, now: usize) -> String {
    format!(
        "s AS ({}{}), {}, t AS ({} RETURNING 1)",
        spans::upsert_sql(Dialect::Postgres, rows, now, "EXISTS (SELECT 1 FROM u)"),
        traces::SPANS_RETURNING,
        traces::ADDED_CTE,
        traces::merge_deltas_sql(Dialect::Postgres, deltas, now),
    )
}

/// The first instant of the month (UTC) holding `now_ms`: costs count in
/// the month they are recorded.
fn month_of(now_ms: i64) -> Value {
    crate::lineage::time::month_bounds_ms(now_ms).0.into()
}

async fn add_spend_sqlite<D: Db>(db: &D, id: &str, now_ms: i64, cost_nanos: Value) -> Result<(), DbError> {
    db.execute(&api_keys::add_spend_sqlite(), &[id.into(), month_of(now_ms), cost_nanos]).await.map(drop)
}

async fn write_span_sqlite<D: Db>(db: &D, rows: Value, deltas: Value, now_ms: i64) -> Result<(), DbError> {
    db.execute(&spans::upsert_sql(Dialect::Sqlite, 1, 2, "true"), &[rows, now_ms.into()]).await?;
    db.execute(&traces::merge_deltas_sql(Dialect::Sqlite, 1, 2), &[deltas, now_ms.into()]).await?;
    Ok(())
}

/// Records the end of an attempt, only if `owner` still holds the lease
/// (a run whose lease expired and was taken over cannot overwrite the new
/// owner's result), with the execution's span when the run is over.
/// Returns whether the record was written. One round trip on PostgreSQL.
pub async fn finish<D: Db>(
    db: &D,
    id: &str,
    owner: &str,
    now_ms: i64,
    finish: &Finish,
    timing: &Timing,
    span: &ExecutionSpan,
) -> Result<bool, DbError> {
    let outcome = Outcome::of(finish, timing, now_ms);
    let update: Vec<Value> = vec![
        id.into(),
        owner.into(),
        outcome.status.into(),
        outcome.response_text.clone(),
        outcome.prompt_tokens.clone(),
        outcome.response_tokens.clone(),
        outcome.cost_nanos.clone(),
        outcome.error_type.clone(),
        outcome.error_message.clone(),
        outcome.provider_status.clone(),
        outcome.next_attempt_at.clone(),
        outcome.provider_latency_ms.into(),
        outcome.total_latency_ms.into(),
        outcome.completed_at.into(),
        now_ms.into(),
    ];
    // A run going back to the queue has no span yet: an empty list writes none.
    let (rows, deltas) =
        if outcome.is_terminal() { span.params(id, &outcome)? } else { (Value::from("[]"), Value::from("[]")) };
    match db.dialect() {
        Dialect::Postgres => {
            // $7 is the cost and $18 the month it counts in.
            let sql = format!(
                "WITH u AS ({UPDATE_FINISHED} RETURNING id, api_key_id), {}, {} \
                 SELECT CAST(COUNT(*) AS BIGINT) AS written FROM u",
                span_ctes(16, 17, 15),
                api_keys::add_spend_cte(18, 7),
            );
            let params: Vec<Value> = update.into_iter().chain([rows, deltas, month_of(now_ms)]).collect();
            wrote_one(&db.query(&sql, &params).await?)
        }
        Dialect::Sqlite => {
            crate::store::transaction(db, async || {
                if db.execute(UPDATE_FINISHED, &update).await? == 0 {
                    return Ok(false);
                }
                if outcome.is_terminal() {
                    write_span_sqlite(db, rows.clone(), deltas.clone(), now_ms).await?;
                }
                add_spend_sqlite(db, id, now_ms, outcome.cost_nanos.clone()).await?;
                Ok(true)
            })
            .await
        }
    }
}

/// Cancels a queued execution. Returns the rows changed (0: not queued or unknown).
pub async fn cancel<D: Db>(db: &D, id: &str, now_ms: i64) -> Result<u64, DbError> {
    db.execute(
        "UPDATE executions SET status = 'canceled', completed_at = $2, updated_at = $2, next_attempt_at = NULL \
         WHERE id = $1 AND status = 'queued'",
        &[id.into(), now_ms.into()],
    )
    .await
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LeaseRecovery {
    pub requeued: u64,
    pub failed: u64,
}

/// Runs whose lease expired (a crashed worker, a lost message, a dead sync
/// caller): async ones go back to the queue while attempts remain; the rest
/// fail with the reason. A sync run is never retried: its caller is gone.
pub async fn recover_expired_leases<D: Db>(db: &D, now_ms: i64) -> Result<LeaseRecovery, DbError> {
    let failed = db
        .execute(
            "UPDATE executions SET status = 'failed', error_type = 'lease_expired', \
             error_message = CASE WHEN mode = 'sync' THEN 'the run was interrupted before it recorded a result' \
             ELSE 'the run was interrupted and the attempt limit is reached' END, \
             completed_at = $1, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
             WHERE status = 'running' AND lease_expires_at < $1 AND (mode = 'sync' OR attempts >= max_attempts)",
            &[now_ms.into()],
        )
        .await?;
    let requeued = db
        .execute(
            "UPDATE executions SET status = 'queued', error_type = 'lease_expired', \
             error_message = 'the previous attempt was interrupted', next_attempt_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $1 \
             WHERE status = 'running' AND lease_expires_at < $1 AND mode = 'async' AND attempts < max_attempts",
            &[now_ms.into()],
        )
        .await?;
    Ok(LeaseRecovery { requeued, failed })
}

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub prompt_name: Option<String>,
    pub version: Option<i64>,
    pub status: Option<String>,
    pub provider: Option<String>,
    pub model_name: Option<String>,
    pub correlation_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Continue after this (created_at, id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

pub async fn list<D: Db>(db: &D, f: &ListFilter) -> Result<Vec<ExecutionRecord>, DbError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut push = |clause: &str, value: Value| {
        params.push(value);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = &f.prompt_name {
        push("prompt_name = ?", v.into());
    }
    if let Some(v) = f.version {
        push("version = ?", v.into());
    }
    if let Some(v) = &f.status {
        push("status = ?", v.into());
    }
    if let Some(v) = &f.provider {
        push("provider = ?", v.into());
    }
    if let Some(v) = &f.model_name {
        push("model_name = ?", v.into());
    }
    if let Some(v) = &f.correlation_id {
        push("correlation_id = ?", v.into());
    }
    if let Some(v) = f.since_ms {
        push("created_at >= ?", v.into());
    }
    if let Some(v) = f.until_ms {
        push("created_at < ?", v.into());
    }
    if let Some((created_at, id)) = &f.after {
        params.push((*created_at).into());
        params.push(id.into());
        let (a, b) = (params.len() - 1, params.len());
        clauses.push(format!("(created_at < ${a} OR (created_at = ${a} AND id < ${b}))"));
    }
    params.push(f.limit.into());
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql =
        format!("SELECT {COLUMNS} FROM executions {filter} ORDER BY created_at DESC, id DESC LIMIT ${}", params.len());
    db.query(&sql, &params).await?.iter().map(ExecutionRecord::from_row).collect()
}

/// One span as JSON (the execution's own span on the execution view).
pub async fn get_span<D: Db>(db: &D, trace_id: &str, span_id: &str) -> Result<Option<Json>, DbError> {
    let rows = db
        .query(
            "SELECT trace_id, span_id, parent_span_id, name, span_type, status, started_at_us, ended_at_us, model, \
             prompt_tokens, completion_tokens, attributes FROM spans WHERE trace_id = $1 AND span_id = $2",
            &[trace_id.into(), span_id.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(serde_json::json!({
                "trace_id": r.str("trace_id")?,
                "span_id": r.str("span_id")?,
                "parent_span_id": r.opt_str("parent_span_id")?,
                "name": r.str("name")?,
                "span_type": r.opt_str("span_type")?,
                "status": r.opt_str("status")?,
                "started_at": r.opt_i64("started_at_us")?.map(format_us),
                "ended_at": r.opt_i64("ended_at_us")?.map(format_us),
                "model": r.opt_str("model")?,
                "prompt_tokens": r.opt_i64("prompt_tokens")?,
                "completion_tokens": r.opt_i64("completion_tokens")?,
                "attributes": r.json("attributes")?,
            }))
        })
        .transpose()
}
