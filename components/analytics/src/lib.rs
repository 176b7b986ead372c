//! HTTP component: analytics (/v1/analytics).

ledger_spin::http_component!();
