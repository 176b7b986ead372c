//! [`ledger::ports::Db`] spoken directly in PostgreSQL's wire protocol.
//!
//! A statement goes out as one pipelined Parse/Bind/Describe/Execute/Sync
//! write and comes back in one read sequence: one round trip, and no parse
//! or plan once a connection has prepared it. Connections are kept in a
//! [`Pool`] that outlives a request where the runtime reuses instances.
//! TLS is not spoken here: a server that requires it is reported as
//! [`ConnectError::Unsupported`], so the caller can use another driver.

mod config;
mod connection;
mod pool;
mod text;

pub use config::{Config, SslMode};
pub use connection::Transport;
pub use pool::{Connect, ConnectError, Pool, WireDb};
