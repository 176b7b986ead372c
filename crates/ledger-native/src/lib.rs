//! Native implementations of the core's ports, used by the test suite, the
//! benchmarks and the `promptledger` CLI (migrations, admin).

pub mod db;
pub mod host;
pub mod http_client;
pub mod kv;

pub use db::{NativeDb, TokioConnect};
pub use host::NativeHost;
