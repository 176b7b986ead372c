//! PromptLedger core: a prompt registry and LLM execution ledger.
//!
//! Everything here is host-independent. The host (Spin, or native code in
//! tests and the CLI) supplies the [`ports`]; [`api::handle`] turns one HTTP
//! request into one response.

pub mod analytics;
pub mod api;
pub mod auth;
pub mod beat;
pub mod cache;
pub mod config;
pub mod error;
pub mod executions;
pub mod gateway;
pub mod limits;
pub mod lineage;
pub mod migrations;
pub mod ports;
pub mod registry;
pub mod retention;
pub mod store;

pub use api::handle;
pub use config::Config;
pub use ports::Host;
