//! HTTP component: the public health check (GET /health).

ledger_spin::http_component!();
