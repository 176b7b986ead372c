//! The seams between the core and its host. Each port has a Spin adapter
//! (`ledger-spin`) and a native one (`ledger-native`); the core only sees
//! these traits. Wasm is single-threaded, so no `Send` bounds.
#![allow(async_fn_in_trait)]

use std::cell::Cell;
use std::rc::Rc;

/// SQL dialect of the connected database. Queries are written with `$1`
/// placeholders for both; the SQLite adapters map them to `?1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }
}

/// A parameter or column value, narrowed to what the schema uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    /// JSON stored as `jsonb` on Postgres and `TEXT` on SQLite.
    Json(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<uuid::Uuid> for Value {
    fn from(v: uuid::Uuid) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        Value::Json(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row; decoding errors are reported, never unwrapped.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
    /// Where the next lookup starts: decoders read columns in SELECT order,
    /// so a lookup by name usually succeeds at its first comparison.
    next: Cell<usize>,
}

impl Row {
    pub fn new(columns: Rc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values, next: Cell::new(0) }
    }

    fn position(&self, column: &str) -> Result<usize, DbError> {
        let guess = self.next.get();
        let position = if self.columns.get(guess).is_some_and(|c| c == column) {
            Some(guess)
        } else {
            self.columns.iter().position(|c| c == column)
        };
        let i = position
            .filter(|i| *i < self.values.len())
            .ok_or_else(|| DbError::Decode(format!("no column `{column}`")))?;
        self.next.set(i + 1);
        Ok(i)
    }

    fn value(&self, column: &str) -> Result<&Value, DbError> {
        Ok(&self.values[self.position(column)?])
    }

    fn mismatch(column: &str, want: &str, got: &Value) -> DbError {
        DbError::Decode(format!("column `{column}`: expected {want}, got {got:?}"))
    }

    pub fn opt_str(&self, column: &str) -> Result<Option<String>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(s) | Value::Json(s) => Ok(Some(s.clone())),
            other => Err(Self::mismatch(column, "text", other)),
        }
    }

    pub fn str(&self, column: &str) -> Result<String, DbError> {
        self.opt_str(column)?.ok_or_else(|| Self::null(column))
    }

    /// [`Self::opt_str`] for a row the caller owns: the text is moved out,
    /// not copied, and the column reads as NULL afterwards.
    pub fn take_opt_str(&mut self, column: &str) -> Result<Option<String>, DbError> {
        let i = self.position(column)?;
        match std::mem::replace(&mut self.values[i], Value::Null) {
            Value::Null => Ok(None),
            Value::Text(s) | Value::Json(s) => Ok(Some(s)),
            other => Err(Self::mismatch(column, "text", &other)),
        }
    }

    /// [`Self::str`], moving the text out as [`Self::take_opt_str`] does.
    pub fn take_str(&mut self, column: &str) -> Result<String, DbError> {
        self.take_opt_str(column)?.ok_or_else(|| Self::null(column))
    }

    fn null(column: &str) -> DbError {
        DbError::Decode(format!("column `{column}` is null"))
    }

    pub fn opt_i64(&self, column: &str) -> Result<Option<i64>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(*i)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            // Postgres returns NUMERIC aggregates (SUM of BIGINT) as text.
            Value::Text(s) => s
                .split('.')
                .next()
                .unwrap_or_default()
                .parse()
                .map(Some)
                .map_err(|_| Self::mismatch(column, "integer", &Value::Text(s.clone()))),
            Value::Real(f) => Ok(Some(*f as i64)),
            other => Err(Self::mismatch(column, "integer", other)),
        }
    }

    pub fn i64(&self, column: &str) -> Result<i64, DbError> {
        self.opt_i64(column)?.ok_or_else(|| Self::null(column))
    }

    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Real(f) => Ok(Some(*f)),
            Value::Int(i) => Ok(Some(*i as f64)),
            Value::Text(s) => {
                s.parse().map(Some).map_err(|_| Self::mismatch(column, "number", &Value::Text(s.clone())))
            }
            other => Err(Self::mismatch(column, "number", other)),
        }
    }

    pub fn f64(&self, column: &str) -> Result<f64, DbError> {
        self.opt_f64(column)?.ok_or_else(|| Self::null(column))
    }

    pub fn bool(&self, column: &str) -> Result<bool, DbError> {
        match self.value(column)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(i) => Ok(*i != 0),
            other => Err(Self::mismatch(column, "boolean", other)),
        }
    }

    /// A JSON column (jsonb or TEXT) parsed into a value; NULL becomes `null`.
    pub fn json(&self, column: &str) -> Result<serde_json::Value, DbError> {
        match self.opt_str(column)? {
            None => Ok(serde_json::Value::Null),
            Some(s) => {
                serde_json::from_str(&s).map_err(|e| DbError::Decode(format!("column `{column}`: invalid JSON: {e}")))
            }
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (maps to 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint was violated; carries the constraint or index name when known.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// Concurrent writers collided (serialization failure, deadlock, SQLite busy); safe to retry.
    #[error("write conflict: {0}")]
    Conflict(String),
    #[error("could not decode row: {0}")]
    Decode(String),
    #[error("query failed: {0}")]
    Query(String),
}

impl DbError {
    /// A PostgreSQL error by its SQLSTATE, the same whichever driver reported it.
    pub fn from_sqlstate(code: &str, message: String, constraint: Option<String>) -> Self {
        match code {
            "23505" => DbError::Unique(constraint.unwrap_or(message)),
            "40001" | "40P01" => DbError::Conflict(message),
            // Admin shutdown, cannot connect now, too many connections.
            "57P01" | "57P03" | "53300" => DbError::Unavailable(message),
            code => DbError::Query(format!("{code}: {message}")),
        }
    }
}

/// A connection to the ledger database.
///
/// # Errors
/// Every call maps driver errors into [`DbError`]; a lost connection is
/// [`DbError::Unavailable`].
pub trait Db {
    fn dialect(&self) -> Dialect;
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
}

/// A small key-value store (Redis-backed in production), used as a cache:
/// every caller must behave correctly when it is empty or unavailable.
pub trait Kv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    async fn delete(&self, key: &str) -> Result<(), String>;
}

/// Publishes execution ids to the worker. Absent when no Redis is configured.
pub trait Queue {
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), String>;
    /// Round trip to the broker, for health checks.
    async fn ping(&self) -> Result<(), String>;
}

/// Outbound HTTP (LLM providers).
pub trait Http {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError>;

    /// [`Self::send`] with the body read as it arrives (a provider's event
    /// stream): the response returns with its head, the chunks follow.
    /// Hosts without streaming reads keep this default, which reads the
    /// whole body first and yields it as one chunk.
    async fn send_streaming(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<ChunkStream>, HttpError> {
        let response = self.send(request).await?;
        Ok(response.map(|body| Box::pin(futures::stream::once(async move { Ok(body) })) as ChunkStream))
    }

    /// [`Self::send`] that reads at most `max_bytes` of body, so a runaway
    /// provider answer costs bounded memory: [`HttpError::TooLarge`] beyond.
    async fn send_bounded(
        &self,
        request: http::Request<Vec<u8>>,
        max_bytes: usize,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        use futures::StreamExt;
        let (parts, mut chunks) = self.send_streaming(request).await?.into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            body.extend_from_slice(&chunk?);
            if body.len() > max_bytes {
                return Err(HttpError::TooLarge(max_bytes));
            }
        }
        Ok(http::Response::from_parts(parts, body))
    }
}

/// The largest provider answer read whole (a completion is a few KiB; a
/// long one with tool calls well under a MiB).
pub const MAX_PROVIDER_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A response body read chunk by chunk; an error ends it.
pub type ChunkStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Vec<u8>, HttpError>>>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Other(String),
}

/// Wall-clock time in milliseconds since the Unix epoch (UTC).
pub trait Clock {
    fn now_ms(&self) -> i64;
}

pub trait Ids {
    fn new_id(&self) -> uuid::Uuid;
}

/// The system clock; works natively and on wasm32-wasip2.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// Time-ordered UUIDv7 ids: index-friendly and usable as pagination cursors.
#[derive(Debug, Default, Clone, Copy)]
pub struct V7Ids;

impl Ids for V7Ids {
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// Everything a handler may touch, bundled so handlers take one parameter.
pub trait Host {
    type Db: Db;
    type Kv: Kv;
    type Queue: Queue;
    type Http: Http;

    fn db(&self) -> &Self::Db;
    fn kv(&self) -> &Self::Kv;
    /// `None` when no Redis is configured.
    fn queue(&self) -> Option<&Self::Queue>;
    fn http(&self) -> &Self::Http;
    fn clock(&self) -> &dyn Clock;
    fn ids(&self) -> &dyn Ids;
    fn config(&self) -> &crate::config::Config;
    /// Waits `duration` without blocking other work of this process.
    async fn sleep(&self, duration: std::time::Duration);
    /// Whether every process serving the app sees this key-value store, so
    /// caches in it can be kept correct.
    fn kv_is_shared(&self) -> bool {
        self.config().kv_is_shared()
    }
    /// A host like this one on its own database connection, for concurrent
    /// work: statements of one transaction must never share a connection
    /// with another task's.
    fn fork(&self) -> Self
    where
        Self: Sized;
}

/// Rewrites `$1`-style placeholders to SQLite's positional `?1` form, so one
/// SQL text serves both dialects. SQL here never has `$` inside literals.
pub fn sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') { std::borrow::Cow::Owned(sql.replace('$', "?")) } else { std::borrow::Cow::Borrowed(sql) }
}

/// A per-request timeout for [`Http::send`], carried as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct Timeout(pub std::time::Duration);

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let columns: Rc<[String]> = ["id", "n", "doc"].into_iter().map(str::to_owned).collect();
        Row::new(columns, vec![Value::Text("a".into()), Value::Int(7), Value::Json(r#"{"k": [1]}"#.into())])
    }

    #[test]
    fn columns_are_found_in_any_order() {
        let r = row();
        assert_eq!(r.i64("n").unwrap(), 7);
        assert_eq!(r.str("id").unwrap(), "a");
        assert_eq!(r.i64("n").unwrap(), 7);
        assert_eq!(r.json("doc").unwrap(), serde_json::json!({"k": [1]}));
        assert!(matches!(r.str("missing"), Err(DbError::Decode(m)) if m == "no column `missing`"));
    }

    #[test]
    fn taken_columns_move_out_and_read_as_null() {
        let mut r = row();
        assert_eq!(r.take_str("id").unwrap(), "a");
        assert_eq!(r.opt_str("id").unwrap(), None);
        assert_eq!(r.take_opt_str("doc").unwrap().as_deref(), Some(r#"{"k": [1]}"#));
        assert!(r.take_str("doc").is_err());
        assert!(r.take_str("n").is_err());
    }
}
