//! One PostgreSQL session over a byte stream.

use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use ledger::ports::{DbError, Row, Value};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::backend::{ErrorResponseBody, Message, RowDescriptionBody};
use postgres_protocol::message::frontend;

use crate::config::{Config, SslMode};
use crate::pool::ConnectError;
use crate::text;

/// A connected byte stream (TCP on every platform this runs on).
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn write_all(&mut self, bytes: Vec<u8>) -> io::Result<()>;
    /// Appends what arrives to `buf`; `Ok(0)` means the peer closed.
    async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize>;
}

/// Statements prepared per connection, at most this many; others run unnamed.
const PREPARED_LIMIT: usize = 256;

pub struct Connection<T> {
    io: T,
    read_buf: BytesMut,
    prepared: HashMap<String, Rc<str>>,
    statements_named: u32,
    /// The server's transaction status from the last ReadyForQuery: `I`, `T` or `E`.
    status: u8,
    broken: bool,
}

/// What a statement returned.
pub struct Outcome {
    pub rows: Vec<Row>,
    pub affected: u64,
}

impl<T: Transport> Connection<T> {
    /// Starts a session: TLS negotiation (declined or skipped), startup and
    /// authentication (trust, password, MD5 or SCRAM-SHA-256).
    /// The pool has already turned `sslmode=require` away.
    pub async fn start(mut io: T, config: &Config) -> Result<Self, ConnectError> {
        let mut read_buf = BytesMut::with_capacity(8192);
        if config.ssl_mode == SslMode::Prefer {
            let mut out = BytesMut::new();
            frontend::ssl_request(&mut out);
            let lost = |e| ConnectError::Db(unavailable(e));
            io.write_all(out.to_vec()).await.map_err(lost)?;
            while read_buf.is_empty() {
                if io.read(&mut read_buf).await.map_err(lost)? == 0 {
                    return Err(ConnectError::Db(DbError::Unavailable("server closed during TLS negotiation".into())));
                }
            }
            if read_buf[0] == b'S' {
                return Err(ConnectError::Unsupported("the server offers TLS".into()));
            }
            let _ = read_buf.split_to(1);
        }
        let mut conn =
            Connection { io, read_buf, prepared: HashMap::new(), statements_named: 0, status: b'I', broken: false };
        conn.startup(config).await.map_err(ConnectError::Db)?;
        Ok(conn)
    }

    async fn startup(&mut self, config: &Config) -> Result<(), DbError> {
        let mut out = BytesMut::new();
        let params = [
            ("user", config.user.as_str()),
            ("database", config.database.as_str()),
            ("application_name", config.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        frontend::startup_message(params, &mut out).map_err(protocol)?;
        self.send(&mut out).await?;
        let password = || {
            config
                .password
                .as_deref()
                .map(str::as_bytes)
                .ok_or_else(|| DbError::Unavailable("the server asks for a password and the URL has none".into()))
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.next().await? {
                Message::AuthenticationOk | Message::ParameterStatus(_) | Message::BackendKeyData(_) => {}
                Message::NoticeResponse(_) => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?, &mut out).map_err(protocol)?;
                    self.send(&mut out).await?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(config.user.as_bytes(), password()?, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut out).map_err(protocol)?;
                    self.send(&mut out).await?;
                }
                Message::AuthenticationSasl(body) => {
                    let offered = body.mechanisms().collect::<Vec<_>>().map_err(protocol)?;
                    if !offered.contains(&SCRAM_SHA_256) {
                        return Err(DbError::Unavailable(format!("no supported SASL mechanism in {offered:?}")));
                    }
                    let auth = ScramSha256::new(password()?, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, auth.message(), &mut out).map_err(protocol)?;
                    self.send(&mut out).await?;
                    scram = Some(auth);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let auth = scram.as_mut().ok_or_else(|| protocol("SASL continue before start"))?;
                    auth.update(body.data()).map_err(|e| DbError::Unavailable(e.to_string()))?;
                    frontend::sasl_response(auth.message(), &mut out).map_err(protocol)?;
                    self.send(&mut out).await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let auth = scram.as_mut().ok_or_else(|| protocol("SASL final before start"))?;
                    auth.finish(body.data()).map_err(|e| DbError::Unavailable(e.to_string()))?;
                }
                Message::ErrorResponse(body) => {
                    // Authentication and startup failures mean no usable server.
                    return Err(match server_error(&body) {
                        DbError::Query(m) | DbError::Conflict(m) | DbError::Unique(m) => DbError::Unavailable(m),
                        other => other,
                    });
                }
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    return Ok(());
                }
                _ => return Err(protocol("unexpected message during startup")),
            }
        }
    }

    /// Idle, outside any transaction, with its stream in a known state.
    pub fn is_reusable(&self) -> bool {
        !self.broken && self.status == b'I'
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn in_transaction(&self) -> bool {
        self.status != b'I'
    }

    /// Runs one statement. With parameters it uses the extended protocol
    /// (prepared once per connection, text-format values whose types the
    /// server infers, as libpq's `PQexecParams` does); without, the simple
    /// protocol, which also accepts several `;`-separated statements.
    pub async fn run(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, DbError> {
        if self.broken {
            return Err(DbError::Unavailable("connection was lost".into()));
        }
        let mut out = BytesMut::with_capacity(sql.len() + 64);
        let mut parsing: Option<Rc<str>> = None;
        if params.is_empty() {
            frontend::query(sql, &mut out).map_err(protocol)?;
        } else {
            let statement = match self.prepared.get(sql) {
                Some(name) => name.clone(),
                None => {
                    let name: Rc<str> = if self.prepared.len() < PREPARED_LIMIT {
                        self.statements_named += 1;
                        format!("pl{}", self.statements_named).into()
                    } else {
                        "".into()
                    };
                    frontend::parse(&name, sql, [], &mut out).map_err(protocol)?;
                    parsing = Some(name.clone());
                    name
                }
            };
            frontend::bind("", &statement, [0], params, |value, buf| Ok(text::encode(value, buf)), [0], &mut out)
                .map_err(|e| {
                    protocol(match e {
                        frontend::BindError::Conversion(e) => e.to_string(),
                        frontend::BindError::Serialization(e) => e.to_string(),
                    })
                })?;
            frontend::describe(b'P', "", &mut out).map_err(protocol)?;
            frontend::execute("", 0, &mut out).map_err(protocol)?;
            frontend::sync(&mut out);
        }
        self.send(&mut out).await?;

        let mut columns: Option<Columns> = None;
        let mut rows = Vec::new();
        let mut affected = 0;
        let mut failure = None;
        loop {
            match self.next().await? {
                Message::ParseComplete => {
                    if let Some(name) = parsing.take().filter(|n| !n.is_empty()) {
                        self.prepared.insert(sql.to_owned(), name);
                    }
                }
                Message::RowDescription(body) => columns = Some(Columns::read(&body)?),
                Message::DataRow(body) => {
                    let columns = columns.as_ref().ok_or_else(|| protocol("row before its description"))?;
                    rows.push(columns.row(&body)?);
                }
                Message::CommandComplete(body) => affected = text::affected_rows(body.tag().map_err(protocol)?),
                Message::ErrorResponse(body) => {
                    let error = server_error(&body);
                    // A plan cached before a schema change must be prepared again.
                    if matches!(&error, DbError::Query(m) if m.starts_with("0A000")) {
                        self.prepared.remove(sql);
                    }
                    failure.get_or_insert(error);
                }
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    break;
                }
                Message::BindComplete
                | Message::NoData
                | Message::EmptyQueryResponse
                | Message::NoticeResponse(_)
                | Message::ParameterStatus(_)
                | Message::NotificationResponse(_) => {}
                _ => return Err(self.lose("unexpected message in a statement's reply")),
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(Outcome { rows, affected }),
        }
    }

    async fn send(&mut self, out: &mut BytesMut) -> Result<(), DbError> {
        let bytes = out.split().to_vec();
        if let Err(e) = self.io.write_all(bytes).await {
            self.broken = true;
            return Err(unavailable(e));
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Message, DbError> {
        loop {
            match Message::parse(&mut self.read_buf) {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => {}
                Err(e) => return Err(self.lose(&e.to_string())),
            }
            match self.io.read(&mut self.read_buf).await {
                Ok(0) => {
                    self.broken = true;
                    return Err(DbError::Unavailable("the database closed the connection".into()));
                }
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(unavailable(e));
                }
            }
        }
    }

    fn lose(&mut self, why: &str) -> DbError {
        self.broken = true;
        protocol(why)
    }
}

struct Columns {
    names: Rc<[String]>,
    types: Vec<u32>,
}

impl Columns {
    fn read(body: &RowDescriptionBody) -> Result<Self, DbError> {
        let mut names = Vec::new();
        let mut types = Vec::new();
        let mut fields = body.fields();
        while let Some(field) = fields.next().map_err(protocol)? {
            names.push(field.name().to_owned());
            types.push(field.type_oid());
        }
        Ok(Columns { names: names.into(), types })
    }

    fn row(&self, body: &postgres_protocol::message::backend::DataRowBody) -> Result<Row, DbError> {
        let buffer = body.buffer();
        let mut values = Vec::with_capacity(self.types.len());
        let mut ranges = body.ranges();
        let mut index = 0;
        while let Some(range) = ranges.next().map_err(protocol)? {
            let ty = *self.types.get(index).ok_or_else(|| protocol("more values than columns"))?;
            values.push(match range {
                None => Value::Null,
                Some(range) => text::decode(ty, &buffer[range])?,
            });
            index += 1;
        }
        Ok(Row::new(self.names.clone(), values))
    }
}

fn server_error(body: &ErrorResponseBody) -> DbError {
    let (mut code, mut message, mut constraint) = (String::new(), String::new(), None);
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'C' => code = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'n' => constraint = Some(String::from_utf8_lossy(field.value_bytes()).into_owned()),
            _ => {}
        }
    }
    DbError::from_sqlstate(&code, message, constraint)
}

fn unavailable(e: io::Error) -> DbError {
    DbError::Unavailable(e.to_string())
}

fn protocol(e: impl ToString) -> DbError {
    DbError::Unavailable(format!("PostgreSQL protocol error: {}", e.to_string()))
}
