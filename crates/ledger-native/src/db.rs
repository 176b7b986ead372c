//! [`ledger::ports::Db`] on tokio-postgres and rusqlite.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use ledger::ports::{Db, DbError, Dialect, Row, Value, sqlite_placeholders};
use ledger_pgwire::{Connect, ConnectError, Pool, Transport, WireDb};
use postgres_types::{IsNull, ToSql, Type, to_sql_checked};
use tokio::sync::OnceCell;

pub enum NativeDb {
    Postgres { url: String, session: OnceCell<PgSession> },
    Sqlite { path: PathBuf, conn: OnceCell<Arc<Mutex<rusqlite::Connection>>> },
}

impl NativeDb {
    /// Connects lazily on first use, like the Spin host does.
    pub fn postgres(url: impl Into<String>) -> Self {
        NativeDb::Postgres { url: url.into(), session: OnceCell::new() }
    }

    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        NativeDb::Sqlite { path: path.as_ref().to_owned(), conn: OnceCell::new() }
    }

    /// The same database on a new connection.
    pub fn reconnect(&self) -> Self {
        match self {
            NativeDb::Postgres { url, .. } => NativeDb::postgres(url),
            NativeDb::Sqlite { path, .. } => NativeDb::sqlite(path),
        }
    }

    async fn pg(&self) -> Result<&PgSession, DbError> {
        let NativeDb::Postgres { url, session } = self else { unreachable!("called on a Postgres db") };
        session.get_or_try_init(|| PgSession::open(url)).await
    }

    async fn sqlite_conn(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, DbError> {
        let NativeDb::Sqlite { path, conn } = self else { unreachable!("called on a SQLite db") };
        conn.get_or_try_init(|| async {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_sqlite(&path))
                .await
                .map_err(|e| DbError::Unavailable(e.to_string()))?
        })
        .await
        .cloned()
    }

    async fn sqlite_call<T: Send + 'static>(
        &self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&rusqlite::Connection, &str, Vec<rusqlite::types::Value>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DbError> {
        let conn = self.sqlite_conn().await?;
        let sql = sqlite_placeholders(sql).into_owned();
        let params: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
        // Blocking calls run off the async thread so concurrent transactions
        // on other connections can make progress (and release their locks).
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn, &sql, params).map_err(sqlite_error)
        })
        .await
        .map_err(|e| DbError::Query(e.to_string()))?
    }
}

/// A PostgreSQL session: the wire client on plain TCP, tokio-postgres where
/// the server wants TLS.
pub enum PgSession {
    Wire(WireDb<TokioConnect>),
    Tls(tokio_postgres::Client),
}

impl PgSession {
    async fn open(url: &str) -> Result<PgSession, DbError> {
        let opened = match Pool::from_url(TokioConnect, url, 16) {
            Ok(pool) => WireDb::open(Rc::new(pool)).await,
            Err(unsupported) => Err(unsupported),
        };
        match opened {
            Ok(db) => Ok(PgSession::Wire(db)),
            Err(ConnectError::Unsupported(_)) => Ok(PgSession::Tls(connect(url).await?)),
            Err(ConnectError::Db(e)) => Err(e),
        }
    }
}

/// Plain TCP for the wire client.
pub struct TokioConnect;

pub struct TokioStream(tokio::net::TcpStream);

impl Connect for TokioConnect {
    type Transport = TokioStream;

    async fn connect(&self, addr: std::net::SocketAddr) -> std::io::Result<TokioStream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }
}

impl Transport for TokioStream {
    async fn write_all(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(&mut self.0, &bytes).await
    }

    async fn read(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        buf.reserve(8192);
        tokio::io::AsyncReadExt::read_buf(&mut self.0, buf).await
    }
}

/// Connects like libpq: `sslmode=disable` is plain TCP; `prefer` (the
/// default) and `require` encrypt without verifying the server certificate
/// (`prefer` falls back to plain TCP when the server offers no TLS). The
/// migration CLI must reach the same databases the platforms hand out, many
/// of which use certificates no public root signs.
async fn connect(url: &str) -> Result<tokio_postgres::Client, DbError> {
    let unavailable = |e: tokio_postgres::Error| DbError::Unavailable(e.to_string());
    let config: tokio_postgres::Config = url.parse().map_err(unavailable)?;
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(unavailable)?;
        tokio::spawn(watch(connection));
        return Ok(client);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Unavailable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth();
    let (client, connection) =
        config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await.map_err(unavailable)?;
    tokio::spawn(watch(connection));
    Ok(client)
}

/// libpq's `require`: the handshake signatures are checked, the certificate
/// chain is not.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn watch<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        eprintln!("postgres connection closed: {e}");
    }
}

fn open_sqlite(path: &Path) -> Result<Arc<Mutex<rusqlite::Connection>>, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DbError::Unavailable(e.to_string()))?;
    }
    let conn = rusqlite::Connection::open(path).map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite_error)?;
    // WAL is recorded in the file, so Spin's connections to it use WAL too.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite_error)?;
    Ok(Arc::new(Mutex::new(conn)))
}

impl Db for NativeDb {
    fn dialect(&self) -> Dialect {
        match self {
            NativeDb::Postgres { .. } => Dialect::Postgres,
            NativeDb::Sqlite { .. } => Dialect::Sqlite,
        }
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            NativeDb::Postgres { .. } => {
                let client = match self.pg().await? {
                    PgSession::Wire(db) => return db.query(sql, params).await,
                    PgSession::Tls(client) => client,
                };
                let params: Vec<PgParam> = params.iter().map(PgParam).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = client.query(sql, &refs).await.map_err(pg_error)?;
                let Some(first) = rows.first() else { return Ok(Vec::new()) };
                let columns: Rc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
                rows.iter().map(|r| from_pg_row(r, &columns)).collect()
            }
            NativeDb::Sqlite { .. } => {
                let (columns, rows) = self
                    .sqlite_call(sql, params, |conn, sql, params| {
                        let mut stmt = conn.prepare_cached(sql)?;
                        let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
                        let n = columns.len();
                        let rows = stmt
                            .query_map(rusqlite::params_from_iter(params), |row| {
                                (0..n).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect::<Result<Vec<_>, _>>()
                            })?
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((columns, rows))
                    })
                    .await?;
                let columns: Rc<[String]> = columns.into();
                Ok(rows
                    .into_iter()
                    .map(|values| Row::new(columns.clone(), values.into_iter().map(from_sqlite).collect()))
                    .collect())
            }
        }
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            NativeDb::Postgres { .. } => {
                let client = match self.pg().await? {
                    PgSession::Wire(db) => return db.execute(sql, params).await,
                    PgSession::Tls(client) => client,
                };
                if params.is_empty() && is_control(sql) {
                    return client.batch_execute(sql).await.map(|_| 0).map_err(pg_error);
                }
                let params: Vec<PgParam> = params.iter().map(PgParam).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                client.execute(sql, &refs).await.map_err(pg_error)
            }
            NativeDb::Sqlite { .. } => {
                self.sqlite_call(sql, params, |conn, sql, params| {
                    if is_control(sql) {
                        conn.execute_batch(sql).map(|_| 0)
                    } else {
                        conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params)).map(|n| n as u64)
                    }
                })
                .await
            }
        }
    }
}

/// Transaction control and DDL go through the simple protocol.
fn is_control(sql: &str) -> bool {
    let head = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    matches!(head.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK" | "CREATE" | "ALTER" | "DROP" | "PRAGMA")
}

struct PgParam<'a>(&'a Value);

impl std::fmt::Debug for PgParam<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Int(i), _) => i.to_string().to_sql(&Type::TEXT, out),
            (Value::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Value::Real(f), _) => f.to_sql(&Type::FLOAT8, out),
            (Value::Bool(b), _) => b.to_sql(&Type::BOOL, out),
            (Value::Text(s) | Value::Json(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Text(s) | Value::Json(s), _) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn from_pg_row(row: &tokio_postgres::Row, columns: &Rc<[String]>) -> Result<Row, DbError> {
    let decode = |e: tokio_postgres::Error| DbError::Decode(e.to_string());
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(decode)?.map(Value::Bool),
            Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(decode)?.map(|v| Value::Int(v.into())),
            Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(decode)?.map(|v| Value::Int(v.into())),
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(decode)?.map(Value::Int),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(decode)?.map(|v| Value::Real(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(decode)?.map(Value::Real),
            Type::JSON | Type::JSONB => {
                row.try_get::<_, Option<serde_json::Value>>(i).map_err(decode)?.map(|v| Value::Json(v.to_string()))
            }
            Type::VOID => None,
            _ => row.try_get::<_, Option<String>>(i).map_err(decode)?.map(Value::Text),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(columns.clone(), values))
}

fn pg_error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => {
            DbError::from_sqlstate(db.code().code(), db.message().to_owned(), db.constraint().map(str::to_owned))
        }
        None if e.is_closed() || e.to_string().contains("connection") => DbError::Unavailable(e.to_string()),
        None => DbError::Query(e.to_string()),
    }
}

fn to_sqlite(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Int(i) => S::Integer(*i),
        Value::Real(f) => S::Real(*f),
        Value::Bool(b) => S::Integer(i64::from(*b)),
        Value::Text(s) | Value::Json(s) => S::Text(s.clone()),
    }
}

fn from_sqlite(v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as S;
    match v {
        S::Null => Value::Null,
        S::Integer(i) => Value::Int(i),
        S::Real(f) => Value::Real(f),
        S::Text(s) => Value::Text(s),
        S::Blob(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn sqlite_error(e: rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::ConstraintViolation if matches!(f.extended_code, 1555 | 2067) => {
                DbError::Unique(msg.clone().unwrap_or_else(|| "unique".into()))
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbError::Conflict(e.to_string()),
            ErrorCode::CannotOpen | ErrorCode::NotADatabase => DbError::Unavailable(e.to_string()),
            _ => DbError::Query(e.to_string()),
        },
        _ => DbError::Query(e.to_string()),
    }
}
