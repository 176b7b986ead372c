//! Idle connections kept between requests, and the per-request [`Db`].

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use ledger::ports::{Db, DbError, Dialect, Row, Value};

use crate::config::{Config, SslMode};
use crate::connection::{Connection, Outcome, Transport};
use tokio::sync::Notify;

/// Opens byte streams to the server.
#[allow(async_fn_in_trait)]
pub trait Connect {
    type Transport: Transport;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Transport>;
}

#[derive(Debug)]
pub enum ConnectError {
    /// This client cannot serve the URL (TLS, a host name, a refused socket
    /// permission); another driver should.
    Unsupported(String),
    Db(DbError),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Unsupported(why) => f.write_str(why),
            ConnectError::Db(e) => e.fmt(f),
        }
    }
}

/// Connections to one server: at most `max_open` at once (a statement
/// waits for one beyond that), the idle ones kept for later requests.
pub struct Pool<C: Connect> {
    connector: C,
    config: Config,
    addr: SocketAddr,
    idle: RefCell<Vec<Pooled<C::Transport>>>,
    limit: Rc<Limit>,
}

struct Limit {
    open: Cell<usize>,
    max: usize,
    /// Signalled when a connection goes idle or closes.
    changed: Notify,
}

/// One open connection's place under the limit, freed when it closes.
struct Slot(Rc<Limit>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        self.0.changed.notify_one();
    }
}

struct Pooled<T> {
    conn: Connection<T>,
    _slot: Slot,
}

impl<C: Connect> Pool<C> {
    /// A pool for a `postgres://` URL; a URL this client cannot parse or
    /// serve is [`ConnectError::Unsupported`], for another driver to try.
    pub fn from_url(connector: C, url: &str, max_open: usize) -> Result<Self, ConnectError> {
        let config = Config::from_url(url).map_err(ConnectError::Unsupported)?;
        Self::new(connector, config, max_open)
    }

    pub fn new(connector: C, config: Config, max_open: usize) -> Result<Self, ConnectError> {
        if config.ssl_mode == SslMode::Require {
            return Err(ConnectError::Unsupported("the database URL requires TLS".into()));
        }
        let addr = config
            .socket_addr()
            .ok_or_else(|| ConnectError::Unsupported(format!("`{}` is not an IP address", config.host)))?;
        let limit = Rc::new(Limit { open: Cell::new(0), max: max_open.max(1), changed: Notify::new() });
        Ok(Pool { connector, config, addr, idle: RefCell::new(Vec::new()), limit })
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    async fn checkout(&self) -> Result<Pooled<C::Transport>, ConnectError> {
        let slot = loop {
            if let Some(pooled) = self.idle.borrow_mut().pop() {
                return Ok(pooled);
            }
            let limit = &self.limit;
            if limit.open.get() < limit.max {
                limit.open.set(limit.open.get() + 1);
                break Slot(limit.clone());
            }
            // A wake-up sent while nobody waited is kept for the next waiter.
            limit.changed.notified().await;
        };
        let io = self.connector.connect(self.addr).await.map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => ConnectError::Unsupported(format!("connecting to {}: {e}", self.addr)),
            _ => ConnectError::Db(DbError::Unavailable(format!("connecting to {}: {e}", self.addr))),
        })?;
        let conn = Connection::start(io, &self.config).await?;
        Ok(Pooled { conn, _slot: slot })
    }

    fn checkin(&self, pooled: Pooled<C::Transport>) {
        if pooled.conn.is_reusable() {
            self.idle.borrow_mut().push(pooled);
            self.limit.changed.notify_one();
        }
    }
}

/// The database for one request. A statement borrows a connection from the
/// pool and gives it back as soon as it is done (concurrent statements get
/// one each), except inside a transaction: the connection that ran `BEGIN`
/// stays with the request until the transaction ends, and is closed, so
/// rolled back, if the request is dropped first. Holding at most one
/// connection while waiting for none, a request cannot deadlock the pool.
pub struct WireDb<C: Connect> {
    pool: Rc<Pool<C>>,
    transaction: RefCell<Option<Pooled<C::Transport>>>,
    transaction_open: Cell<bool>,
    transaction_lost: Cell<bool>,
}

impl<C: Connect> WireDb<C> {
    /// Connects once now, so a server this client cannot serve shows before
    /// any statement runs.
    pub async fn open(pool: Rc<Pool<C>>) -> Result<Self, ConnectError> {
        let first = pool.checkout().await?;
        pool.checkin(first);
        Ok(Self::new(pool))
    }

    pub fn new(pool: Rc<Pool<C>>) -> Self {
        WireDb {
            pool,
            transaction: RefCell::new(None),
            transaction_open: Cell::new(false),
            transaction_lost: Cell::new(false),
        }
    }

    async fn run(&self, sql: &str, params: &[Value]) -> Result<Outcome, DbError> {
        if self.transaction_lost.get() {
            return Err(DbError::Unavailable("the connection holding this transaction was lost".into()));
        }
        let in_transaction = self.transaction_open.get();
        let mut pooled = if in_transaction {
            self.transaction.borrow_mut().take().ok_or_else(|| {
                DbError::Query("a statement ran beside an open transaction on the same request".into())
            })?
        } else {
            self.pool.checkout().await.map_err(|e| match e {
                ConnectError::Db(e) => e,
                ConnectError::Unsupported(m) => DbError::Unavailable(m),
            })?
        };
        let result = pooled.conn.run(sql, params).await;
        let (still_open, broken) = (pooled.conn.in_transaction(), pooled.conn.is_broken());
        if still_open && !broken {
            *self.transaction.borrow_mut() = Some(pooled);
        } else {
            self.pool.checkin(pooled);
        }
        self.transaction_open.set(still_open && !broken);
        if broken && (in_transaction || still_open) {
            self.transaction_lost.set(true);
        }
        result
    }
}

impl<C: Connect> Db for WireDb<C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        Ok(self.run(sql, params).await?.rows)
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        Ok(self.run(sql, params).await?.affected)
    }
}
