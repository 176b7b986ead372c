//! Analytics over finished executions: counts, success rate, errors,
//! tokens, cost and latency percentiles, overall, per provider and model,
//! per prompt and version, in time buckets. Served from hourly rollups
//! ([`rollup::fold`]) plus a live read of whatever they do not cover yet.

pub mod histogram;
pub mod query;
pub mod rollup;
pub mod stats;
