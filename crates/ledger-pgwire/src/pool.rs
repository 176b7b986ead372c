//! Idle connections kept between requests, and the per-request [`Db`].

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use ledger::ports::{Db, DbError, Dialect, Row, Value};

use crate::config::{Config, SslMode};
use crate::connection::{Connection, Outcome, Transport};

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

/// Idle connections to one server, reused by later requests.
pub struct Pool<C: Connect> {
    connector: C,
    config: Config,
    addr: SocketAddr,
    idle: RefCell<Vec<Connection<C::Transport>>>,
    max_idle: usize,
}

impl<C: Connect> Pool<C> {
    pub fn new(connector: C, config: Config, max_idle: usize) -> Result<Self, ConnectError> {
        if config.ssl_mode == SslMode::Require {
            return Err(ConnectError::Unsupported("the database URL requires TLS".into()));
        }
        let addr = config
            .socket_addr()
            .ok_or_else(|| ConnectError::Unsupported(format!("`{}` is not an IP address", config.host)))?;
        Ok(Pool { connector, config, addr, idle: RefCell::new(Vec::new()), max_idle })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    async fn checkout(&self) -> Result<Connection<C::Transport>, ConnectError> {
        if let Some(conn) = self.idle.borrow_mut().pop() {
            return Ok(conn);
        }
        let io = self.connector.connect(self.addr).await.map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => ConnectError::Unsupported(format!("connecting to {}: {e}", self.addr)),
            _ => ConnectError::Db(DbError::Unavailable(format!("connecting to {}: {e}", self.addr))),
        })?;
        Connection::start(io, &self.config).await
    }

    fn checkin(&self, conn: Connection<C::Transport>) {
        let mut idle = self.idle.borrow_mut();
        if conn.is_reusable() && idle.len() < self.max_idle {
            idle.push(conn);
        }
    }
}

/// The database for one request: it takes connections from the pool as
/// statements need them (concurrent reads get one each), keeps a
/// transaction on the connection that began it, and returns clean
/// connections to the pool when dropped.
pub struct WireDb<C: Connect> {
    pool: Rc<Pool<C>>,
    free: RefCell<Vec<Connection<C::Transport>>>,
    transaction_open: Cell<bool>,
    transaction_lost: Cell<bool>,
}

impl<C: Connect> WireDb<C> {
    /// Takes a first connection now, so a server this client cannot serve
    /// shows before any statement runs.
    pub async fn open(pool: Rc<Pool<C>>) -> Result<Self, ConnectError> {
        let first = pool.checkout().await?;
        Ok(WireDb {
            pool,
            free: RefCell::new(vec![first]),
            transaction_open: Cell::new(false),
            transaction_lost: Cell::new(false),
        })
    }

    async fn run(&self, sql: &str, params: &[Value]) -> Result<Outcome, DbError> {
        if self.transaction_lost.get() {
            return Err(DbError::Unavailable("the connection holding this transaction was lost".into()));
        }
        let in_transaction = self.transaction_open.get();
        let mut conn = self.take(in_transaction).await?;
        let result = conn.run(sql, params).await;
        if conn.is_reusable() || conn.in_transaction() && !conn.is_broken() {
            self.transaction_open.set(conn.in_transaction());
            self.free.borrow_mut().push(conn);
        } else if in_transaction || conn.in_transaction() {
            self.transaction_lost.set(true);
        }
        result
    }

    async fn take(&self, in_transaction: bool) -> Result<Connection<C::Transport>, DbError> {
        if let Some(conn) = self.take_free(in_transaction)? {
            return Ok(conn);
        }
        self.pool.checkout().await.map_err(|e| match e {
            ConnectError::Db(e) => e,
            ConnectError::Unsupported(m) => DbError::Unavailable(m),
        })
    }

    fn take_free(&self, in_transaction: bool) -> Result<Option<Connection<C::Transport>>, DbError> {
        let mut free = self.free.borrow_mut();
        if in_transaction {
            let held = free.iter().position(Connection::in_transaction).ok_or_else(|| {
                DbError::Query("a statement ran beside an open transaction on the same request".into())
            })?;
            return Ok(Some(free.swap_remove(held)));
        }
        Ok(free.pop())
    }
}

impl<C: Connect> Drop for WireDb<C> {
    fn drop(&mut self) {
        // A connection still inside a transaction is dropped, and the server
        // rolls the transaction back when the socket closes.
        for conn in self.free.get_mut().drain(..) {
            self.pool.checkin(conn);
        }
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
