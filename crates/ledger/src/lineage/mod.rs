//! Lineage: traces and spans from applications (Prela-style JSON or
//! OpenTelemetry OTLP/JSON), stored span by span and served as trees linked
//! to the executions and prompt versions they record.

pub mod ingest;
pub mod otlp;
pub mod otlp_proto;
pub mod prela;
pub mod span;
pub mod time;
pub mod tree;
