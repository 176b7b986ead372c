//! Scenarios: each takes a running [`crate::TestApp`] and asserts behaviour
//! through the HTTP API only, so it runs the same in-process and under Spin.
//! They share a database under Spin, so each uses its own names.

pub mod analytics;
pub mod executions;
pub mod foundation;
pub mod gateway;
pub mod limits;
pub mod lineage;
pub mod prompts;

/// A name no other scenario run will use.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Whether a response field is an RFC 3339 instant, as every timestamp the
/// API returns is.
pub fn is_instant(value: &serde_json::Value) -> bool {
    value.as_str().and_then(ledger::lineage::time::parse_rfc3339_us).is_some()
}
