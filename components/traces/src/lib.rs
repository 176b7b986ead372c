//! HTTP component: trace and span ingest and queries (/v1/traces, /v1/spans).

ledger_spin::http_component!();
