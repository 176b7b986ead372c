//! [`Db`] on PostgreSQL (the wire client over `wasi:sockets`, else Spin's
//! PostgreSQL host interface) and on Spin's SQLite host interface.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use ledger::ports::{Db, DbError, Dialect, Row, Value, sqlite_placeholders};
use ledger_pgwire::{ConnectError, Pool, WireDb};
use spin_sdk::{pg, sqlite};

use crate::pg_socket::SocketConnect;

/// PostgreSQL when a database URL is configured, else the app's SQLite
/// database `default`. The connection opens on first use.
pub enum SpinDb {
    Postgres { url: String, session: OnceCell<PgSession> },
    Sqlite { conn: OnceCell<sqlite::Connection> },
}

pub enum PgSession {
    /// Connections the instance keeps between requests; one round trip per statement.
    Wire(Box<WireDb<SocketConnect>>),
    /// Spin's host driver: TLS, host names, or sockets the manifest does not allow.
    Host(pg::Connection),
}

/// Connections per instance, open at once (Spin sends up to 16 requests
/// to one instance at once; a statement takes a millisecond or so, so they
/// share). PostgreSQL's `max_connections` must cover this times the
/// instances alive.
const OPEN_PER_INSTANCE: usize = 8;

enum WireState {
    Ready(Rc<Pool<SocketConnect>>),
    /// The wire client cannot serve this URL; the reason was logged once.
    Unusable,
}

thread_local! {
    // An instance serves one configuration, so one pool (or verdict) per instance.
    static WIRE: RefCell<Option<WireState>> = const { RefCell::new(None) };
}

impl SpinDb {
    pub fn new(database_url: &str) -> Self {
        if database_url.is_empty() {
            SpinDb::Sqlite { conn: OnceCell::new() }
        } else {
            SpinDb::Postgres { url: database_url.to_owned(), session: OnceCell::new() }
        }
    }

    async fn pg(&self) -> Result<&PgSession, DbError> {
        let SpinDb::Postgres { url, session } = self else { unreachable!("called on a Postgres db") };
        if session.get().is_none() {
            let opened = open_session(url).await?;
            let _ = session.set(opened);
        }
        session.get().ok_or_else(|| DbError::Unavailable("connection was not stored".into()))
    }

    async fn sqlite(&self) -> Result<&sqlite::Connection, DbError> {
        let SpinDb::Sqlite { conn } = self else { unreachable!("called on a SQLite db") };
        if conn.get().is_none() {
            let opened = sqlite::Connection::open_default().await.map_err(sqlite_error)?;
            // Writers queue for the lock instead of failing at once.
            opened.execute("PRAGMA busy_timeout = 10000", []).await.map_err(sqlite_error)?;
            let _ = conn.set(opened);
        }
        conn.get().ok_or_else(|| DbError::Unavailable("connection was not stored".into()))
    }

    async fn sqlite_rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let conn = self.sqlite().await?;
        let params: Vec<sqlite::Value> = params.iter().map(to_sqlite).collect();
        let result = conn.execute(sqlite_placeholders(sql), params).await.map_err(sqlite_error)?;
        let columns: Rc<[String]> = result.columns().iter().cloned().collect();
        let rows = result.collect().await.map_err(sqlite_error)?;
        Ok(rows
            .into_iter()
            .map(|r| Row::new(columns.clone(), r.values.into_iter().map(from_sqlite).collect()))
            .collect())
    }
}

impl Db for SpinDb {
    fn dialect(&self) -> Dialect {
        match self {
            SpinDb::Postgres { .. } => Dialect::Postgres,
            SpinDb::Sqlite { .. } => Dialect::Sqlite,
        }
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            SpinDb::Postgres { .. } => {
                let conn = match self.pg().await? {
                    PgSession::Wire(db) => return db.query(sql, params).await,
                    PgSession::Host(conn) => conn,
                };
                let params: Vec<pg::ParameterValue> = params.iter().map(to_pg).collect();
                let result = conn.query(sql, params).await.map_err(pg_error)?;
                // The raw stream is read into one growing buffer and its values
                // moved into rows, rather than copied out of a row per read.
                let (columns, rows, done) = result.into_inner();
                let columns: Rc<[String]> = columns.into_iter().map(|c| c.name).collect();
                let rows = rows.collect().await;
                done.await.map_err(|e| pg_error(e.into()))?;
                Ok(rows
                    .into_iter()
                    .map(|values| Row::new(columns.clone(), values.into_iter().map(from_pg).collect()))
                    .collect())
            }
            SpinDb::Sqlite { .. } => self.sqlite_rows(sql, params).await,
        }
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            SpinDb::Postgres { .. } => {
                let conn = match self.pg().await? {
                    PgSession::Wire(db) => return db.execute(sql, params).await,
                    PgSession::Host(conn) => conn,
                };
                let params: Vec<pg::ParameterValue> = params.iter().map(to_pg).collect();
                conn.execute(sql, params).await.map_err(pg_error)
            }
            SpinDb::Sqlite { .. } => {
                self.sqlite_rows(sql, params).await?;
                Ok(self.sqlite().await?.changes().await)
            }
        }
    }
}

async fn open_session(url: &str) -> Result<PgSession, DbError> {
    if let Some(pool) = wire_pool(url) {
        match WireDb::open(pool).await {
            Ok(db) => return Ok(PgSession::Wire(Box::new(db))),
            Err(ConnectError::Db(e)) => return Err(e),
            Err(ConnectError::Unsupported(why)) => give_up_wire(&why),
        }
    }
    let conn = pg::Connection::open(url).await.map_err(pg_error)?;
    Ok(PgSession::Host(conn))
}

fn wire_pool(url: &str) -> Option<Rc<Pool<SocketConnect>>> {
    let known = WIRE.with_borrow(|state| match state {
        Some(WireState::Ready(pool)) => Some(Some(pool.clone())),
        Some(WireState::Unusable) => Some(None),
        None => None,
    });
    if let Some(known) = known {
        return known;
    }
    match Pool::from_url(SocketConnect, url, OPEN_PER_INSTANCE) {
        Ok(pool) => {
            let pool = Rc::new(pool);
            WIRE.set(Some(WireState::Ready(pool.clone())));
            Some(pool)
        }
        Err(why) => {
            give_up_wire(&why.to_string());
            None
        }
    }
}

/// For triggers that run each event in a fresh instance (Redis, cron):
/// connections kept by the instance would never be reused, and Spin's host
/// driver keeps its pool across instances.
pub fn use_host_driver() {
    WIRE.set(Some(WireState::Unusable));
}

fn give_up_wire(why: &str) {
    eprintln!("PostgreSQL through Spin's host driver: {why}");
    WIRE.set(Some(WireState::Unusable));
}

fn to_pg(v: &Value) -> pg::ParameterValue {
    use pg::ParameterValue as P;
    match v {
        Value::Null => P::DbNull,
        Value::Int(i) => P::Int64(*i),
        Value::Real(f) => P::Floating64(*f),
        Value::Text(s) => P::Str(s.clone()),
        Value::Bool(b) => P::Boolean(*b),
        Value::Json(s) => P::Jsonb(s.as_bytes().to_vec()),
    }
}

fn from_pg(v: pg::DbValue) -> Value {
    use pg::DbValue as D;
    match v {
        D::DbNull => Value::Null,
        D::Boolean(b) => Value::Bool(b),
        D::Int8(i) => Value::Int(i.into()),
        D::Int16(i) => Value::Int(i.into()),
        D::Int32(i) => Value::Int(i.into()),
        D::Int64(i) => Value::Int(i),
        D::Timestamp(i) => Value::Int(i),
        D::Floating32(f) => Value::Real(f.into()),
        D::Floating64(f) => Value::Real(f),
        D::Str(s) | D::Uuid(s) | D::Decimal(s) => Value::Text(s),
        D::Jsonb(bytes) => Value::Json(text(bytes)),
        D::Binary(bytes) => Value::Text(text(bytes)),
        other => Value::Text(format!("{other:?}")),
    }
}

/// Bytes as text, kept in place when they are UTF-8 (as JSON from the host is).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn pg_error(e: pg::Error) -> DbError {
    use pg::{PgError, QueryError};
    match e {
        pg::Error::PgError(PgError::ConnectionFailed(m)) => DbError::Unavailable(m),
        pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
            let constraint = db.extras.into_iter().find(|(k, _)| k == "constraint").map(|(_, v)| v);
            DbError::from_sqlstate(&db.code, db.message, constraint)
        }
        pg::Error::PgError(PgError::QueryFailed(QueryError::Text(m))) if m.contains("connection") => {
            DbError::Unavailable(m)
        }
        other => DbError::Query(other.to_string()),
    }
}

fn to_sqlite(v: &Value) -> sqlite::Value {
    use sqlite::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Int(i) => S::Integer(*i),
        Value::Real(f) => S::Real(*f),
        Value::Bool(b) => S::Integer(i64::from(*b)),
        Value::Text(s) | Value::Json(s) => S::Text(s.clone()),
    }
}

fn from_sqlite(v: sqlite::Value) -> Value {
    use sqlite::Value as S;
    match v {
        S::Null => Value::Null,
        S::Integer(i) => Value::Int(i),
        S::Real(f) => Value::Real(f),
        S::Text(s) => Value::Text(s),
        S::Blob(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn sqlite_error(e: sqlite::Error) -> DbError {
    use sqlite::Error as E;
    match e {
        E::Io(m) if m.contains("UNIQUE constraint failed") => DbError::Unique(m),
        E::Io(m) if m.contains("locked") || m.contains("busy") => DbError::Conflict(m),
        E::Io(m) => DbError::Query(m),
        other => DbError::Unavailable(format!("{other:?}")),
    }
}
